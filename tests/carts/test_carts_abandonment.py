"""``cart.abandoned``: once per idle spell, with where the products wait for the customer."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers.cart_world import build_world, events

from omnicore import Commerce
from omnicore.carts import _abandonment as cart_abandonment
from omnicore.errors import InvalidInput
from omnicore.testing import FakeClock


@pytest.fixture
async def shop(commerce: Commerce) -> Commerce:
    await build_world(commerce)
    return commerce


def stores(payload: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(s["location"], s["why"], s["available"], s["has_everything"])
            for s in payload["stores"]]


async def test_an_idle_cart_is_reported_once_until_touched_again(
    shop: Commerce, clock: FakeClock
) -> None:
    jean = await shop.customers.create(email="jean@example.com", preferred_store="paris-2")
    cart = await shop.carts.create("web", customer_id=jean.id)
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 2},
                                                {"sku": "TEE-L", "quantity": 1}], version=1)
    clock.advance(minutes=59)
    assert await shop.carts.sweep_abandoned() == 0
    clock.advance(minutes=1)
    assert await shop.carts.sweep_abandoned() == 1
    assert await shop.carts.sweep_abandoned() == 0
    clock.advance(hours=5)
    assert await shop.carts.sweep_abandoned() == 0
    [payload] = await events(shop, "cart.abandoned")
    assert (payload["cart_id"], payload["customer_id"], payload["channel"]) == (
        cart.id, jean.id, "web")
    assert payload["last_activity_at"] == cart.updated_at.isoformat()
    assert [(line["sku"], line["quantity"], line["held"]) for line in payload["lines"]] == [
        ("TEE-M", 2, False), ("TEE-L", 1, False)]  # the holds expired long ago
    # The preferred store first, then the three pickup stores nearest to it.
    assert stores(payload) == [
        ("paris-2", "preferred_store", {"TEE-M": 2, "TEE-L": 0}, False),
        ("paris-1", "nearby", {"TEE-M": 3, "TEE-L": 1}, True),
        ("marais", "nearby", {"TEE-M": 0, "TEE-L": 0}, False),
        ("lyon-1", "nearby", {"TEE-M": 0, "TEE-L": 0}, False),
    ]
    assert payload["stores"][0]["distance_km"] == 0.0
    assert 2 < payload["stores"][1]["distance_km"] < payload["stores"][2]["distance_km"] < 5
    assert (await shop.carts.get(cart.id)).abandoned_at is not None

    # Touching the cart re-arms it: the next idle spell is reported again.
    cart = await shop.carts.get(cart.id)
    cart = await shop.carts.update_lines(cart.id, [{"line_id": cart.lines[1].id, "quantity": 2}],
                                         version=cart.version)
    assert cart.abandoned_at is None
    clock.advance(minutes=61)
    assert await shop.carts.sweep_abandoned() == 1
    assert len(await events(shop, "cart.abandoned")) == 2


async def test_what_is_not_abandoned(shop: Commerce, clock: FakeClock) -> None:
    await shop.carts.create("web")  # empty
    jean = await shop.customers.create(email="jean@example.com")
    theirs = await shop.carts.create("web", customer_id=jean.id)
    anonymous = await shop.carts.create("web")
    await shop.carts.add_lines(anonymous.id, [{"sku": "TEE-M", "quantity": 1}], version=1)
    await shop.carts.attach_customer(anonymous.id, jean.id, version=2)  # merged: not reported
    clock.advance(minutes=30)
    fresh = await shop.carts.create("web")
    await shop.carts.add_lines(fresh.id, [{"sku": "TEE-M", "quantity": 1}], version=1)
    clock.advance(minutes=31)
    assert await shop.carts.sweep_abandoned() == 1  # the customer's cart, with the merged line
    assert [e["cart_id"] for e in await events(shop, "cart.abandoned")] == [theirs.id]
    assert await shop.carts.sweep_abandoned(idle=dt.timedelta(minutes=30)) == 1  # fresh
    for bad in (dt.timedelta(0), 60):
        with pytest.raises(InvalidInput) as caught:
            await shop.carts.sweep_abandoned(idle=bad)  # type: ignore[arg-type]
        assert caught.value.field == "idle"


async def test_stores_without_a_preferred_store(shop: Commerce, clock: FakeClock) -> None:
    pickup = await shop.carts.create("web")
    await shop.carts.add_lines(pickup.id, [
        {"sku": "TEE-L", "quantity": 1, "fulfilment": "pickup", "location": "paris-1"}],
        version=1)
    shipping = await shop.carts.create("app")
    await shop.carts.add_lines(shipping.id, [{"sku": "TEE-M", "quantity": 2}], version=1)
    clock.advance(minutes=61)
    assert await shop.carts.sweep_abandoned(limit=1) == 2  # batch after batch
    found = {e["cart_id"]: e for e in await events(shop, "cart.abandoned")}
    # A pickup line's store is the anchor.
    assert stores(found[pickup.id])[:2] == [
        ("paris-1", "pickup_location", {"TEE-L": 1}, True),
        ("marais", "nearby", {"TEE-L": 0}, False),
    ]
    # Shipping only, anonymous: the channel's pickup stores that can serve the most.
    assert stores(found[shipping.id]) == [
        ("paris-1", "channel_store", {"TEE-M": 3}, True),
        ("paris-2", "channel_store", {"TEE-M": 2}, True),
    ]


async def test_the_idle_time_comes_from_the_configuration(db_url: str, clock: FakeClock) -> None:
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             config={"carts": {"abandon_after_minutes": 10}}) as shop:
        await build_world(shop)
        cart = await shop.carts.create("web")
        await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1}], version=1)
        clock.advance(minutes=10)
        assert await shop.carts.sweep_abandoned() == 1


@pytest.fixture
async def sweepers(db_url: str, clock: FakeClock) -> AsyncIterator[list[Commerce]]:
    opened = [
        await Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False)
        for _ in range(3)
    ]
    yield opened
    for instance in opened:
        await instance.close()


async def test_concurrent_sweepers_report_each_cart_once(
    shop: Commerce, sweepers: list[Commerce], clock: FakeClock, db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = []
    for _ in range(6):
        cart = await shop.carts.create("web")
        await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1}], version=1)
        ids.append(cart.id)
    clock.advance(minutes=61)
    if not db_url.startswith("sqlite"):
        # Make every sweeper see every candidate before any of them claims one.
        barrier = asyncio.Barrier(len(sweepers))
        real = cart_abandonment.idle_carts

        async def idle_carts(*args: Any) -> list[str]:
            found = await real(*args)
            await asyncio.wait_for(barrier.wait(), timeout=20)
            return found

        monkeypatch.setattr(cart_abandonment, "idle_carts", idle_carts)
    counts = await asyncio.gather(*(s.carts.sweep_abandoned() for s in sweepers))
    assert sum(counts) == 6, counts
    reported = [e["cart_id"] for e in await events(shop, "cart.abandoned")]
    assert sorted(reported) == sorted(ids)


async def test_the_worker_sweeps_abandoned_carts(db_url: str, clock: FakeClock) -> None:
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             config={"outbox": {"sweep_interval_seconds": 0.05}}) as shop:
        await build_world(shop)
        cart = await shop.carts.create("web")
        await shop.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1}], version=1)
        clock.advance(minutes=61)
        stop = asyncio.Event()
        worker = asyncio.create_task(shop.run_worker(stop))
        try:
            for _ in range(200):
                if await events(shop, "cart.abandoned"):
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await worker
        assert [e["cart_id"] for e in await events(shop, "cart.abandoned")] == [cart.id]
