"""Orders in the single customer view: the 360° view, merges, export and erasure."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers.cart_world import build_world
from sqlalchemy import insert, select

from omnicore import Commerce
from omnicore.customers import OrderSummary
from omnicore.errors import NotFound
from omnicore.money import Money
from omnicore.orders import Order, OrderStatus
from omnicore.store.order_tables import checkouts, delivery_groups, order_lines, orders
from omnicore.store.tables import carts, outbox_events
from omnicore.testing import FakeClock, counting_statements

SECRETS = ("ines.moreau@example.com", "+33612345678", "Ines Moreau", "7 impasse Secrete",
           "digicode 4242", "AMZN-INES")
AMAZON = {"code": "amazon-fr", "name": "Amazon FR", "kind": "marketplace", "currency": "EUR",
          "locations": [{"location": "wh", "priority": 0}]}


@pytest.fixture
async def shop(commerce: Commerce) -> AsyncIterator[Commerce]:
    await build_world(commerce)
    await commerce.stock.receive("TEE-M", "wh", 90, source="seed")
    await commerce.channels.save(AMAZON)
    yield commerce


INES_HOME = {
    "key": "home", "kind": "ship", "method": "standard",
    "address": {"line1": "7 impasse Secrete", "city": "Paris", "postal_code": "75011",
                "country": "FR"},
    "geo": {"lat": 48.86, "lng": 2.38}, "recipient": "Ines Moreau", "phone": "+33612345678",
    "instructions": "digicode 4242"}
OTHER_HOME = {
    "key": "home", "kind": "ship", "method": "standard",
    "address": {"line1": "1 place Publique", "city": "Lyon", "postal_code": "69001",
                "country": "FR"}, "recipient": "Omar Other"}


async def web_order(commerce: Commerce, key: str, *, customer_id: str | None = None,
                    email: str | None = None, phone: str | None = None,
                    home: dict[str, Any] = INES_HOME) -> Order:
    """A web checkout shipped ``home`` (Ines'), paid in store (``manual``)."""
    cart = await commerce.carts.create("web", customer_id=customer_id)
    cart = await commerce.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1}],
                                          version=cart.version)
    cart = await commerce.carts.set_delivery(cart.id, [home], version=cart.version)
    return await commerce.checkout(cart.id, payments=[{"gateway": "manual"}],
                                   idempotency_key=key, customer_id=customer_id, email=email,
                                   phone=phone)


async def amazon_order(commerce: Commerce, external_id: str, customer: dict[str, Any],
                       **given: Any) -> Order:
    return await commerce.orders.import_external(
        "amazon", external_id, channel="amazon-fr",
        lines=[{"sku": "TEE-M", "quantity": 1, "unit_price": "21.00"}], customer=customer,
        shipping_address={"line1": "7 impasse Secrete", "city": "Paris",
                          "postal_code": "75011", "country": "FR",
                          "recipient": "Ines Moreau", "phone": "+33612345678"}, **given)


async def till_sale(commerce: Commerce, external_id: str, customer: dict[str, Any]) -> Order:
    return await commerce.orders.import_external(
        "square", external_id, channel="pos-paris-1", fulfilled=True, location="paris-1",
        lines=[{"sku": "TEE-M", "quantity": 1, "unit_price": "19.90"}], customer=customer)


counting = counting_statements


async def add_orders(commerce: Commerce, customer_id: str, count: int) -> None:
    """Orders written straight to the table (the view reads their rows only)."""
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    async with commerce.db.transaction() as conn:
        await conn.execute(insert(orders), [
            {"id": f"ord_bulk_{i:03}", "number": f"9{i:05}", "channel_code": "web",
             "customer_id": customer_id, "status": "completed", "currency": "EUR",
             "email": None, "phone": None, "subtotal_minor": 1000 + i, "discount_minor": 0,
             "shipping_minor": 0, "adjustments_minor": 0, "total_minor": 1000 + i,
             "source": "", "external_id": None, "cart_id": None, "origin_channel": "web",
             "capture_policy": "immediate", "details": {},
             "placed_at": start + dt.timedelta(days=i), "updated_at": start}
            for i in range(count)])


# -- the 360° view -------------------------------------------------------------------------------


async def test_the_view_lists_the_orders_of_every_channel_newest_first(
    shop: Commerce, clock: FakeClock,
) -> None:
    ines = await shop.customers.create(email="ines.moreau@example.com", phone="0612345678")
    other = await shop.customers.create(email="other@example.com")
    web = await web_order(shop, "k-1", customer_id=ines.id)
    clock.advance(3600)
    sold = await till_sale(shop, "SQ-1", {"phone": "06 12 34 56 78"})
    clock.advance(3600)
    await web_order(shop, "k-other", customer_id=other.id)
    marketplace = await amazon_order(
        shop, "402-1", {"email": "Ines.Moreau@Example.com"},
        placed_at=clock.now - dt.timedelta(minutes=30))

    view = await shop.customers.view(ines.id)

    assert view.orders == [
        OrderSummary(marketplace.id, marketplace.number, "amazon-fr", OrderStatus.PAID,
                     Money("21.00", "EUR"), clock.now - dt.timedelta(minutes=30), "amazon",
                     "402-1"),
        OrderSummary(sold.id, sold.number, "pos-paris-1", OrderStatus.COMPLETED,
                     Money("19.90", "EUR"), clock.now - dt.timedelta(hours=1), "square",
                     "SQ-1"),
        OrderSummary(web.id, web.number, "web", web.status, web.total,
                     clock.now - dt.timedelta(hours=2), "", None),
    ]
    assert view.order_count == 3


