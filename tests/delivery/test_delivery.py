"""``commerce.delivery``: methods, rates, configuration, carriers' plugins and delivery groups."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from helpers.stock_world import snapshot

from omnicore import Commerce, InvalidInput, Money, PluginError, hookimpl
from omnicore.config import load_config
from omnicore.delivery import (
    DeliveryGroup,
    DeliveryKind,
    QuoteRequest,
    Rate,
    ShippingMethod,
    ShippingProvider,
)
from omnicore.delivery._settings import load_settings
from omnicore.network import Address, GeoPoint
from omnicore.serialization import structure, unstructure
from omnicore.testing import FakeClock

CUSTOMER = {"line1": "12 rue des Lilas", "city": "Lyon", "postal_code": "69003", "country": "FR"}
ITEMS = [("TEE-M", 2), ("CAP", 1)]


def eur(amount: str) -> Money:
    return Money(amount, "EUR")


def address(country: str = "FR", city: str = "Paris") -> dict[str, Any]:
    return {"line1": "1 place du Marché", "city": city, "postal_code": "10000",
            "country": country}


def location(code: str, kind: str, lat: float, lng: float, *, country: str = "FR",
             **extra: Any) -> dict[str, Any]:
    return {"code": code, "name": code.replace("-", " ").title(), "kind": kind,
            "address": address(country), "geo": {"lat": lat, "lng": lng},
            "timezone": "Europe/Paris", **extra}


async def build_world(commerce: Commerce) -> None:
    """A warehouse (no pickup), a store with pickup, relay points in FR, BE and ES."""
    await commerce.locations.save(location("wh", "warehouse", 48.93, 2.36, capabilities=["ship"]))
    await commerce.locations.save(location("paris-1", "store", 48.8606, 2.3376,
                                           capabilities=["pickup", "ship_from_store"]))
    await commerce.locations.save(location("relay-lyon", "pickup_point", 45.76, 4.84))
    await commerce.locations.save(location("relay-bxl", "pickup_point", 50.85, 4.35,
                                           country="BE"))
    await commerce.locations.save(location("relay-madrid", "pickup_point", 40.42, -3.70,
                                           country="ES"))
    await commerce.locations.save(location("relay-shut", "pickup_point", 45.75, 4.85,
                                           active=False))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No omnicore.toml or OMNICORE_* variable of the developer's leaks into these tests."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("OMNICORE_") and key != "OMNICORE_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)


@pytest.fixture
async def shop(commerce: Commerce) -> Commerce:
    await build_world(commerce)
    return commerce


@pytest.fixture
async def open_shop(db_url: str, clock: FakeClock) -> AsyncIterator[Any]:
    """Open a Commerce on the test's database, with a config and plugins; closed afterwards."""
    opened: list[Commerce] = []

    async def _open(config: dict[str, Any] | None = None,
                    plugins: Sequence[object] = ()) -> Commerce:
        commerce = await Commerce.open(
            db_url, clock=clock, dispatch=False, load_entry_points=False, auto_migrate=True,
            config={"database": {"pool_size": 2}, **(config or {})}, plugins=plugins)
        opened.append(commerce)
        await build_world(commerce)
        return commerce

    yield _open
    for commerce in opened:
        await commerce.close()


def ship(method: str = "standard", **extra: Any) -> DeliveryGroup:
    return DeliveryGroup(key="g1", kind=DeliveryKind.SHIP, method=method,
                         address=structure(CUSTOMER, Address), **extra)


async def quote(commerce: Commerce, group: DeliveryGroup, subtotal: str = "30.00",
                currency: str = "EUR") -> list[Rate]:
    return await commerce.delivery.quote(group, channel="web", currency=currency,
                                         subtotal=Money(subtotal, currency), items=ITEMS)


async def rate(commerce: Commerce, group: DeliveryGroup, subtotal: str = "30.00",
               currency: str = "EUR") -> Rate:
    return await commerce.delivery.rate(group, channel="web", currency=currency,
                                        subtotal=Money(subtotal, currency), items=ITEMS)


# -- built-in methods and rates ---------------------------------------------------------------


