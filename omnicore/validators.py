"""attrs validators that raise ``InvalidInput`` naming the attribute."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import attrs

from omnicore.errors import InvalidInput

__all__ = [
    "code",
    "gtin",
    "handle",
    "max_length",
    "non_empty",
    "non_negative",
    "positive",
    "sku",
    "strict_int",
    "token",
]

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HANDLE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_SKU = re.compile(r"^[^\s]{1,64}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _fail(attribute: attrs.Attribute[Any], message: str) -> None:
    raise InvalidInput(message, field=attribute.name)


def non_empty(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        _fail(attribute, "must not be empty")


def max_length(limit: int) -> Validator:
    """Refuse strings longer than ``limit`` (the column's size: PostgreSQL would refuse
    them with a raw error, SQLite would store them)."""

    def _max_length(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, str) and len(value) > limit:
            _fail(attribute, f"must be at most {limit} characters")

    return _max_length


def token(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An optional opaque token: None, or 1-64 URL-safe characters."""
    if value is not None and (not isinstance(value, str) or not _TOKEN.match(value)):
        _fail(attribute, "must be 1-64 letters, digits, _ or -")


def code(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _CODE.match(value):
        _fail(attribute, f"{value!r} is not a valid code (letters, digits, . _ -, at most 64)")


def handle(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _HANDLE.match(value):
        _fail(attribute, f"{value!r} is not a valid handle (lower-case words joined by -)")


def sku(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _SKU.match(value):
        _fail(attribute, f"{value!r} is not a valid SKU (1-64 characters, no spaces)")


def strict_int(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(attribute, f"{value!r} is not an integer")


def positive(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    strict_int(inst, attribute, value)
    if value <= 0:  # type: ignore[operator]
        _fail(attribute, "must be greater than 0")


def non_negative(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    strict_int(inst, attribute, value)
    if value < 0:  # type: ignore[operator]
        _fail(attribute, "must not be negative")


def gtin_is_valid(value: str) -> bool:
    """GS1 check digit of a GTIN-8/12/13/14."""
    if not value.isdigit() or len(value) not in (8, 12, 13, 14):
        return False
    digits = [int(c) for c in value]
    body, check = digits[:-1], digits[-1]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def gtin(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not gtin_is_valid(value):
        _fail(attribute, f"{value!r} is not a valid GTIN (8, 12, 13 or 14 digits, check digit)")