async def test_the_view_lists_the_newest_50_orders_in_a_fixed_number_of_queries(
    shop: Commerce,
) -> None:
    ines = await shop.customers.create(email="ines.moreau@example.com")
    await add_orders(shop, ines.id, 1)
    with counting(shop) as few:
        one = await shop.customers.view(ines.id)
    async with shop.db.transaction() as conn:
        await conn.execute(orders.delete())
    await add_orders(shop, ines.id, 60)
    with counting(shop) as many:
        sixty = await shop.customers.view(ines.id)

    assert (len(one.orders), one.order_count) == (1, 1)
    assert len(many) == len(few)
    assert sixty.order_count == 60
    assert [o.number for o in sixty.orders] == [f"9{i:05}" for i in range(59, 9, -1)]
    assert sixty.orders[0].total == Money("10.59", "EUR")


# -- merges --------------------------------------------------------------------------------------


async def test_a_merge_moves_the_orders_to_the_survivor(shop: Commerce, clock: FakeClock
                                                        ) -> None:
    ines = await shop.customers.create(email="ines.moreau@example.com")
    web = await web_order(shop, "k-1", customer_id=ines.id)
    clock.advance(60)
    marketplace = await amazon_order(shop, "402-1", {"external_id": "AMZN-INES",
                                                     "email": "relay-77@amazon.example"})
    duplicate = marketplace.customer_id
    assert duplicate not in (None, ines.id)

    merge = await shop.customers.merge(ines.id, duplicate, actor="staff:ana")

    assert merge.summary["orders"] == {"moved": 1}
    assert {o.id for o in await shop.orders.for_customer(ines.id)} == {web.id, marketplace.id}
    assert [o.id for o in (await shop.customers.view(duplicate)).orders] == [
        marketplace.id, web.id]
    moved = await shop.orders.get(marketplace.id)
    assert (moved.customer_id, moved.email) == (ines.id, "relay-77@amazon.example")
    # the buyer id came along: the next Amazon order is hers directly
    later = await amazon_order(shop, "402-2", {"external_id": "AMZN-INES"})
    assert later.customer_id == ines.id


# -- privacy -------------------------------------------------------------------------------------


async def test_the_export_holds_the_orders(shop: Commerce, clock: FakeClock) -> None:
    ines = await shop.customers.create(email="ines.moreau@example.com")
    web = await web_order(shop, "k-1", customer_id=ines.id)
    clock.advance(60)
    marketplace = await amazon_order(shop, "402-1", {"email": "ines.moreau@example.com"})

    data = await shop.customers.export(ines.id)

    json.dumps(data)  # JSON-ready as it is
    assert [(o["number"], o["channel_code"], o["source"], o["total_minor"], o["currency"])
            for o in data["orders"]] == [(web.number, "web", "", web.total.minor_units, "EUR"),
                                         (marketplace.number, "amazon-fr", "amazon", 2100,
                                          "EUR")]
    first = data["orders"][0]
    assert first["email"] == "ines.moreau@example.com"
    assert [(li["sku"], li["quantity"]) for li in first["lines"]] == [("TEE-M", 1)]
    assert first["delivery_groups"][0]["address"]["line1"] == "7 impasse Secrete"
    assert first["delivery_groups"][0]["details"]["recipient"] == "Ines Moreau"
    assert [(p["gateway"], p["status"]) for p in data["orders"][1]["payments"]] == [
        ("external:amazon", "captured")]


async def test_erasure_keeps_the_orders_without_personal_data(shop: Commerce) -> None:
    ines = await shop.customers.create(email="ines.moreau@example.com", phone="06 12 34 56 78",
                                       first_name="Ines")
    mine = await web_order(shop, "k-1", customer_id=ines.id, phone="06 12 34 56 78")
    guest = await web_order(shop, "k-guest", email="Ines.Moreau@example.com")
    marketplace = await amazon_order(shop, "402-1", {"external_id": "AMZN-INES",
                                                     "email": "ines.moreau@example.com"})
    other = await shop.customers.create(email="other@example.com")
    kept = await web_order(shop, "k-other", customer_id=other.id, home=OTHER_HOME)
    assert marketplace.customer_id == ines.id and guest.customer_id is None
    before = await stored(shop)
    assert [s for s in SECRETS if s.lower() not in before] == []

    erasure = await shop.customers.erase(ines.id, actor="privacy:req-7")

    assert erasure.removed["orders_anonymised"] == 3
    after_erasure = await stored(shop)
    assert [s for s in SECRETS if s.lower() in after_erasure] == []
    for order in (mine, guest, marketplace):
        after = await shop.orders.get(order.id)
        # kept for the accounts, with its customer key (an erased row that says nothing)
        assert (after.number, after.total, after.customer_id) == (
            order.number, order.total, order.customer_id)
        assert [(li.sku, li.quantity) for li in after.lines] == [("TEE-M", 1)]
        assert (after.email, after.phone) == (None, None)
        assert [(g.address, g.details["recipient"], g.details["phone"],
                 g.details["instructions"], g.details["geo"]) for g in after.groups] == [
            (None, None, None, None, None)]
        assert after.groups[0].method == order.groups[0].method
        with pytest.raises(NotFound):
            await shop.orders.track(order.number, email="ines.moreau@example.com")
    untouched = await shop.orders.get(kept.id)
    assert untouched.email == "other@example.com"
    assert untouched.groups[0].details["recipient"] == "Omar Other"  # not hers to erase


async def stored(commerce: Commerce) -> str:
    """The order tables, the checkouts, the carts and the outbox, as one lower-case text."""
    dumped: list[str] = []
    async with commerce.db.read() as conn:
        for table in (orders, order_lines, delivery_groups, checkouts, carts, outbox_events):
            dumped.extend(repr(tuple(row)) for row in await conn.execute(select(table)))
    return "\n".join(dumped).lower()
