"""The built-in delivery methods and the ``[delivery]`` section of ``omnicore.toml``.

::

    [delivery]
    quote_timeout_seconds = 10          # a carrier slower than this is left out of a quote

    [delivery.methods.standard]         # replaces the built-in "standard"
    name = "Standard delivery"
    kind = "ship"
    rates = { EUR = "5.90", CHF = "7.00" }
    free_over = { EUR = "80" }
    countries = ["FR", "BE", "CH"]
    min_days = 2
    max_days = 4

    [delivery.methods.express]
    enabled = false                     # removes the built-in "express"
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import attrs

from omnicore.delivery._models import DeliveryKind, ShippingMethod
from omnicore.errors import InvalidInput
from omnicore.money import Money, validate_currency
from omnicore.serialization import structure

__all__ = ["BUILT_IN_METHODS", "DEFAULT_QUOTE_TIMEOUT", "DeliverySettings", "load_settings"]

DEFAULT_QUOTE_TIMEOUT = 10.0


def _eur(amount: str) -> dict[str, Money]:
    return {"EUR": Money(amount, "EUR")}


#: What a shop offers when ``[delivery.methods]`` configures nothing else.
BUILT_IN_METHODS: tuple[ShippingMethod, ...] = (
    ShippingMethod(code="standard", name="Standard delivery", kind=DeliveryKind.SHIP,
                   rates=_eur("4.90"), free_over=_eur("60.00"), min_days=2, max_days=4),
    ShippingMethod(code="express", name="Express delivery", kind=DeliveryKind.SHIP,
                   rates=_eur("9.90"), min_days=1, max_days=1),
    ShippingMethod(code="click_and_collect", name="Click & collect", kind=DeliveryKind.PICKUP,
                   rates=_eur("0.00")),
    ShippingMethod(code="relay", name="Relay point", kind=DeliveryKind.RELAY,
                   rates=_eur("3.90"), min_days=3, max_days=5,
                   countries=frozenset({"FR", "BE", "LU"})),
)


@attrs.frozen
class _MethodTable:
    """One ``[delivery.methods.<code>]`` table as written in TOML."""

    name: str
    kind: DeliveryKind
    rates: dict[str, Decimal]
    free_over: dict[str, Decimal] = attrs.field(factory=dict)
    countries: list[str] | None = None
    min_days: int = 1
    max_days: int | None = None
    channels: list[str] | None = None
    enabled: bool = True


@attrs.frozen
class DeliverySettings:
    """The core's methods (built-ins with the configured ones applied) and the timeout."""

    methods: dict[str, ShippingMethod]
    quote_timeout_seconds: float = DEFAULT_QUOTE_TIMEOUT


def _prices(amounts: Mapping[str, Decimal], field: str) -> dict[str, Money]:
    prices = {}
    for currency, amount in amounts.items():
        validate_currency(currency, f"{field}.{currency}")
        prices[currency] = Money(amount, currency)
    return prices


def _method(code: str, raw: object, field: str) -> ShippingMethod | None:
    """The method a table describes, or None when it says ``enabled = false``."""
    if not isinstance(raw, Mapping):
        raise InvalidInput("must be a table", field=field)
    if not structure(raw.get("enabled", True), bool, field=f"{field}.enabled"):
        return None
    table = structure(dict(raw), _MethodTable, field=field)
    try:
        return ShippingMethod(
            code=code,
            name=table.name,
            kind=table.kind,
            rates=_prices(table.rates, "rates"),
            free_over=_prices(table.free_over, "free_over"),
            countries=None if table.countries is None else frozenset(table.countries),
            min_days=table.min_days,
            max_days=table.min_days if table.max_days is None else table.max_days,
            channels=None if table.channels is None else frozenset(table.channels),
        )
    except InvalidInput as exc:
        inner = exc.field or ""
        where = field if inner in ("", "code") else f"{field}.{inner}"
        raise InvalidInput(exc.message, field=where) from None


def _timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidInput(f"{value!r} is not a positive number of seconds",
                           field="delivery.quote_timeout_seconds")
    return float(value)


def load_settings(section: object) -> DeliverySettings:
    """Build the settings from ``Config.extra["delivery"]``; bad values raise
    ``InvalidInput`` naming ``delivery.methods.<code>.<key>``."""
    methods = {method.code: method for method in BUILT_IN_METHODS}
    if section is None:
        return DeliverySettings(methods)
    if not isinstance(section, Mapping):
        raise InvalidInput("must be a table", field="delivery")
    configured = section.get("methods", {})
    if not isinstance(configured, Mapping):
        raise InvalidInput("must be a table of [delivery.methods.<code>]",
                           field="delivery.methods")
    for code, raw in configured.items():
        method = _method(str(code), raw, f"delivery.methods.{code}")
        if method is None:
            methods.pop(str(code), None)
        else:
            methods[method.code] = method
    timeout = _timeout(section.get("quote_timeout_seconds", DEFAULT_QUOTE_TIMEOUT))
    return DeliverySettings(methods, timeout)