async def test_built_in_methods(shop: Commerce) -> None:
    methods = await shop.delivery.methods()
    assert [(m.code, m.kind) for m in methods] == [
        ("click_and_collect", "pickup"), ("express", "ship"), ("relay", "relay"),
        ("standard", "ship")]
    standard = next(m for m in methods if m.code == "standard")
    assert (standard.rates, standard.free_over) == ({"EUR": eur("4.90")}, {"EUR": eur("60.00")})
    assert (standard.min_days, standard.max_days, standard.countries) == (2, 4, None)
    relay = next(m for m in methods if m.code == "relay")
    assert relay.countries == {"FR", "BE", "LU"}
    assert (relay.min_days, relay.max_days, relay.rates) == (3, 5, {"EUR": eur("3.90")})
    assert [m.code for m in await shop.delivery.methods(kind=DeliveryKind.SHIP)] == [
        "express", "standard"]
    assert [m.code for m in await shop.delivery.methods(currency="USD")] == []
    assert len(await shop.delivery.methods(channel="pos-1", currency="EUR")) == 4


async def test_ship_rates_in_eur_cheapest_first_with_delivery_dates(shop: Commerce) -> None:
    rates = await quote(shop, ship())
    assert [(r.method, r.price, r.kind, r.source) for r in rates] == [
        ("standard", eur("4.90"), "ship", "core"), ("express", eur("9.90"), "ship", "core")]
    standard, express = rates
    # the clock says Monday 2 March 2026: calendar days from that date
    assert (standard.earliest, standard.latest) == (dt.date(2026, 3, 4), dt.date(2026, 3, 6))
    assert (express.earliest, express.latest) == (dt.date(2026, 3, 3), dt.date(2026, 3, 3))
    assert await rate(shop, ship("express")) == express


async def test_free_over_threshold(shop: Commerce) -> None:
    below = {r.method: r.price for r in await quote(shop, ship(), "59.99")}
    at = {r.method: r.price for r in await quote(shop, ship(), "60.00")}
    assert below == {"standard": eur("4.90"), "express": eur("9.90")}
    assert at == {"standard": eur("0.00"), "express": eur("9.90")}
    assert [r.method for r in await quote(shop, ship(), "60.00")] == ["standard", "express"]
    assert (await rate(shop, ship(), "75.00")).price == eur("0.00")


async def test_pickup_and_relay_rates(shop: Commerce) -> None:
    pickup = DeliveryGroup(key="g1", kind=DeliveryKind.PICKUP, method="click_and_collect",
                           location="paris-1")
    assert [(r.method, r.price) for r in await quote(shop, pickup)] == [
        ("click_and_collect", eur("0.00"))]
    relay = DeliveryGroup(key="g2", kind=DeliveryKind.RELAY, method="relay",
                          location="relay-bxl")
    (found,) = await quote(shop, relay)
    assert (found.method, found.price, found.min_days, found.max_days) == (
        "relay", eur("3.90"), 3, 5)
    madrid = DeliveryGroup(key="g3", kind=DeliveryKind.RELAY, method="relay",
                           location="relay-madrid")
    assert await quote(shop, madrid) == []
    with pytest.raises(InvalidInput) as caught:
        await rate(shop, madrid)
    assert caught.value.field == "delivery.method"
    assert "outside its delivery zone" in caught.value.message


async def test_currency_not_offered(shop: Commerce) -> None:
    assert await quote(shop, ship(), "30.00", "USD") == []
    with pytest.raises(InvalidInput) as caught:
        await rate(shop, ship(), "30.00", "USD")
    assert caught.value.field == "delivery.method"
    assert caught.value.message == "'standard' is not offered in USD"
    with pytest.raises(InvalidInput) as mismatch:
        await shop.delivery.quote(ship(), channel="web", currency="EUR",
                                  subtotal=Money("30", "USD"), items=ITEMS)
    assert mismatch.value.field == "subtotal"
    with pytest.raises(InvalidInput) as bad:
        await shop.delivery.quote(ship(), channel="web", currency="EURO",
                                  subtotal=eur("30"), items=ITEMS)
    assert bad.value.field == "currency"
    with pytest.raises(InvalidInput) as items:
        await shop.delivery.quote(ship(), channel="web", currency="EUR",
                                  subtotal=eur("30"), items=[("TEE-M", 0)])
    assert items.value.field == "items[0]"


