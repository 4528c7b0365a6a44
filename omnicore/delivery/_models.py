"""The models of delivery: methods, quote requests, rates, carriers and delivery groups.

Imported through ``omnicore.delivery``, which re-exports every public name here.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from omnicore import validators
from omnicore.errors import InvalidInput
from omnicore.money import Money, validate_currency
from omnicore.network import Address, GeoPoint

__all__ = [
    "DeliveryGroup",
    "DeliveryKind",
    "QuoteRequest",
    "Rate",
    "ShippingMethod",
    "ShippingProvider",
]

_COUNTRY = re.compile(r"^[A-Z]{2}$")
# room for keys made from a location code, such as "pickup-<store>"
_GROUP_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class DeliveryKind(enum.StrEnum):
    """How a group of lines reaches the customer."""

    SHIP = "ship"  #: to an address
    PICKUP = "pickup"  #: click & collect at a location with the ``pickup`` capability
    RELAY = "relay"  #: to a relay / pickup point (a location of kind ``pickup_point``)


_KINDS = frozenset(kind.value for kind in DeliveryKind)


def _kind(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, DeliveryKind):
        raise InvalidInput(
            f"{value!r} is not a delivery kind (ship, pickup, relay)", field=attribute.name
        )


def _as_kind(value: DeliveryKind | str) -> DeliveryKind:
    # "ship" is accepted for DeliveryKind.SHIP; anything else is left to the validator
    if isinstance(value, str) and not isinstance(value, DeliveryKind) and value in _KINDS:
        return DeliveryKind(value)
    return value  # type: ignore[return-value]


def _string_set(value: Iterable[str] | None) -> frozenset[str] | None:
    # a str is iterable, but "FR" is not {"F", "R"}: leave it to the validator to refuse
    if value is None or isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return value  # type: ignore[return-value]
    return frozenset(value)


def _countries(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, frozenset) or not value:
        raise InvalidInput("must be a non-empty list of ISO 3166-1 alpha-2 codes",
                           field=attribute.name)
    for country in sorted(value, key=str):
        if not isinstance(country, str) or not _COUNTRY.match(country):
            raise InvalidInput(f"{country!r} is not an ISO 3166-1 alpha-2 code (FR)",
                               field=attribute.name)


def _channels(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, frozenset) or not value:
        raise InvalidInput("must be a non-empty list of channel codes", field=attribute.name)
    for channel in sorted(value, key=str):
        validators.code(None, attribute, channel)


def _prices(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """``{currency: Money}``: ISO 4217 keys, each price in its key's currency, never negative."""
    if not isinstance(value, Mapping):
        raise InvalidInput("must be a mapping of currency to price", field=attribute.name)
    for currency, price in value.items():
        field = f"{attribute.name}.{currency}"
        validate_currency(currency, field)
        if not isinstance(price, Money):
            raise InvalidInput("must be Money", field=field)
        if price.currency != currency:
            raise InvalidInput(f"is in {price.currency}, not {currency}", field=field)
        if price.amount < 0:
            raise InvalidInput("must not be negative", field=field)


