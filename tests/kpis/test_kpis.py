"""Channel KPIs: carts, conversion, abandonment, baskets, revenue, cross-channel journeys."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers.cart_world import build_world
from helpers.gateways import FakeGateway, GatewayPlugin

from omnicore import Commerce
from omnicore.errors import InvalidInput
from omnicore.kpis import ChannelKpis, KpiService
from omnicore.money import Money
from omnicore.testing import FakeClock

HOME = {"key": "home", "kind": "ship", "method": "standard",
        "address": {"line1": "3 rue de Rivoli", "city": "Paris", "postal_code": "75004",
                    "country": "FR"},
        "geo": {"lat": 48.8556, "lng": 2.3590}}
TEE_M_AT_RIVOLI = [{"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup",
                    "location": "paris-1"}]


@pytest.fixture
async def shop(db_url: str, clock: FakeClock) -> AsyncIterator[Commerce]:
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             auto_migrate=True, plugins=[GatewayPlugin(FakeGateway("card"))],
                             config={"database": {"pool_size": 5}}) as commerce:
        await build_world(commerce)
        yield commerce


async def cart(shop: Commerce, channel: str, lines: list[dict[str, Any]] | None = None,
               delivery: bool = False) -> Any:
    created = await shop.carts.create(channel)
    if lines:
        created = await shop.carts.add_lines(created.id, lines, version=created.version)
    if delivery:
        created = await shop.carts.set_delivery(created.id, [HOME], version=created.version)
    return created


async def checkout(shop: Commerce, cart_id: str, key: str) -> Any:
    return await shop.checkout(cart_id, payments=[{"gateway": "card"}], idempotency_key=key,
                               email="ada@example.com")


async def journeys_of_a_day(shop: Commerce, clock: FakeClock) -> dict[str, Any]:
    """One day of carts and orders on web, app and the Rivoli till (see the test)."""
    old = await cart(shop, "web", [{"sku": "TEE-L", "quantity": 1}], delivery=True)
    await checkout(shop, old.id, "old")  # the day before: outside the period
    clock.advance(days=1)
    since = clock.now

    web_order = await checkout(shop, (await cart(shop, "web", [{"sku": "TEE-L", "quantity": 1}],
                                                 delivery=True)).id, "a")
    await cart(shop, "web", [{"sku": "TEE-L", "quantity": 1}], delivery=True)  # abandoned
    await cart(shop, "web")  # empty: created, neither converted nor abandoned
    on_phone = await cart(shop, "web", TEE_M_AT_RIVOLI)
    await shop.carts.resume(on_phone.id, channel="app")
    app_order = await checkout(shop, on_phone.id, "d")
    in_store = await cart(shop, "web", TEE_M_AT_RIVOLI)
    handoff = await shop.carts.handoff_code(in_store.id, version=in_store.version)
    await shop.carts.take_over(code=handoff.code, channel="pos-paris-1", associate="ana")
    store_order = await checkout(shop, in_store.id, "e")
    cancelled = await checkout(shop, (await cart(shop, "app", [
        {"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup", "location": "paris-2"}])).id,
        "f")
    await shop.orders.cancel(cancelled.id)
    till = await shop.orders.import_external(
        "square", "sq-1", channel="pos-paris-1", fulfilled=True, location="paris-1",
        lines=[{"sku": "TEE-M", "quantity": 2, "unit_price": "19.90"}])
    clock.advance(hours=2)  # the abandoned cart has been idle for more than an hour
    return {"since": since, "until": clock.now, "web": web_order, "app": app_order,
            "store": store_order, "till": till}


def row(report: Any, channel: str) -> ChannelKpis:
    return next(r for r in report.channels if r.channel == channel)


async def test_kpis_per_channel_and_cross_channel_journeys(shop: Commerce,
                                                           clock: FakeClock) -> None:
    day = await journeys_of_a_day(shop, clock)
    report = await KpiService(shop).report(since=day["since"], until=day["until"])
    assert (report.since, report.until) == (day["since"], day["until"])

    web = row(report, "web")
    assert (web.currency, web.carts_created, web.carts_converted, web.carts_abandoned) == (
        "EUR", 5, 3, 1)
    assert (web.orders, web.checkout_orders, web.cancelled_orders, web.cross_channel_orders) == (
        1, 1, 0, 0)
    assert (web.conversion_rate, web.abandonment_rate) == (0.6, 0.2)
    assert web.revenue == day["web"].total == web.average_basket

    app = row(report, "app")
    assert (app.carts_created, app.carts_converted, app.carts_abandoned) == (1, 1, 0)
    assert (app.orders, app.checkout_orders, app.cancelled_orders, app.cross_channel_orders) == (
        2, 2, 1, 1)
    assert app.revenue == day["app"].total == app.average_basket  # the cancelled one is out
    assert app.conversion_rate == 1.0

    store = row(report, "pos-paris-1")
    assert (store.carts_created, store.orders, store.checkout_orders) == (0, 2, 1)
    assert store.cross_channel_orders == 1
    assert store.conversion_rate is None and store.abandonment_rate is None
    assert store.revenue == day["store"].total + day["till"].total == Money("59.70", "EUR")
    assert store.average_basket == Money("29.85", "EUR")

    quiet = row(report, "uk-web")
    assert quiet.currency == "GBP" and quiet.orders == 0 and quiet.average_basket is None
    assert quiet.revenue == Money("0", "GBP")

    assert [(j.from_channel, j.to_channel, j.orders) for j in report.journeys] == [
        ("web", "app", 1), ("web", "pos-paris-1", 1)]
    assert report.journeys[1].revenue == day["store"].total

    only_app = await KpiService(shop).report(since=day["since"], until=day["until"],
                                             channels=["app"])
    assert [r.channel for r in only_app.channels] == ["app"]
    assert [(j.from_channel, j.to_channel) for j in only_app.journeys] == [("web", "app")]

    # the day before holds only the old order; by default, the last 30 days hold both days
    before = await KpiService(shop).report(since=day["since"] - dt.timedelta(days=1),
                                           until=day["since"])
    assert (row(before, "web").carts_created, row(before, "web").orders) == (1, 1)
    assert row(before, "app").orders == 0
    default = await KpiService(shop).report()
    assert row(default, "web").carts_created == 6


async def test_a_bad_period_is_refused(shop: Commerce) -> None:
    now = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    kpis = KpiService(shop)
    with pytest.raises(InvalidInput) as backwards:
        await kpis.report(since=now, until=now - dt.timedelta(days=1))
    assert backwards.value.field == "since"
    with pytest.raises(InvalidInput) as naive:
        await kpis.report(since=dt.datetime(2026, 3, 1), until=now)
    assert naive.value.field == "since"
    with pytest.raises(InvalidInput) as endless:
        await kpis.report(since=now - dt.timedelta(days=5000), until=now)
    assert endless.value.field == "since"
    empty = await kpis.report(since=now - dt.timedelta(days=1), until=now)
    assert all(r.carts_created == r.orders == 0 for r in empty.channels)
    assert empty.journeys == []
