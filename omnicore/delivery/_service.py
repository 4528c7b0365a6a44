"""``commerce.delivery``: delivery methods, their rates, and the delivery groups of a cart.

    group = await commerce.delivery.resolve(
        {"key": "g1", "kind": "relay", "method": "relay", "location": "relay-lyon-3"},
        channel="web")
    rates = await commerce.delivery.quote(group, channel="web", currency="EUR",
                                          subtotal=Money("42.00", "EUR"), items=[("TEE-M", 2)])

Methods with flat prices come from three places: the built-ins (``standard``,
``express``, ``click_and_collect``, ``relay``), the ``[delivery.methods.<code>]``
tables of ``omnicore.toml`` (which replace a built-in of the same code), and
plugins' ``register_shipping_methods``, which may also contribute carriers
(``ShippingProvider``) that quote live rates. A carrier that fails or times out
is left out of a quote and logged, so an outage never stops a checkout that has
another way to deliver.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from omnicore.delivery._catalogue import Catalogue, ask, build_catalogue
from omnicore.delivery._models import (
    DeliveryGroup,
    DeliveryKind,
    QuoteRequest,
    Rate,
    ShippingMethod,
    ShippingProvider,
)
from omnicore.delivery._settings import load_settings
from omnicore.errors import InvalidInput, NotFound, PluginError
from omnicore.money import Money, validate_currency
from omnicore.network import Address, Capability, Location, LocationKind
from omnicore.serialization import structure

if TYPE_CHECKING:
    from omnicore.commerce import Commerce

__all__ = [
    "DeliveryGroup",
    "DeliveryKind",
    "DeliveryService",
    "QuoteRequest",
    "Rate",
    "ShippingMethod",
    "ShippingProvider",
]

log = logging.getLogger("omnicore.delivery")


@attrs.frozen
class _Place:
    """Where a group is delivered: the address, its country, the field blamed for the zone."""

    address: Address
    zone_field: str
    location: Location | None = None

    @property
    def country(self) -> str:
        return self.address.country


def _items(items: Sequence[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    parsed = []
    for index, item in enumerate(items):
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise InvalidInput("expected (sku, quantity)", field=f"items[{index}]")
        sku, quantity = item
        if not isinstance(sku, str) or not sku:
            raise InvalidInput("must be a SKU", field=f"items[{index}]")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise InvalidInput("quantity must be a positive integer", field=f"items[{index}]")
        parsed.append((sku, quantity))
    return tuple(parsed)


class DeliveryService:
    """``commerce.delivery``: which methods exist, what they cost, whether a group is valid."""

    def __init__(self, commerce: Commerce) -> None:
        self._commerce = commerce
        self._settings = load_settings(commerce.config.delivery)
        self._catalogue: Catalogue | None = None

    def _collect(self) -> Catalogue:
        """Built-in, configured and plugins' methods, collected once (a failure is not kept)."""
        if self._catalogue is None:
            found = self._commerce.plugins.register_shipping_methods(self._commerce)
            self._catalogue = build_catalogue(
                self._settings, [(answer.plugin, answer.value) for answer in found])
        return self._catalogue

    async def methods(
        self,
        *,
        channel: str | None = None,
        currency: str | None = None,
        kind: DeliveryKind | None = None,
    ) -> list[ShippingMethod]:
        """The flat-rate methods (built-in, configured, plugins'), by code; optionally only
        those offered on ``channel``, priced in ``currency``, of ``kind``. Carriers'
        live-rate methods are not listed: ask ``quote`` for them."""
        if currency is not None:
            validate_currency(currency)
        if kind is not None:
            kind = structure(kind, DeliveryKind, field="kind")
        found = [
            method for method in self._collect().methods.values()
            if (channel is None or method.offered_on(channel))
            and (currency is None or currency in method.rates)
            and (kind is None or method.kind is kind)
        ]
        return sorted(found, key=lambda m: m.code)

    async def resolve(
        self, group: DeliveryGroup | Mapping[str, Any], *, channel: str, field: str = "delivery"
    ) -> DeliveryGroup:
        """Check one delivery group and complete it (``geo`` of a pickup or relay location).

        The method must exist, be offered on ``channel`` and be of the group's kind.
        ``ship`` needs an address inside the method's zone; ``pickup`` an active
        location with the ``pickup`` capability; ``relay`` an active location of kind
        ``pickup_point`` inside the method's zone. Every refusal is an ``InvalidInput``
        naming ``<field>.method``, ``<field>.address…`` or ``<field>.location``.
        """
        if not isinstance(group, DeliveryGroup):
            if not isinstance(group, Mapping):
                raise InvalidInput("must be a delivery group", field=field)
            if isinstance(group.get("line_ids"), str):  # not ("l", "1") for "l1"
                raise InvalidInput("expected a list, not str", field=f"{field}.line_ids")
            group = structure(dict(group), DeliveryGroup, field=field)
        catalogue = self._collect()
        method = catalogue.methods.get(group.method)
        if method is not None:
            if method.kind is not group.kind:
                raise InvalidInput(f"{method.code!r} is a {method.kind} method, not "
                                   f"{group.kind}", field=f"{field}.method")
            if not method.offered_on(channel):
                raise InvalidInput(f"{method.code!r} is not offered on channel {channel!r}",
                                   field=f"{field}.method")
        elif catalogue.provider_of(group.method) is None:
            raise InvalidInput(f"unknown delivery method {group.method!r}",
                               field=f"{field}.method")
        place = await self._place(group, field)
        if method is not None and not method.serves(place.country):
            raise InvalidInput(f"{place.country} is outside the delivery zone of "
                               f"{method.code!r}", field=place.zone_field)
        if place.location is not None:
            group = attrs.evolve(group, geo=place.location.geo)
        return group

    async def quote(
        self,
        group: DeliveryGroup,
        *,
        channel: str,
        currency: str,
        subtotal: Money,
        items: Sequence[tuple[str, int]],
        field: str = "delivery",
    ) -> list[Rate]:
        """Every rate available for the group, cheapest first (then by method code).

        The flat-rate methods of the group's kind offered on ``channel``, priced in
        ``currency`` and serving the group's country, plus the rates of every carrier.
        ``group.method`` is not looked at: this is the list to choose it from. A carrier
        that fails or times out is left out (and logged); when nothing at all is left
        because of such a failure, its ``PluginError`` is raised.
        """
        catalogue = self._collect()
        place = await self._place(group, field)
        request = self._request(group, place, channel, currency, subtotal, items)
        rates = [
            rate for method in catalogue.methods.values()
            if isinstance(rate := self._flat_rate(method, catalogue, request, place), Rate)
        ]
        answers = await asyncio.gather(
            *(ask(plugin, provider, request, within=self._settings.quote_timeout_seconds)
              for plugin, provider in catalogue.providers),
            return_exceptions=True)
        failures: list[PluginError] = []
        for answer in answers:
            if isinstance(answer, PluginError):
                log.warning("%s; left out of a %s quote on channel %s in %s",
                            answer, request.kind, channel, currency)
                failures.append(answer)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                rates.extend(answer)
        if not rates and failures:
            raise failures[0]
        return sorted(rates, key=lambda r: (r.price.amount, r.method))

    async def rate(
        self,
        group: DeliveryGroup,
        *,
        channel: str,
        currency: str,
        subtotal: Money,
        items: Sequence[tuple[str, int]],
        field: str = "delivery",
    ) -> Rate:
        """The rate of ``group.method`` for this group.

        ``InvalidInput`` naming ``<field>.method`` when the method is unknown or not
        offered here (another kind, channel, currency, or a country outside its zone);
        ``PluginError`` when the carrier the method belongs to fails.
        """
        catalogue = self._collect()
        method = catalogue.methods.get(group.method)
        owner = catalogue.provider_of(group.method) if method is None else None
        if method is None and owner is None:
            raise InvalidInput(f"unknown delivery method {group.method!r}",
                               field=f"{field}.method")
        place = await self._place(group, field)
        request = self._request(group, place, channel, currency, subtotal, items)
        if method is not None:
            found = self._flat_rate(method, catalogue, request, place)
            if isinstance(found, str):
                raise InvalidInput(f"{method.code!r} {found}", field=f"{field}.method")
            return found
        assert owner is not None
        rates = await ask(*owner, request, within=self._settings.quote_timeout_seconds,
                          field=f"{field}.method")
        match = next((r for r in rates if r.method == group.method), None)
        if match is None:
            raise InvalidInput(f"{group.method!r} is not offered for this delivery",
                               field=f"{field}.method")
        return match

    # -- helpers ---------------------------------------------------------------------------

    async def _place(self, group: DeliveryGroup, field: str) -> _Place:
        """Where the group goes; refuses a missing address or an unfit location."""
        if group.kind is DeliveryKind.SHIP:
            if group.location is not None:
                raise InvalidInput("only pickup and relay groups name a location",
                                   field=f"{field}.location")
            if group.address is None:
                raise InvalidInput("is required to ship", field=f"{field}.address")
            return _Place(group.address, f"{field}.address.country")
        where = f"{field}.location"
        if group.location is None:
            raise InvalidInput(f"is required for {group.kind}", field=where)
        try:
            location = await self._commerce.locations.get(group.location)
        except NotFound:
            raise InvalidInput(f"no location {group.location!r}", field=where) from None
        if not location.active:
            raise InvalidInput(f"{location.code!r} is not active", field=where)
        if group.kind is DeliveryKind.PICKUP and not location.can(Capability.PICKUP):
            raise InvalidInput(f"{location.code!r} does not offer pickup", field=where)
        if group.kind is DeliveryKind.RELAY and location.kind is not LocationKind.PICKUP_POINT:
            raise InvalidInput(f"{location.code!r} is a {location.kind}, not a pickup point",
                               field=where)
        return _Place(location.address, where, location)

    def _request(
        self, group: DeliveryGroup, place: _Place, channel: str, currency: str,
        subtotal: Money, items: Sequence[tuple[str, int]],
    ) -> QuoteRequest:
        validate_currency(currency)
        if not isinstance(subtotal, Money):
            raise InvalidInput("must be Money", field="subtotal")
        if subtotal.currency != currency:
            raise InvalidInput(f"is in {subtotal.currency}, not {currency}", field="subtotal")
        return QuoteRequest(
            channel=channel, currency=currency, kind=group.kind, address=place.address,
            location=group.location, subtotal=subtotal, items=_items(items),
            now=self._commerce.clock())

    @staticmethod
    def _flat_rate(
        method: ShippingMethod, catalogue: Catalogue, request: QuoteRequest, place: _Place
    ) -> Rate | str:
        """The method's rate for the request, or why it is not offered."""
        if method.kind is not request.kind:
            return f"is a {method.kind} method, not {request.kind}"
        if not method.offered_on(request.channel):
            return f"is not offered on channel {request.channel!r}"
        price = method.price_for(request.subtotal)
        if price is None:
            return f"is not offered in {request.currency}"
        if not method.serves(place.country):
            return f"does not deliver to {place.country} (outside its delivery zone)"
        rate = Rate(method=method.code, name=method.name, kind=method.kind, price=price,
                    min_days=method.min_days, max_days=method.max_days,
                    source=catalogue.sources[method.code])
        return rate.with_window(request.now)
