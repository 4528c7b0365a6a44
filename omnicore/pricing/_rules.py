"""The promotion model: what a promotion gives, to what, where, when and how often.

A ``Promotion`` is pure data, validated at construction (every error names the
field). The pricing engine (``omnicore.pricing.price_lines``) reads it; the
service (``commerce.promotions``) stores it.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from decimal import Decimal
from typing import Any

import attrs

from omnicore import validators
from omnicore.errors import InvalidInput
from omnicore.money import Money, validate_currency

__all__ = [
    "DEFAULT_PRIORITY",
    "Promotion",
    "PromotionKind",
    "Target",
    "normalise_code",
    "normalise_codes",
]

#: Priority given when none is: lower numbers apply first (as for locations).
DEFAULT_PRIORITY = 100

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,63}$")


class PromotionKind(enum.StrEnum):
    PERCENT_OFF = "percent_off"
    FIXED_OFF = "fixed_off"
    BUY_X_GET_Y = "buy_x_get_y"
    SPEND_THRESHOLD = "spend_threshold"
    FREE_SHIPPING = "free_shipping"


class Target(enum.StrEnum):
    """What a promotion discounts: each eligible line, the order, or shipping."""

    LINE = "line"
    ORDER = "order"
    SHIPPING = "shipping"


def normalise_code(code: object, field: str = "code") -> str:
    """A discount code as stored: stripped and upper-cased; raise if malformed."""
    if not isinstance(code, str):
        raise InvalidInput("a discount code is a string", field=field)
    normal = code.strip().upper()
    if not _CODE.match(normal):
        raise InvalidInput(
            f"{code!r} is not a valid code (letters, digits, _ and -, at most 64)", field=field
        )
    return normal


def normalise_codes(value: object) -> list[str]:
    """Codes normalised (``normalise_code``); raise naming ``codes[i]`` if malformed or repeated."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise InvalidInput("expected a list of codes", field="codes")
    normal = [normalise_code(code, f"codes[{i}]") for i, code in enumerate(value)]
    seen: set[str] = set()
    for index, code in enumerate(normal):
        if code in seen:
            raise InvalidInput(f"code {code} is listed twice", field=f"codes[{index}]")
        seen.add(code)
    return normal


def _kind(value: object) -> PromotionKind:
    try:
        return PromotionKind(str(value))
    except ValueError:
        known = ", ".join(k.value for k in PromotionKind)
        raise InvalidInput(f"{value!r} is not a promotion kind ({known})", field="kind") from None


def _target(value: object) -> Target | None:
    if value is None:
        return None
    try:
        return Target(str(value))
    except ValueError:
        raise InvalidInput(f"{value!r} is not line, order or shipping", field="target") from None


def _decimal(value: object, field: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool | float) or not isinstance(value, int | str):
        raise InvalidInput("expected a decimal string or an integer", field=field)
    try:
        return Decimal(value)
    except ArithmeticError:
        raise InvalidInput(f"{value!r} is not a number", field=field) from None


def _optional_decimal(value: object) -> Decimal | None:
    return None if value is None else _decimal(value, "percent")


def _per_currency_decimals(value: object, name: str) -> Any:
    if not isinstance(value, dict):
        return value  # the validator says what is wrong
    return {currency: _decimal(amount, f"{name}.{currency}") for currency, amount in value.items()}


def _amounts(value: object) -> Any:
    return _per_currency_decimals(value, "amounts")


def _thresholds(value: object) -> Any:
    return _per_currency_decimals(value, "thresholds")