# -- configuration ------------------------------------------------------------------------------


CONFIG = {"delivery": {"methods": {
    "standard": {"name": "Colissimo", "kind": "ship", "rates": {"EUR": "5.90", "CHF": 7},
                 "countries": ["FR", "CH"], "min_days": 2, "max_days": 3},
    "express": {"enabled": False},
    "same_day": {"name": "Same day by bike", "kind": "ship", "rates": {"EUR": "12"},
                 "min_days": 0, "channels": ["app"]},
}}}


async def test_config_replaces_a_built_in_adds_and_removes_methods(open_shop: Any) -> None:
    commerce = await open_shop(CONFIG)
    methods = {m.code: m for m in await commerce.delivery.methods()}
    assert sorted(methods) == ["click_and_collect", "relay", "same_day", "standard"]
    standard = methods["standard"]
    assert (standard.name, standard.rates, standard.free_over) == (
        "Colissimo", {"EUR": eur("5.90"), "CHF": Money("7", "CHF")}, {})
    assert (standard.countries, standard.min_days, standard.max_days) == ({"FR", "CH"}, 2, 3)
    assert (methods["same_day"].min_days, methods["same_day"].max_days) == (0, 0)
    # replaced, not merged: no free shipping any more, and same_day is for the app only
    assert [(r.method, r.price) for r in await quote(commerce, ship(), "80")] == [
        ("standard", eur("5.90"))]
    app = await commerce.delivery.quote(ship(), channel="app", currency="EUR",
                                        subtotal=eur("80"), items=ITEMS)
    assert [(r.method, r.min_days, r.earliest) for r in app] == [
        ("standard", 2, dt.date(2026, 3, 4)), ("same_day", 0, dt.date(2026, 3, 2))]
    with pytest.raises(InvalidInput) as caught:
        await commerce.delivery.resolve(ship("same_day"), channel="web")
    assert caught.value.field == "delivery.method"
    assert caught.value.message == "'same_day' is not offered on channel 'web'"
    german = {"key": "g1", "kind": "ship", "method": "standard",
              "address": {**CUSTOMER, "country": "DE"}}
    with pytest.raises(InvalidInput) as zone:
        await commerce.delivery.resolve(german, channel="web")
    assert zone.value.field == "delivery.address.country"
    assert zone.value.message == "DE is outside the delivery zone of 'standard'"
    with pytest.raises(InvalidInput) as gone:
        await commerce.delivery.resolve(ship("express"), channel="web")
    assert gone.value.field == "delivery.method"


async def test_malformed_config_refuses_to_open_naming_the_key(open_shop: Any) -> None:
    bad = {"delivery": {"methods": {"standard": {"name": "Std", "kind": "ship",
                                                 "rates": {"EUR": 4.9}}}}}
    with pytest.raises(InvalidInput) as caught:
        await open_shop(bad)
    assert caught.value.field == "delivery.methods.standard.rates.EUR"


def method(**table: Any) -> dict[str, Any]:
    return {"delivery": {"methods": {"eco": {"name": "Eco", "kind": "ship",
                                             "rates": {"EUR": "3"}, **table}}}}


