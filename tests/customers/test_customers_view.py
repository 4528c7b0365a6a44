"""The 360° view (clienteling): what it shows, and that it costs a fixed number of queries."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import insert

from omnicore import Commerce
from omnicore.customers import ContactChannel
from omnicore.store.tables import cart_lines, carts, customer_activity
from omnicore.store.uow import Tx
from omnicore.testing import FakeClock, counting_statements, paris_address, seed_minimal


@pytest.fixture
async def shop(commerce: Commerce) -> Commerce:
    await seed_minimal(commerce)
    await commerce.catalog.save_products([
        {"handle": f"item-{i:02}", "title": f"Item {i:02}",
         "family": ("shirts", "shoes", None)[i % 3],
         "variants": [{"sku": f"SKU-{i:02}", "title": "One size"}]}
        for i in range(25)
    ])
    return commerce


async def add_cart(commerce: Commerce, cart_id: str, customer_id: str | None, quantities: list[int],
                   *, status: str = "open") -> None:
    now = commerce.clock()
    async with commerce.db.transaction() as conn:
        await conn.execute(insert(carts).values(
            id=cart_id, channel_code="web", currency="EUR", customer_id=customer_id,
            status=status, version=1, attributes={}, discount_codes=[], handoff_consent=False,
            created_at=now, updated_at=now,
        ))
        for position, quantity in enumerate(quantities):
            await conn.execute(insert(cart_lines).values(
                id=f"{cart_id}-{position}", cart_id=cart_id, sku="TEE-M", quantity=quantity,
                fulfilment="ship", position=position, added_at=now,
            ))


counting = counting_statements


async def test_the_view_shows_the_whole_customer(shop: Commerce, clock: FakeClock) -> None:
    jean = await shop.customers.create(email="jean@example.com", first_name="Jean",
                                       identities=[{"kind": "loyalty_card", "value": "C1"}])
    other = await shop.customers.create(email="other@example.com")
    await shop.customers.set_consent(jean.id, "email", True, source="web-signup")
    await shop.customers.set_consent(jean.id, "sms", False, source="pos")
    await shop.customers.add_address(jean.id, paris_address(), label="home")
    for i in range(25):
        clock.advance(60)
        await shop.customers.record_activity(jean.id, "product_viewed", channel="web",
                                             sku=f"SKU-{i:02}")
    clock.advance(60)
    await shop.customers.record_activity(jean.id, "product_viewed", channel="web", sku="SKU-03")
    for _ in range(2):
        await shop.customers.record_activity(jean.id, "search", channel="web", query="linen",
                                             category="sale")
    await shop.customers.add_favourite(jean.id, "TEE-M", channel="web")
    await shop.customers.record_activity(other.id, "product_viewed", channel="web", sku="SKU-00")
    await add_cart(shop, "cart-old", jean.id, [1, 2])
    clock.advance(60)
    await add_cart(shop, "cart-new", jean.id, [])
    await add_cart(shop, "cart-done", jean.id, [4], status="completed")
    await add_cart(shop, "cart-other", other.id, [1])
    await add_cart(shop, "cart-anonymous", None, [1])

    view = await shop.customers.view(jean.id)

    assert view.customer.id == jean.id and view.customer.first_name == "Jean"
    assert [i.value for i in view.customer.identities] == ["jean@example.com", "C1"]
    assert {c: d.granted for c, d in view.consents.items()} == {
        ContactChannel.EMAIL: True, ContactChannel.SMS: False}
    assert [a.label for a in view.addresses] == ["home"]
    assert [(c.id, c.line_count, c.quantity) for c in view.open_carts] == [
        ("cart-new", 0, 0), ("cart-old", 2, 3)]
    assert view.open_carts[0].channel == "web" and view.open_carts[0].updated_at == clock.now
    assert [(f.sku, f.title) for f in view.favourites] == [("TEE-M", "Classic tee")]
    # the last 20 distinct SKUs viewed, most recent first, with their product's title
    recent = view.recently_viewed
    assert [v.sku for v in recent] == ["SKU-03", *[f"SKU-{i:02}" for i in range(24, 5, -1)]]
    assert len(recent) == 20
    assert (recent[0].views, recent[0].product_title, recent[0].variant_title) == (
        2, "Item 03", "One size")
    assert recent[0].last_viewed_at == clock.now - dt.timedelta(minutes=1)
    # categories: the event's own, else the product family (9 shirts + SKU-03 again, 8 shoes)
    assert [(c.category, c.events) for c in view.top_categories] == [
        ("shirts", 10), ("shoes", 8), ("sale", 2)]
    assert (view.orders, view.loyalty, view.extra) == ([], [], {})


async def test_registered_sections_fill_orders_and_loyalty(shop: Commerce) -> None:
    jean = await shop.customers.create(email="jean@example.com")
    duplicate = await shop.customers.create(phone="0612345678")
    await shop.customers.merge(jean.id, duplicate.id, actor="staff:ana")
    asked: list[str] = []

    async def orders(tx: Tx, customer_id: str) -> list[dict[str, Any]]:
        asked.append(customer_id)
        return [{"id": "ord-1", "channel": "web"}]

    async def loyalty(tx: Tx, customer_id: str) -> list[dict[str, Any]]:
        return [{"card": "C1", "points": 120}]

    async def wishlists(tx: Tx, customer_id: str) -> dict[str, int]:
        return {"count": 2}

    shop.customers.view_sections.update(orders=orders, loyalty=loyalty, wishlists=wishlists)
    view = await shop.customers.view(duplicate.id)
    assert asked == [jean.id]  # sections see the survivor
    assert view.orders == [{"id": "ord-1", "channel": "web"}]
    assert view.loyalty == [{"card": "C1", "points": 120}]
    assert view.extra == {"wishlists": {"count": 2}}


async def test_the_view_costs_the_same_queries_for_5_or_505_events(
    shop: Commerce, clock: FakeClock
) -> None:
    jean = await shop.customers.create(email="jean@example.com")
    for i in range(5):
        await shop.customers.record_activity(jean.id, "product_viewed", channel="web",
                                             sku=f"SKU-{i:02}")
    await add_cart(shop, "cart-1", jean.id, [1, 1])
    with counting(shop) as few:
        small = await shop.customers.view(jean.id)

    async with shop.db.transaction() as conn:
        await conn.execute(insert(customer_activity), [
            {"customer_id": jean.id, "kind": "product_viewed", "channel_code": "web",
             "sku": f"SKU-{i % 25:02}", "category": None, "location_code": None, "data": {},
             "occurred_at": clock.advance(1)}
            for i in range(500)
        ])
    with counting(shop) as many:
        large = await shop.customers.view(jean.id)

    assert len(many) == len(few) <= 15
    assert len(small.recently_viewed) == 5
    assert [v.sku for v in large.recently_viewed] == [f"SKU-{i:02}" for i in range(24, 4, -1)]
    assert {v.views for v in large.recently_viewed} == {20}
    assert [(c.category, c.events) for c in large.top_categories] == [
        ("shirts", 2 + 9 * 20), ("shoes", 2 + 8 * 20)]