def _days_after_min(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    validators.non_negative(inst, attribute, value)
    if isinstance(inst.min_days, int) and value < inst.min_days:  # type: ignore[operator]
        raise InvalidInput("must be at least min_days", field=attribute.name)


def _price(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Money):
        raise InvalidInput("must be Money", field=attribute.name)
    if value.amount < 0:
        raise InvalidInput("must not be negative", field=attribute.name)


@attrs.frozen
class ShippingMethod:
    """A delivery method with flat prices: the built-in ``standard``, a configured one …

    ``rates`` gives the price per currency (a currency absent: the method is not
    offered in it); ``free_over`` the subtotal at or above which the price is 0.
    ``countries`` is the delivery zone (None: anywhere), ``channels`` the channels
    that offer it (None: every one). ``min_days`` / ``max_days`` are calendar days
    (``max_days`` defaults to ``min_days``).
    """

    code: str = attrs.field(validator=validators.code)
    name: str = attrs.field(validator=[validators.non_empty, validators.max_length(200)])
    kind: DeliveryKind = attrs.field(converter=_as_kind, validator=_kind)
    rates: Mapping[str, Money] = attrs.field(validator=_prices, hash=False)
    free_over: Mapping[str, Money] = attrs.field(factory=dict, validator=_prices, hash=False)
    countries: frozenset[str] | None = attrs.field(
        default=None, converter=_string_set, validator=_countries
    )
    min_days: int = attrs.field(default=1, validator=validators.non_negative)
    max_days: int = attrs.field(
        default=attrs.Factory(lambda self: self.min_days, takes_self=True),
        validator=_days_after_min,
    )
    channels: frozenset[str] | None = attrs.field(
        default=None, converter=_string_set, validator=_channels
    )

    def offered_on(self, channel: str) -> bool:
        return self.channels is None or channel in self.channels

    def serves(self, country: str) -> bool:
        """Whether ``country`` is inside the delivery zone."""
        return self.countries is None or country in self.countries

    def price_for(self, subtotal: Money) -> Money | None:
        """The price for a subtotal (0 at or above ``free_over``); None when not offered in
        the subtotal's currency."""
        price = self.rates.get(subtotal.currency)
        if price is None:
            return None
        threshold = self.free_over.get(subtotal.currency)
        if threshold is not None and subtotal >= threshold:
            return Money.zero(subtotal.currency)
        return price


@attrs.frozen
class QuoteRequest:
    """What a ``ShippingProvider`` is asked to price: one delivery group of a cart.

    ``address`` is the ship-to address, or the address of the store (``pickup``) or
    relay point (``relay``) named by ``location``. ``items`` are ``(sku, quantity)``.
    """

    channel: str
    currency: str
    kind: DeliveryKind
    address: Address | None
    location: str | None
    subtotal: Money
    items: tuple[tuple[str, int], ...]
    now: dt.datetime


@attrs.frozen
class Rate:
    """One priced delivery option.

    ``source`` is ``"core"`` or the name of the plugin that contributed the method
    (set by ``commerce.delivery``, whatever a provider says). ``earliest`` /
    ``latest`` are the estimated delivery dates: a provider may give the carrier's
    own; otherwise ``commerce.delivery`` sets them to the request's date plus
    ``min_days`` / ``max_days``, so rates it returns always have them.
    """

    method: str = attrs.field(validator=validators.code)
    name: str = attrs.field(validator=[validators.non_empty, validators.max_length(200)])
    kind: DeliveryKind = attrs.field(converter=_as_kind, validator=_kind)
    price: Money = attrs.field(validator=_price)
    min_days: int = attrs.field(validator=validators.non_negative)
    max_days: int = attrs.field(validator=_days_after_min)
    source: str = attrs.field(default="core", validator=validators.non_empty)
    earliest: dt.date | None = None
    latest: dt.date | None = None

    def with_window(self, now: dt.datetime) -> Rate:
        """This rate with ``earliest`` / ``latest`` filled from ``now`` where missing."""
        today = now.date()
        return attrs.evolve(
            self,
            earliest=self.earliest or today + dt.timedelta(days=self.min_days),
            latest=self.latest or today + dt.timedelta(days=self.max_days),
        )


@runtime_checkable
class ShippingProvider(Protocol):
    """A carrier with live rates, contributed by ``register_shipping_methods``.

    ``code`` names the provider; the methods it answers for are ``code`` itself and
    ``code.<service>`` (``"acme"``, ``"acme.express"``): every ``Rate.method`` it
    returns must be one of those. ``quote`` returns the rates it offers for a request
    (an empty list when it does not serve it); rates of another currency or kind, or
    an exception, leave all of its rates out of that quote.
    """

    code: str

    async def quote(self, request: QuoteRequest) -> Sequence[Rate]: ...


def _as_tuple(value: Sequence[str] | None) -> tuple[str, ...] | None:
    if isinstance(value, list):
        return tuple(value)
    return value  # type: ignore[return-value]


def _line_ids(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, tuple) or not value:
        raise InvalidInput("must be a non-empty list of line ids (or null: every other line)",
                           field=attribute.name)
    seen: set[object] = set()
    for index, line_id in enumerate(value):
        if not isinstance(line_id, str) or not line_id.strip():
            raise InvalidInput("must be a line id", field=f"{attribute.name}[{index}]")
        if line_id in seen:
            raise InvalidInput(f"line {line_id!r} is listed twice",
                               field=f"{attribute.name}[{index}]")
        seen.add(line_id)


def _group_key(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _GROUP_KEY.match(value):
        raise InvalidInput(f"{value!r} is not a valid key (letters, digits, . _ -, at most 100)",
                           field=attribute.name)


def _optional(cls: type[Any]) -> validators.Validator:
    def _instance(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None and not isinstance(value, cls):
            raise InvalidInput(f"must be {cls.__name__}, not {type(value).__name__}",
                               field=attribute.name)

    return _instance


def _optional_text(limit: int) -> list[validators.Validator]:
    def _not_blank(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            validators.non_empty(_, attribute, value)

    return [_not_blank, validators.max_length(limit)]


@attrs.frozen
class DeliveryGroup:
    """How one group of a cart's lines is delivered.

    ``ship``: to ``address`` (required; ``geo`` optionally locates it);
    ``pickup``: click & collect at the store ``location``;
    ``relay``: to the pickup point ``location``. ``commerce.delivery.resolve``
    checks a group against its method and fills ``geo`` for pickup and relay.
    ``line_ids`` None claims every line of this kind that no other group claims.
    """

    key: str = attrs.field(validator=_group_key)
    kind: DeliveryKind = attrs.field(converter=_as_kind, validator=_kind)
    method: str = attrs.field(validator=validators.code)
    address: Address | None = attrs.field(default=None, validator=_optional(Address))
    geo: GeoPoint | None = attrs.field(default=None, validator=_optional(GeoPoint))
    location: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(validators.code)
    )
    line_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=_as_tuple, validator=_line_ids)
    recipient: str | None = attrs.field(default=None, validator=_optional_text(200))
    phone: str | None = attrs.field(default=None, validator=_optional_text(40))
    instructions: str | None = attrs.field(default=None, validator=_optional_text(500))