@pytest.mark.parametrize(("section", "field"), [
    (method(rates={"EUR": 3.5}), "delivery.methods.eco.rates.EUR"),
    (method(rates={"EURO": "3"}), "delivery.methods.eco.rates.EURO"),
    (method(rates={"EUR": "-1"}), "delivery.methods.eco.rates.EUR"),
    (method(free_over={"EUR": "ten"}), "delivery.methods.eco.free_over.EUR"),
    (method(kind="boat"), "delivery.methods.eco.kind"),
    (method(colour="green"), "delivery.methods.eco.colour"),
    (method(countries=["fr"]), "delivery.methods.eco.countries"),
    (method(countries="FR"), "delivery.methods.eco.countries"),
    (method(min_days=3, max_days=2), "delivery.methods.eco.max_days"),
    (method(min_days=-1), "delivery.methods.eco.min_days"),
    (method(channels=["web shop"]), "delivery.methods.eco.channels"),
    (method(name=""), "delivery.methods.eco.name"),
    (method(enabled="maybe"), "delivery.methods.eco.enabled"),
    ({"delivery": {"methods": {"eco": {"kind": "ship", "rates": {}}}}},
     "delivery.methods.eco.name"),
    ({"delivery": {"methods": {"eco": "cheap"}}}, "delivery.methods.eco"),
    ({"delivery": {"methods": ["eco"]}}, "delivery.methods"),
    ({"delivery": {"methods": {"bad code": {"name": "x", "kind": "ship", "rates": {}}}}},
     "delivery.methods.bad code"),
    ({"delivery": {"quote_timeout_seconds": 0}}, "delivery.quote_timeout_seconds"),
])
def test_malformed_config_names_the_key(section: dict[str, Any], field: str) -> None:
    # the configuration checks the types and the keys, the delivery rules the rest
    with pytest.raises(InvalidInput) as caught:
        load_settings(load_config(section, environ={}).delivery)
    assert caught.value.field == field


# -- plugins: fixed methods and carriers --------------------------------------------------------


class Acme:
    """A carrier with two services; remembers what it was asked."""

    code = "acme"

    def __init__(self, *, fail: bool = False, delay: float = 0.0,
                 currency: str | None = None) -> None:
        self.fail, self.delay, self.currency = fail, delay, currency
        self.requests: list[QuoteRequest] = []

    async def quote(self, request: QuoteRequest) -> Sequence[Rate]:
        self.requests.append(request)
        await asyncio.sleep(self.delay)
        if self.fail:
            assert request.address is not None
            raise ConnectionError(f"carrier down while quoting {request.address.line1}")
        if request.kind is not DeliveryKind.SHIP:
            return []
        price = Money("6.50", self.currency or request.currency)
        return [
            Rate(method="acme", name="Acme eco", kind=DeliveryKind.SHIP, price=price,
                 min_days=3, max_days=6),
            Rate(method="acme.express", name="Acme express", kind=DeliveryKind.SHIP,
                 price=price * 2, min_days=1, max_days=1, source="spoofed",
                 earliest=dt.date(2026, 3, 3), latest=dt.date(2026, 3, 3)),
        ]


class CarrierPlugin:
    def __init__(self, *items: object, name: str = "acme-carrier") -> None:
        self.name = name
        self.items = items
        self.calls = 0

    @hookimpl
    def register_shipping_methods(self, commerce: Commerce) -> Sequence[object]:
        self.calls += 1
        return list(self.items)


ECO = ShippingMethod(code="eco", name="Eco bike", kind="ship",
                     rates={"EUR": eur("2.50")}, countries=["FR"], min_days=2)


async def test_plugin_contributes_a_fixed_method_and_a_live_carrier(open_shop: Any) -> None:
    carrier = Acme()
    plugin = CarrierPlugin(ECO, carrier)
    commerce = await open_shop(plugins=[plugin])
    assert isinstance(carrier, ShippingProvider)
    assert "eco" in [m.code for m in await commerce.delivery.methods()]
    rates = await quote(commerce, ship(), "30.00")
    assert [(r.method, r.price, r.source) for r in rates] == [
        ("eco", eur("2.50"), "acme-carrier"), ("standard", eur("4.90"), "core"),
        ("acme", eur("6.50"), "acme-carrier"), ("express", eur("9.90"), "core"),
        ("acme.express", eur("13.00"), "acme-carrier")]
    acme = next(r for r in rates if r.method == "acme")
    assert (acme.earliest, acme.latest) == (dt.date(2026, 3, 5), dt.date(2026, 3, 8))
    (request,) = carrier.requests
    assert (request.channel, request.currency, request.kind, request.location) == (
        "web", "EUR", DeliveryKind.SHIP, None)
    assert request.address == structure(CUSTOMER, Address)
    assert (request.subtotal, request.items) == (eur("30.00"), (("TEE-M", 2), ("CAP", 1)))
    assert request.now == dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    chosen = await commerce.delivery.resolve(ship("acme.express"), channel="web")
    assert (await rate(commerce, chosen)).price == eur("13.00")
    assert (await rate(commerce, ship("eco"))).source == "acme-carrier"
    # in the carrier's namespace: only a quote can tell whether it offers the service
    drone = await commerce.delivery.resolve(ship("acme.drone"), channel="web")
    with pytest.raises(InvalidInput) as unknown:
        await rate(commerce, drone)
    assert unknown.value.field == "delivery.method"
    assert unknown.value.message == "'acme.drone' is not offered for this delivery"
    with pytest.raises(InvalidInput):
        await commerce.delivery.resolve(ship("ups"), channel="web")
    # a relay group gets no rate from a carrier that only ships
    relay = DeliveryGroup(key="g1", kind=DeliveryKind.RELAY, method="relay", location="relay-lyon")
    assert [r.method for r in await quote(commerce, relay)] == ["relay"]
    assert carrier.requests[-1].address == structure(address(), Address)  # the relay point's
    assert plugin.calls == 1  # collected once


