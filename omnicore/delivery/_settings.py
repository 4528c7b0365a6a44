"""The built-in delivery methods, and the methods of ``[delivery]`` in ``omnicore.toml``.

The configuration (``commerce.config.delivery``, ``omnicore.config.DeliveryConfig``)
holds the tables as written, their types checked; ``load_settings`` turns them into
``ShippingMethod`` objects, whose rules (kinds, currencies, countries …) refuse a bad
table naming ``delivery.methods.<code>.<key>``::

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

from omnicore.config import DeliveryConfig, DeliveryMethodConfig
from omnicore.delivery._models import DeliveryKind, ShippingMethod
from omnicore.errors import InvalidInput
from omnicore.money import Money, validate_currency

__all__ = ["BUILT_IN_METHODS", "DEFAULT_QUOTE_TIMEOUT", "DeliverySettings", "load_settings"]

DEFAULT_QUOTE_TIMEOUT = DeliveryConfig().quote_timeout_seconds


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


def _method(code: str, table: DeliveryMethodConfig, field: str) -> ShippingMethod:
    """The method a ``[delivery.methods.<code>]`` table describes (``enabled``)."""
    assert table.name is not None and table.kind is not None and table.rates is not None
    try:
        return ShippingMethod(
            code=code,
            name=table.name,
            kind=table.kind,  # type: ignore[arg-type]  # "boat" is refused naming kind
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


def load_settings(config: DeliveryConfig) -> DeliverySettings:
    """The built-in methods with ``[delivery.methods]`` applied, and the quote timeout;
    a method the delivery rules refuse raises ``InvalidInput`` naming
    ``delivery.methods.<code>.<key>``."""
    methods = {method.code: method for method in BUILT_IN_METHODS}
    for code, table in config.methods.items():
        if not table.enabled:
            methods.pop(code, None)
        else:
            method = _method(code, table, f"delivery.methods.{code}")
            methods[method.code] = method
    return DeliverySettings(methods, config.quote_timeout_seconds)
