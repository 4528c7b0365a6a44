"""The one reserve path (``omnicore.stock.reserve``): what every hold goes through — a
hold of ``commerce.stock``, a cart line's, a checkout's allocation, an imported order's —
on SQLite and on PostgreSQL, whichever statements the dialect runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers.stock_world import build_world, invariant_violations

from omnicore import Commerce
from omnicore.errors import InvalidInput, NotFound, OutOfStock
from omnicore.stock import HoldKind, HoldPart, Reservation, StockChanges, reserve
from omnicore.testing import FakeClock, RecordingPlugin


@pytest.fixture
async def recorded(
    db_url: str, clock: FakeClock
) -> AsyncIterator[tuple[Commerce, RecordingPlugin]]:
    rec = RecordingPlugin()
    async with Commerce.open(db_url, clock=clock, plugins=[rec], dispatch=False,
                             load_entry_points=False, auto_migrate=True) as commerce:
        await build_world(commerce)
        for sku in ("TEE-M", "TEE-L", "CAP"):
            await commerce.stock.receive(sku, "wh", 10, source="erp")
            await commerce.stock.receive(sku, "paris-1", 5, source="erp")
        await commerce.outbox.drain()
        rec.events.clear()
        yield commerce, rec


async def changed(commerce: Commerce, rec: RecordingPlugin) -> list[dict[str, Any]]:
    await commerce.outbox.drain()
    found = [e.payload for e in rec.events if e.topic == "stock.changed"]
    rec.events.clear()
    return found


async def test_a_holds_events_are_exact_while_other_levels_hold_expired_units(
    recorded: tuple[Commerce, RecordingPlugin], clock: FakeClock
) -> None:
    """The figures a hold's update returns count the expired units of its own level only
    (SQLite once subtracted every level's expired holds: ``reserved`` -2, ``available`` 12)."""
    commerce, rec = recorded
    await commerce.stock.hold("TEE-L", 3, channel="web", location="wh",
                              ttl=dt.timedelta(minutes=1))
    await commerce.stock.hold("CAP", 2, channel="web", location="paris-1",
                              ttl=dt.timedelta(minutes=1))
    clock.advance(minutes=2)  # both expired, neither swept
    await changed(commerce, rec)
    for location in ("wh", None):
        await commerce.stock.hold("TEE-M", 1, channel="web", location=location)
    first, second = await changed(commerce, rec)
    assert first["locations"] == [{"location": "wh", "on_hand": 10, "safety_stock": 0,
                                   "reserved": 1, "available": 9}]
    assert second["locations"] == [{"location": "wh", "on_hand": 10, "safety_stock": 0,
                                    "reserved": 2, "available": 8}]
    assert {c["channel"]: c["available"] for c in second["channels"]} == {
        "amazon": 6, "web": 13}


async def test_a_hold_at_a_location_reports_what_the_planned_hold_reports(
    recorded: tuple[Commerce, RecordingPlugin], clock: FakeClock
) -> None:
    """On PostgreSQL a hold at a location is one statement that reads, reserves and
    writes; a hold without one reads, plans, then reserves. Same hold, same events."""
    commerce, rec = recorded
    at = await commerce.stock.hold("TEE-M", 4, channel="web", location="wh", reference="r1")
    planned = await commerce.stock.hold("TEE-L", 4, channel="web", reference="r1")
    for hold in (at, planned):
        assert (hold.quantity, hold.channel, hold.kind, hold.parts, hold.reference) == (
            4, "web", HoldKind.CART, [HoldPart("wh", 4)], "r1")
        assert hold.expires_at == clock.now + dt.timedelta(seconds=900)  # web's hold_ttl
    first, second = await changed(commerce, rec)
    assert first["sku"] == "TEE-M" and second["sku"] == "TEE-L"
    assert {k: v for k, v in first.items() if k != "sku"} == {
        k: v for k, v in second.items() if k != "sku"}
    assert first["channels"] == [
        {"channel": "amazon", "available": 4, "previous": 8},
        {"channel": "web", "available": 11, "previous": 15},
    ]


async def test_a_hold_at_a_location_that_cannot_be_taken_at_once_says_why(
    recorded: tuple[Commerce, RecordingPlugin], clock: FakeClock
) -> None:
    """When the one statement matches nothing it wrote nothing: the planned path runs in
    the same transaction, reclaims expired holds or raises the typed error."""
    commerce, _ = recorded
    stock = commerce.stock
    old = await stock.hold("TEE-M", 10, channel="web", location="wh",
                           ttl=dt.timedelta(minutes=1))
    clock.advance(minutes=2)
    new = await stock.hold("TEE-M", 10, channel="web", location="wh")  # reclaims ``old``
    assert new.parts == [HoldPart("wh", 10)]
    with pytest.raises(NotFound):
        await stock.get_hold(old.id)
    with pytest.raises(OutOfStock) as out:
        await stock.hold("TEE-M", 1, channel="web", location="wh")
    assert (out.value.available, out.value.by_location) == (0, {"wh": 0})
    with pytest.raises(InvalidInput) as bad:
        await stock.hold("TEE-M", 1, channel="amazon", location="paris-1")
    assert bad.value.field == "location"
    with pytest.raises(InvalidInput) as bad:
        await stock.hold("TEE-M", 1, channel="pos-paris-1", location="paris-1",
                         ttl=dt.timedelta(hours=2))  # above the till's maximum of 1 h
    assert bad.value.field == "ttl"
    with pytest.raises(NotFound) as unknown:
        await stock.hold("NOPE", 1, channel="web", location="wh")
    assert unknown.value.field == "sku"
    with pytest.raises(NotFound) as unknown:
        await stock.hold("TEE-M", 1, channel="nope", location="wh")
    assert unknown.value.field == "channel"
    assert (await stock.level("TEE-M", "wh")).reserved == 10


async def test_reserve_takes_a_planned_allocation_in_the_callers_transaction(
    commerce: Commerce,
) -> None:
    """What checkout and order imports do: parts chosen by sourcing, no expiry, written in
    their own transaction — and nothing of it if that transaction fails."""
    await build_world(commerce)
    await commerce.stock.receive("TEE-M", "wh", 5, source="erp")
    await commerce.stock.receive("TEE-M", "paris-1", 2, source="erp")
    ask = Reservation.allocation("web", "TEE-M", [("paris-1", 2, 0), ("wh", 3, 0)],
                                 reference="WEB-1")
    async with commerce.uow() as tx:
        reserved = await reserve(tx, ask, StockChanges("allocation"))
    hold = reserved.hold
    assert (hold.kind, hold.expires_at, hold.quantity, hold.reference) == (
        HoldKind.ALLOCATION, None, 5, "WEB-1")
    assert hold.parts == [HoldPart("paris-1", 2), HoldPart("wh", 3)]
    assert reserved.after[("TEE-M", "wh")].reserved == 3
    assert await commerce.stock.get_hold(hold.id) == hold

    class Failed(Exception):
        pass

    with pytest.raises(Failed):
        async with commerce.uow() as tx:
            await reserve(tx, Reservation.allocation("web", "TEE-M", [("wh", 2, 0)],
                                                     reference="WEB-2"), StockChanges("x"))
            raise Failed
    assert (await commerce.stock.level("TEE-M", "wh")).reserved == 3
    async with commerce.db.read() as conn:
        assert await invariant_violations(conn, commerce.clock()) == []


def test_a_reservation_is_consistent() -> None:
    with pytest.raises(ValueError, match="add up"):
        Reservation("web", "TEE-M", 3, HoldKind.ALLOCATION, parts=(("wh", 2, 0),))
    with pytest.raises(ValueError, match="ttl"):
        Reservation("web", "TEE-M", 2, HoldKind.CART, parts=(("wh", 2, 0),))
    cart = Reservation("web", "TEE-M", 2, HoldKind.CART, ttl=dt.timedelta(minutes=5),
                       parts=(("wh", 2, 0),))
    assert cart.parts == (("wh", 2, 0),)