async def test_a_failing_carrier_is_left_out_and_logged_without_personal_data(
    open_shop: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    commerce = await open_shop(plugins=[CarrierPlugin(Acme(fail=True))])
    with caplog.at_level(logging.WARNING, logger="omnicore.delivery"):
        rates = await quote(commerce, ship())
    assert [r.method for r in rates] == ["standard", "express"]
    assert "acme-carrier" in caplog.text and "ConnectionError" in caplog.text
    for personal in ("Lilas", "69003", "Lyon", "TEE-M"):
        assert personal not in caplog.text
    with pytest.raises(PluginError) as caught:
        await rate(commerce, ship("acme"))
    assert (caught.value.plugin, caught.value.field) == ("acme-carrier", "delivery.method")
    assert "Lilas" not in str(caught.value)
    # nothing else to offer in CHF: the carrier's failure is the answer
    with pytest.raises(PluginError):
        await quote(commerce, ship(), "30", "CHF")


async def test_a_slow_or_wrong_carrier_is_left_out(open_shop: Any) -> None:
    slow = CarrierPlugin(Acme(delay=5), name="slow")
    commerce = await open_shop({"delivery": {"quote_timeout_seconds": 0.05}}, plugins=[slow])
    assert [r.method for r in await quote(commerce, ship())] == ["standard", "express"]
    with pytest.raises(PluginError) as caught:
        await rate(commerce, ship("acme"))
    assert "did not answer within 0.05 s" in caught.value.message

    class Mixed(Acme):
        code = "mixed"

    wrong = await open_shop(plugins=[CarrierPlugin(Acme(currency="USD")),
                                     CarrierPlugin(Mixed(), name="mixed")])
    assert [r.method for r in await quote(wrong, ship())] == ["standard", "express"]
    with pytest.raises(PluginError) as usd:
        await rate(wrong, ship("acme"))
    assert "returned a price in USD" in usd.value.message
    with pytest.raises(PluginError) as foreign:
        await rate(wrong, ship("mixed"))
    assert "returned method 'acme'" in foreign.value.message


@pytest.mark.parametrize(("items", "message"), [
    ([ShippingMethod(code="express", name="Mine", kind=DeliveryKind.SHIP,
                     rates={"EUR": eur("1")})], "'express' is already taken by a built-in"),
    ([ECO, ECO], "'eco' is already taken by plugin 'acme-carrier'"),
    ([Acme(), Acme()], "'acme' is already taken by plugin 'acme-carrier'"),
    ([Acme(), ShippingMethod(code="acme.eco", name="x", kind=DeliveryKind.SHIP, rates={})],
     "'acme.eco' is already taken by plugin"),
    (["express"], "returned a str, not a ShippingMethod or a ShippingProvider"),
])
async def test_a_code_taken_twice_is_a_plugin_error(
    open_shop: Any, items: list[object], message: str,
) -> None:
    commerce = await open_shop(plugins=[CarrierPlugin(*items)])
    with pytest.raises(PluginError) as caught:
        await commerce.delivery.methods()
    assert caught.value.plugin == "acme-carrier"
    assert message in caught.value.message
    with pytest.raises(PluginError):  # not cached as if it had worked
        await quote(commerce, ship())


# -- delivery groups ----------------------------------------------------------------------------


async def test_resolve_each_kind_completes_the_group(shop: Commerce) -> None:
    shipped = await shop.delivery.resolve(
        {"key": "g1", "kind": "ship", "method": "express", "address": CUSTOMER,
         "geo": {"lat": 45.76, "lng": 4.85}, "line_ids": ["l1", "l2"], "recipient": "Ana",
         "phone": "+33600000000", "instructions": "code 1234"}, channel="web")
    assert shipped == DeliveryGroup(
        key="g1", kind=DeliveryKind.SHIP, method="express", address=structure(CUSTOMER, Address),
        geo=GeoPoint(45.76, 4.85), line_ids=("l1", "l2"), recipient="Ana",
        phone="+33600000000", instructions="code 1234")
    pickup = await shop.delivery.resolve(
        DeliveryGroup(key="g2", kind=DeliveryKind.PICKUP, method="click_and_collect",
                      location="paris-1"), channel="pos-paris-1")
    assert (pickup.location, pickup.geo) == ("paris-1", GeoPoint(48.8606, 2.3376))
    relay = await shop.delivery.resolve(
        {"key": "pickup-relay-bxl", "kind": "relay", "method": "relay", "location": "relay-bxl",
         "geo": {"lat": 0, "lng": 0}}, channel="web")
    assert relay.geo == GeoPoint(50.85, 4.35)  # the location's, not the caller's
    # groups survive the converter (the cart stores them as JSON)
    for group in (shipped, pickup, relay):
        assert structure(unstructure(group), DeliveryGroup) == group


@pytest.mark.parametrize(("group", "field", "message"), [
    ({"kind": "pickup", "method": "click_and_collect", "location": "wh"},
     "delivery.location", "'wh' does not offer pickup"),
    ({"kind": "pickup", "method": "click_and_collect", "location": "nowhere"},
     "delivery.location", "no location 'nowhere'"),
    ({"kind": "pickup", "method": "click_and_collect"}, "delivery.location",
     "is required for pickup"),
    ({"kind": "relay", "method": "relay", "location": "relay-madrid"}, "delivery.location",
     "ES is outside the delivery zone of 'relay'"),
    ({"kind": "relay", "method": "relay", "location": "paris-1"}, "delivery.location",
     "'paris-1' is a store, not a pickup point"),
    ({"kind": "relay", "method": "relay", "location": "relay-shut"}, "delivery.location",
     "'relay-shut' is not active"),
    ({"kind": "relay", "method": "relay", "location": "ghost"}, "delivery.location",
     "no location 'ghost'"),
    ({"kind": "ship", "method": "standard"}, "delivery.address", "is required to ship"),
    ({"kind": "ship", "method": "standard", "address": CUSTOMER, "location": "paris-1"},
     "delivery.location", "only pickup and relay groups name a location"),
    ({"kind": "relay", "method": "express", "location": "relay-lyon"}, "delivery.method",
     "'express' is a ship method, not relay"),
    ({"kind": "ship", "method": "click_and_collect", "address": CUSTOMER}, "delivery.method",
     "'click_and_collect' is a pickup method, not ship"),
    ({"kind": "ship", "method": "teleport", "address": CUSTOMER}, "delivery.method",
     "unknown delivery method 'teleport'"),
    ({"kind": "boat", "method": "standard"}, "delivery.kind", None),
    ({"kind": "ship", "method": "standard", "address": {**CUSTOMER, "country": "fr"}},
     "delivery.address.country", None),
    ({"kind": "ship", "method": "standard", "address": CUSTOMER, "colour": "red"},
     "delivery.colour", None),
    ({"kind": "ship", "method": "standard", "address": CUSTOMER, "line_ids": []},
     "delivery.line_ids", None),
    ({"kind": "ship", "method": "standard", "address": CUSTOMER, "line_ids": "l1"},
     "delivery.line_ids", "expected a list, not str"),
    ({"kind": "ship", "method": "standard", "address": CUSTOMER, "line_ids": ["a", "a"]},
     "delivery.line_ids[1]", None),
    ({"kind": "ship", "method": "standard", "address": CUSTOMER, "phone": "0" * 41},
     "delivery.phone", None),
])
async def test_resolve_refuses_bad_groups_naming_the_field(
    shop: Commerce, group: dict[str, Any], field: str, message: str | None,
) -> None:
    before = await snapshot(shop)
    with pytest.raises(InvalidInput) as caught:
        await shop.delivery.resolve({"key": "g1", **group}, channel="web")
    assert caught.value.field == field
    if message is not None:
        assert caught.value.message == message
    with pytest.raises(InvalidInput) as nested:
        await shop.delivery.resolve({"key": "g1", **group}, channel="web", field="delivery[2]")
    assert nested.value.field == field.replace("delivery", "delivery[2]", 1)
    assert await snapshot(shop) == before


async def test_quote_checks_the_place_too(shop: Commerce) -> None:
    at_warehouse = DeliveryGroup(key="g1", kind=DeliveryKind.PICKUP, method="click_and_collect",
                                 location="wh")
    for call in (quote, rate):
        with pytest.raises(InvalidInput) as caught:
            await call(shop, at_warehouse)
        assert caught.value.field == "delivery.location"
    with pytest.raises(InvalidInput) as unknown:
        await rate(shop, ship("teleport"))
    assert unknown.value.field == "delivery.method"


# -- the models on their own --------------------------------------------------------------------


@pytest.mark.parametrize(("build", "field"), [
    (lambda: ShippingMethod(code="x", name="X", kind="ship", rates={"EUR": Money("1", "USD")}),
     "rates.EUR"),
    (lambda: ShippingMethod(code="x", name="X", kind="ship", rates={"EUR": "4.90"}), "rates.EUR"),
    (lambda: ShippingMethod(code="x", name="X", kind="ship", rates={},
                            free_over={"EUR": eur("-1")}), "free_over.EUR"),
    (lambda: ShippingMethod(code="x", name="X", kind="boat", rates={}), "kind"),
    (lambda: ShippingMethod(code="x y", name="X", kind="ship", rates={}), "code"),
    (lambda: ShippingMethod(code="x", name="X", kind="ship", rates={}, countries=set()),
     "countries"),
    (lambda: Rate(method="x", name="X", kind="ship", price=eur("-1"), min_days=1, max_days=1),
     "price"),
    (lambda: Rate(method="x", name="X", kind="ship", price=eur("1"), min_days=2, max_days=1),
     "max_days"),
    (lambda: DeliveryGroup(key="k" * 101, kind="ship", method="standard"), "key"),
    (lambda: DeliveryGroup(key="g1", kind="ship", method="standard", address={"city": "x"}),
     "address"),
    (lambda: DeliveryGroup(key="g1", kind="ship", method="standard", recipient=" "),
     "recipient"),
])
def test_models_refuse_bad_values_naming_the_field(build: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build()
    assert caught.value.field == field


def test_model_defaults() -> None:
    method = ShippingMethod(code="eco", name="Eco", kind="relay", rates={"EUR": eur("2")},
                            countries=["FR", "BE"], channels=("web",), min_days=3)
    assert (method.kind, method.countries, method.channels) == (
        DeliveryKind.RELAY, frozenset({"FR", "BE"}), frozenset({"web"}))
    assert (method.min_days, method.max_days, method.free_over) == (3, 3, {})
    assert (method.price_for(eur("100")), method.price_for(Money("1", "USD"))) == (eur("2"), None)
    assert method.serves("BE") and not method.serves("DE")
    assert method.offered_on("web") and not method.offered_on("app")
    assert hash(method) == hash(attrs.evolve(method))
    group = DeliveryGroup(key="pickup-" + "s" * 64, kind="pickup", method="click_and_collect",
                          line_ids=["l1", "l2"])
    assert group.line_ids == ("l1", "l2")