def _optional_positive(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        validators.positive(inst, attribute, value)


def _percent(_: object, attribute: attrs.Attribute[Any], value: Decimal | None) -> None:
    if value is None:
        return
    if not isinstance(value, Decimal) or not value.is_finite() or not 0 < value <= 100:
        raise InvalidInput("must be a number above 0 and at most 100", field=attribute.name)


def _per_currency(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or not value:
        raise InvalidInput('expected amounts per currency, e.g. {"EUR": "5.00"}',
                           field=attribute.name)
    for currency, amount in value.items():
        field = f"{attribute.name}.{currency}"
        validate_currency(currency, field)
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
            raise InvalidInput("must be an amount of at least 0", field=field)
        if Money(amount, currency).amount != amount:
            raise InvalidInput(f"has more decimals than {currency} allows", field=field)
        if attribute.name == "amounts" and amount == 0:
            raise InvalidInput("must be greater than 0", field=field)


def _names(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, list) or not value:
        raise InvalidInput("give a non-empty list, or leave it out", field=attribute.name)
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise InvalidInput("must not be empty", field=f"{attribute.name}[{index}]")


def _aware(_: object, attribute: attrs.Attribute[Any], value: dt.datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput("must include a time zone", field=attribute.name)


def _not_listed(promotion: Promotion, kind: PromotionKind, *names: str) -> None:
    for name in names:
        if getattr(promotion, name) is not None:
            raise InvalidInput(f"does not apply to a {kind.value} promotion", field=name)


def _required(promotion: Promotion, kind: PromotionKind, *names: str) -> None:
    for name in names:
        if getattr(promotion, name) is None:
            raise InvalidInput(f"is required for a {kind.value} promotion", field=name)


@attrs.frozen
class Promotion:
    """One promotion. Parameters by kind:

    - ``percent_off``: ``percent``; ``target`` ``line`` (each eligible line) or ``order``;
    - ``fixed_off``: ``amounts`` per currency (``{"EUR": "5.00"}``): per unit on
      ``line`` target, once on ``order`` target;
    - ``buy_x_get_y``: ``buy`` X eligible units, ``get`` Y of them (the cheapest)
      free, or ``percent`` off;
    - ``spend_threshold``: when the eligible lines total at least ``thresholds[currency]``,
      ``percent`` or ``amounts`` off the order;
    - ``free_shipping``: shipping is free, above ``thresholds[currency]`` if given.

    ``skus`` / ``families`` restrict the eligible lines (a line is eligible when its
    SKU or its product family is listed; neither: every line). ``channels`` None
    means every channel. ``priority``: lower numbers apply first; a promotion that
    is not ``stackable`` stops lower-priority promotions on every target it
    discounted. ``codes`` are the discount codes that unlock it.
    """

    name: str = attrs.field(validator=validators.non_empty)
    kind: PromotionKind = attrs.field(converter=_kind)
    target: Target | None = attrs.field(default=None, converter=_target)
    percent: Decimal | None = attrs.field(default=None, converter=_optional_decimal,
                                          validator=_percent)
    amounts: dict[str, Decimal] | None = attrs.field(
        default=None, converter=_amounts, validator=_per_currency)
    thresholds: dict[str, Decimal] | None = attrs.field(
        default=None, converter=_thresholds, validator=_per_currency)
    buy: int | None = attrs.field(default=None, validator=_optional_positive)
    get: int | None = attrs.field(default=None, validator=_optional_positive)
    skus: list[str] | None = attrs.field(default=None, validator=_names)
    families: list[str] | None = attrs.field(default=None, validator=_names)
    channels: list[str] | None = attrs.field(default=None, validator=_names)
    automatic: bool = True
    codes: list[str] = attrs.field(factory=list, converter=normalise_codes)
    starts_at: dt.datetime | None = attrs.field(default=None, validator=_aware)
    ends_at: dt.datetime | None = attrs.field(default=None, validator=_aware)
    priority: int = attrs.field(default=DEFAULT_PRIORITY, validator=validators.strict_int)
    stackable: bool = True
    usage_limit: int | None = attrs.field(default=None, validator=_optional_positive)
    per_customer_limit: int | None = attrs.field(default=None, validator=_optional_positive)
    active: bool = True
    times_used: int = attrs.field(default=0, validator=validators.non_negative)
    id: str | None = None
    created_at: dt.datetime | None = None

    def __attrs_post_init__(self) -> None:
        kind = self.kind
        if kind is PromotionKind.PERCENT_OFF:
            _required(self, kind, "percent")
            _not_listed(self, kind, "amounts", "thresholds", "buy", "get")
            self._target_among(Target.LINE, Target.ORDER)
        elif kind is PromotionKind.FIXED_OFF:
            _required(self, kind, "amounts")
            _not_listed(self, kind, "percent", "thresholds", "buy", "get")
            self._target_among(Target.LINE, Target.ORDER)
        elif kind is PromotionKind.BUY_X_GET_Y:
            _required(self, kind, "buy", "get")
            _not_listed(self, kind, "amounts", "thresholds")
            self._target_among(Target.LINE)
        elif kind is PromotionKind.SPEND_THRESHOLD:
            _required(self, kind, "thresholds")
            _not_listed(self, kind, "buy", "get")
            if (self.percent is None) == (self.amounts is None):
                raise InvalidInput("give either percent or amounts", field="percent")
            self._target_among(Target.ORDER)
        else:
            _not_listed(self, kind, "percent", "amounts", "buy", "get")
            self._target_among(Target.SHIPPING)
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise InvalidInput("must be after starts_at", field="ends_at")

    def _target_among(self, *allowed: Target) -> None:
        if self.target is None:
            object.__setattr__(self, "target", allowed[0])
        elif self.target not in allowed:
            names = " or ".join(t.value for t in allowed)
            raise InvalidInput(f"a {self.kind.value} promotion targets {names}", field="target")

    # -- what the engine asks --------------------------------------------------------------

    @property
    def sort_key(self) -> tuple[int, str, str]:
        """The order promotions apply in: priority, then name, then id."""
        return (self.priority, self.name, self.id or "")

    def live_at(self, now: dt.datetime) -> bool:
        """Not deactivated, and ``starts_at <= now < ends_at``."""
        return (
            self.active
            and (self.starts_at is None or self.starts_at <= now)
            and (self.ends_at is None or now < self.ends_at)
        )

    def sold_on(self, channel: str) -> bool:
        return self.channels is None or channel in self.channels

    def exhausted(self) -> bool:
        return self.usage_limit is not None and self.times_used >= self.usage_limit

    def restricts_lines(self) -> bool:
        return self.skus is not None or self.families is not None

    def amount_in(self, currency: str) -> Money | None:
        if self.amounts is None or currency not in self.amounts:
            return None
        return Money(self.amounts[currency], currency)

    def threshold_in(self, currency: str) -> Money | None:
        if self.thresholds is None or currency not in self.thresholds:
            return None
        return Money(self.thresholds[currency], currency)

    def rule(self) -> dict[str, Any]:
        """The kind's parameters, as stored in the ``rule`` JSON column."""
        data: dict[str, Any] = {"target": self.target.value if self.target else None,
                                "stackable": self.stackable}
        if self.percent is not None:
            data["percent"] = str(self.percent)
        for name in ("amounts", "thresholds"):
            value = getattr(self, name)
            if value is not None:
                data[name] = {currency: str(amount) for currency, amount in value.items()}
        for name in ("buy", "get", "skus", "families"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        return data
