"""The one cattrs converter of omnicore (private: use ``structure`` / ``unstructure``).

Built on ``cattrs.preconf.json``: Decimal travels as a string, Money as
``{"amount": "12.50", "currency": "EUR"}``, datetimes as ISO 8601. Structuring
errors come back as one ``InvalidInput`` whose ``problems`` name every bad field
by its dotted path (``variants[0].sku``).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from cattrs import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.cols import is_mutable_sequence, list_structure_factory
from cattrs.preconf.json import make_converter

from omnicore.errors import InvalidInput, OmnicoreError, Problem
from omnicore.money import Money

__all__ = ["dumps", "loads", "structure", "unstructure"]

T = TypeVar("T")

_converter = make_converter(detailed_validation=True, forbid_extra_keys=True)


def _structure_decimal(value: object, _: type) -> Decimal:
    if isinstance(value, (float, bool)):
        raise InvalidInput("expected a decimal string or an integer, not a float")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(f"{value!r} is not a number") from None


def _structure_money(value: object, _: type) -> Money:
    if isinstance(value, Money):
        return value
    if not isinstance(value, dict) or set(value) != {"amount", "currency"}:
        raise InvalidInput('expected {"amount": "…", "currency": "…"}')
    return Money(value["amount"], value["currency"])


def _structure_datetime(value: object, _: type) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise InvalidInput("expected an ISO 8601 date-time")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not an ISO 8601 date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _structure_date(value: object, _: type) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None


def _structure_time(value: object, _: type) -> dt.time:
    if isinstance(value, dt.time):
        return value
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{value!r} is not a time (HH:MM)") from None


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _structure_bool(value: object, _: type) -> bool:
    # cattrs would take bool("false") == True; environment variables are strings.
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InvalidInput(f"{value!r} is not a boolean (true or false)")


def _list_factory(cls: Any) -> Any:
    default = list_structure_factory(cls, _converter)

    def _structure_list(value: object, type_: Any) -> Any:
        # a string is iterable, but "ship" is not the list ["s", "h", "i", "p"]
        if isinstance(value, str | bytes | dict):
            raise InvalidInput(f"expected a list, not {type(value).__name__}")
        return default(value, type_)

    return _structure_list


_converter.register_structure_hook(bool, _structure_bool)
_converter.register_structure_hook_factory(is_mutable_sequence, _list_factory)


def _structure_int(value: object, _: type) -> int:
    # cattrs would take int(1.7) == 1 and int(True) == 1; a quantity must be a whole number.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)  # from CSV files and environment variables
    raise InvalidInput(f"{value!r} is not an integer")


def _structure_float(value: object, _: type) -> float:
    # cattrs would take float(True) == 1.0: a number of seconds is not a boolean.
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())  # from CSV files and environment variables
        except ValueError:
            pass
    raise InvalidInput(f"{value!r} is not a number")


_converter.register_structure_hook(int, _structure_int)
_converter.register_structure_hook(float, _structure_float)
_converter.register_structure_hook(Decimal, _structure_decimal)
_converter.register_unstructure_hook(Decimal, str)
_converter.register_structure_hook(Money, _structure_money)
_converter.register_unstructure_hook(Money, Money.to_json)
_converter.register_structure_hook(dt.datetime, _structure_datetime)
_converter.register_unstructure_hook(dt.datetime, dt.datetime.isoformat)
_converter.register_structure_hook(dt.date, _structure_date)
_converter.register_unstructure_hook(dt.date, dt.date.isoformat)
_converter.register_structure_hook(dt.time, _structure_time)
_converter.register_unstructure_hook(dt.time, lambda t: t.strftime("%H:%M"))


def _join(path: str, part: str) -> str:
    if not path:
        return part.lstrip(".")
    return f"{path}{part}"


def _problems(exc: BaseException, path: str) -> list[Problem]:
    if isinstance(exc, ClassValidationError | IterableValidationError):
        found: list[Problem] = []
        with_notes, without = exc.group_exceptions()
        for inner, note in with_notes:
            if isinstance(exc, IterableValidationError):
                index = note.index  # type: ignore[attr-defined]
                # list items are [0], mapping keys are dotted (hours.weekly.mon)
                part = f".{index}" if isinstance(index, str) else f"[{index!r}]"
            else:
                part = f".{getattr(note, 'name', '?')}"
            found.extend(_problems(inner, _join(path, part)))
        for inner in without:
            found.extend(_problems(inner, path))
        return found
    if isinstance(exc, KeyError):
        return [Problem(path or None, "is required")]
    if isinstance(exc, ForbiddenExtraKeysError):
        return [
            Problem(_join(path, f".{name}"), "is not a known field")
            for name in sorted(exc.extra_fields)
        ]
    if isinstance(exc, OmnicoreError):
        field = exc.field
        inner_problems = (
            exc.problems if isinstance(exc, InvalidInput) else [Problem(field, str(exc))]
        )
        return [
            Problem(
                _join(path, "." + p.field) if p.field and path else (p.field or path or None),
                p.message,
            )
            for p in inner_problems
        ]
    if isinstance(exc, TypeError | ValueError):
        message = str(exc)
        if "extra fields" in message:
            return [Problem(path or None, message)]
        return [Problem(path or None, message or "has the wrong type")]
    if isinstance(exc, AttributeError):  # e.g. a scalar where a mapping is expected
        return [Problem(path or None, "has the wrong type")]
    if isinstance(exc, BaseExceptionGroup):
        return [p for inner in exc.exceptions for p in _problems(inner, path)]
    raise exc


def structure(data: Any, cls: type[T], *, field: str = "") -> T:
    """Build ``cls`` from plain data; raise ``InvalidInput`` naming every bad field."""
    try:
        return _converter.structure(data, cls)
    except InvalidInput as exc:
        if field:
            raise InvalidInput(
                exc.message, field=_join(field, "." + exc.field) if exc.field else field
            ) from None
        raise
    except (
        ClassValidationError,
        IterableValidationError,
        ForbiddenExtraKeysError,
        TypeError,
        ValueError,
        KeyError,
        AttributeError,
    ) as exc:
        problems = _problems(exc, field)
        first = problems[0] if problems else Problem(field or None, "invalid input")
        if len(problems) <= 1:
            message = first.message  # str(error) adds the field in front
        else:
            message = "; ".join(
                f"{p.field}: {p.message}" if p.field else p.message for p in problems
            )
        raise InvalidInput(message, field=first.field, problems=problems) from None


def unstructure(obj: Any) -> Any:
    """Turn a model into JSON-ready plain data."""
    return _converter.unstructure(obj)


def dumps(obj: Any) -> str:
    """JSON text of a model or of plain data (compact, keys in order)."""
    return json.dumps(unstructure(obj), separators=(",", ":"), ensure_ascii=False)


def loads(text: str | bytes, cls: type[T]) -> T:
    """Parse JSON text into ``cls``; bad JSON is ``InvalidInput`` too."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"malformed JSON: {exc}") from None
    return structure(data, cls)
