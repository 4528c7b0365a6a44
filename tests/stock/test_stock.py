"""Unified stock (DESIGN.md §4) through ``commerce.stock``, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers.stock_world import build_world, invariant_violations, location, snapshot

from omnicore import Commerce
from omnicore.errors import Conflict, InvalidInput, NotFound, OmnicoreError, OutOfStock
from omnicore.stock import HoldKind, HoldPart, LevelInput, MovementKind
from omnicore.testing import FakeClock, RecordingPlugin

pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture
async def world(commerce: Commerce) -> None:
    await build_world(commerce)


@pytest.fixture
async def recorded(
    db_url: str, clock: FakeClock
) -> AsyncIterator[tuple[Commerce, RecordingPlugin]]:
    """A Commerce whose events are delivered (on ``drain``) to a recording plugin."""
    rec = RecordingPlugin()
    async with Commerce.open(db_url, clock=clock, plugins=[rec], dispatch=False,
                             load_entry_points=False, auto_migrate=True) as commerce:
        await build_world(commerce)
        await commerce.outbox.drain()
        rec.events.clear()
        yield commerce, rec


async def events(commerce: Commerce, rec: RecordingPlugin, topic: str | None = None) -> list[Any]:
    """Deliver what is due and return (then forget) the payloads recorded so far."""
    await commerce.outbox.drain()
    found = [e for e in rec.events if topic is None or e.topic == topic]
    rec.events.clear()
    return [e.payload if topic else (e.topic, e.payload) for e in found]


def by_channel(payload: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {c["channel"]: (c["available"], c["previous"]) for c in payload["channels"]}


async def ledger_sum(commerce: Commerce, sku: str, location: str) -> int:
    return sum(m.delta for m in await commerce.stock.ledger(sku, location))


async def assert_invariants(commerce: Commerce) -> None:
    async with commerce.db.read() as conn:
        assert await invariant_violations(conn, commerce.clock()) == []


# -- the ledger ---------------------------------------------------------------------------


async def test_movements_keep_on_hand_equal_to_the_ledger(commerce: Commerce) -> None:
    stock = commerce.stock
    assert (await stock.receive("TEE-M", "wh", 20, source="erp", note="PO-1")).on_hand == 20
    assert (await stock.adjust("TEE-M", "wh", -3, source="staff:ana", note="damaged")).on_hand == 17
    assert (await stock.adjust("TEE-M", "wh", 1, source="staff:ana", note="found")).on_hand == 18
    assert (await stock.count("TEE-M", "wh", 15, source="staff:bob")).on_hand == 15
    assert (await stock.sell("TEE-M", "wh", 2, source="pos-paris-1")).on_hand == 13
    await stock.receive("TEE-M", "paris-1", 4, source="erp")

    ledger = await stock.ledger("TEE-M", "wh")
    assert [(m.kind, m.delta) for m in ledger] == [
        (MovementKind.RECEIPT, 20), (MovementKind.ADJUSTMENT, -3), (MovementKind.ADJUSTMENT, 1),
        (MovementKind.COUNT, -3), (MovementKind.SALE, -2),
    ]
    assert [m.source for m in ledger] == ["erp", "staff:ana", "staff:ana", "staff:bob",
                                          "pos-paris-1"]
    assert ledger[0].note == "PO-1" and ledger[0].created_at == commerce.clock()
    for where in ("wh", "paris-1"):
        level = await stock.level("TEE-M", where)
        assert level.on_hand == await ledger_sum(commerce, "TEE-M", where)
    assert (await stock.level("TEE-M", "paris-1")).on_hand == 4
    # A count equal to what is on hand writes nothing.
    await stock.count("TEE-M", "wh", 13, source="staff:bob")
    assert len(await stock.ledger("TEE-M", "wh")) == 5
    # An unknown (sku, location) pair of known objects is simply empty.
    empty = await stock.level("CAP", "paris-2")
    assert (empty.on_hand, empty.available) == (0, 0)
    await assert_invariants(commerce)


async def test_transfer_is_in_transit_until_received(commerce: Commerce) -> None:
    stock = commerce.stock
    await stock.receive("TEE-M", "wh", 10, source="erp")
    transfer = await stock.transfer("TEE-M", "wh", "paris-1", 4, source="staff", note="restock")
    assert (transfer.status, transfer.quantity, transfer.received_at) == ("in_transit", 4, None)

    assert (await stock.level("TEE-M", "wh")).on_hand == 6
    assert (await stock.level("TEE-M", "paris-1")).on_hand == 0
    assert [t.id for t in await stock.in_transit("TEE-M")] == [transfer.id]
    web = await stock.availability("TEE-M", channel="web")
    assert web.total == 6  # units on the road are sold by nobody

    received = await stock.receive_transfer(transfer.id, source="paris-1")
    assert (received.status, received.received_at) == ("received", commerce.clock())
    assert (await stock.level("TEE-M", "paris-1")).on_hand == 4
    assert await stock.in_transit("TEE-M") == []
    assert (await stock.availability("TEE-M", channel="web")).total == 10
    assert [(m.kind, m.delta) for m in await stock.ledger("TEE-M", "wh")][-1] == (
        MovementKind.TRANSFER_OUT, -4)
    assert [(m.kind, m.delta) for m in await stock.ledger("TEE-M", "paris-1")] == [
        (MovementKind.TRANSFER_IN, 4)]

    before = await snapshot(commerce)
    with pytest.raises(Conflict) as twice:
        await stock.receive_transfer(transfer.id, source="paris-1")
    assert twice.value.field == "transfer_id"
    with pytest.raises(NotFound) as unknown:
        await stock.receive_transfer("trf_nope", source="paris-1")
    assert unknown.value.field == "transfer_id"
    with pytest.raises(OutOfStock) as short:
        await stock.transfer("TEE-M", "wh", "paris-2", 7, source="staff")
    assert (short.value.available, short.value.requested) == (6, 7)
    assert await snapshot(commerce) == before
    await assert_invariants(commerce)


async def test_held_units_cannot_be_transferred_or_sold(commerce: Commerce) -> None:
    stock = commerce.stock
    await stock.receive("TEE-M", "wh", 5, source="erp")
    await stock.hold("TEE-M", 4, channel="web", location="wh")
    with pytest.raises(OutOfStock):
        await stock.transfer("TEE-M", "wh", "paris-1", 2, source="staff")
    with pytest.raises(OutOfStock) as sold:
        await stock.sell("TEE-M", "wh", 2, source="pos")
    assert sold.value.available == 1
    assert (await stock.sell("TEE-M", "wh", 1, source="pos")).on_hand == 4
    await assert_invariants(commerce)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.receive("TEE-M", "wh", 5, source="erp", external_id="asn-1"),
        lambda s: s.adjust("TEE-M", "wh", -2, source="erp", external_id="asn-1"),
        lambda s: s.count("TEE-M", "wh", 3, source="erp", external_id="asn-1"),
        lambda s: s.sell("TEE-M", "wh", 1, source="erp", external_id="asn-1"),
    ],
    ids=["receive", "adjust", "count", "sell"],
)
async def test_replay_of_the_same_source_and_external_id_changes_nothing(
    commerce: Commerce, call: Any
) -> None:
    stock = commerce.stock
    await stock.receive("TEE-M", "wh", 10, source="seed")
    first = await call(stock)
    before = await snapshot(commerce)
    second = await call(stock)  # the POS / marketplace sync replays its batch
    assert second == first
    assert await snapshot(commerce) == before  # same level, same ledger, no new event
    # The external id is unique per source only: another source's "asn-1" is new.
    await stock.receive("TEE-M", "wh", 1, source="other-pos", external_id="asn-1")
    assert (await snapshot(commerce))["movements"] == before["movements"] + 1


# -- holds --------------------------------------------------------------------------------


async def test_hold_splits_across_the_channels_locations_by_priority(commerce: Commerce) -> None:
    stock = commerce.stock
    await stock.receive("TEE-M", "wh", 3, source="erp")
    await stock.receive("TEE-M", "paris-1", 5, source="erp")

    hold = await stock.hold("TEE-M", 6, channel="web", reference="cart-1")
    assert hold.parts == [HoldPart("wh", 3), HoldPart("paris-1", 3)]  # warehouse first
    assert (hold.kind, hold.quantity, hold.reference) == (HoldKind.CART, 6, "cart-1")
    assert hold.expires_at == commerce.clock() + dt.timedelta(seconds=900)
    assert await stock.get_hold(hold.id) == hold
    assert (await stock.level("TEE-M", "wh")).reserved == 3
    assert (await stock.level("TEE-M", "paris-1")).available == 2
    await stock.release(hold.id)

    # The channel's priorities decide: the store first now.
    await commerce.channels.save({
        "code": "web", "name": "Web shop", "kind": "web", "currency": "EUR",
        "locations": [{"location": "wh", "priority": 5}, {"location": "paris-1", "priority": 1}],
    })
    hold = await stock.hold("TEE-M", 6, channel="web")
    assert hold.parts == [HoldPart("paris-1", 5), HoldPart("wh", 1)]

    # A hold at a given location takes from there only.
    await stock.release(hold.id)
    store = await stock.hold("TEE-M", 2, channel="web", location="paris-1")
    assert store.parts == [HoldPart("paris-1", 2)]
    with pytest.raises(OutOfStock) as info:
        await stock.hold("TEE-M", 4, channel="web", location="paris-1")
    assert (info.value.available, info.value.by_location) == (3, {"paris-1": 3})
    # The till sells from its own shelf, which the web shop's hold has reduced.
    assert (await stock.availability("TEE-M", channel="pos-paris-1")).total == 3
    await assert_invariants(commerce)


async def test_out_of_stock_says_what_is_available_where(commerce: Commerce) -> None:
    stock = commerce.stock
    await stock.receive("TEE-M", "wh", 3, source="erp")
    await stock.receive("TEE-M", "paris-1", 2, source="erp")
    before = await snapshot(commerce)
    with pytest.raises(OutOfStock) as info:
        await stock.hold("TEE-M", 6, channel="web")
    error = info.value
    assert (error.code, error.sku, error.requested, error.available) == (
        "out_of_stock", "TEE-M", 6, 5)
    assert error.by_location == {"wh": 3, "paris-1": 2}
    assert error.field == "quantity"
    assert await snapshot(commerce) == before  # all or nothing: no partial hold
    assert len((await stock.hold("TEE-M", 5, channel="web")).parts) == 2


async def test_buffer_and_safety_stock_hide_units_but_never_change_on_hand(
    commerce: Commerce,
) -> None:
    stock = commerce.stock
    await stock.receive("TEE-M", "wh", 10, source="erp")
    assert (await stock.availability("TEE-M", channel="amazon")).total == 8  # buffer 2
    assert (await stock.availability("TEE-M", channel="web")).total == 10

    level = await stock.set_safety_stock("TEE-M", "wh", 1)
    assert (level.on_hand, level.safety_stock, level.available) == (10, 1, 9)
    amazon = await stock.availability("TEE-M", channel="amazon")
    assert (amazon.total, amazon.locations[0].available, amazon.locations[0].on_hand) == (7, 7, 10)
    assert (await stock.availability("TEE-M", channel="web")).total == 9

    with pytest.raises(OutOfStock) as info:
        await stock.hold("TEE-M", 8, channel="amazon")
    assert info.value.available == 7
    await stock.hold("TEE-M", 7, channel="amazon")
    assert (await stock.availability("TEE-M", channel="amazon")).total == 0
    assert (await stock.availability("TEE-M", channel="web")).total == 2  # not web's buffer
    await stock.hold("TEE-M", 2, channel="web")
    level = await stock.level("TEE-M", "wh")
    assert (level.on_hand, level.reserved, level.available) == (10, 9, 0)
    assert [m.delta for m in await stock.ledger("TEE-M", "wh")] == [10]
    with pytest.raises(OutOfStock):
        await stock.sell("TEE-M", "wh", 1, source="pos")  # the safety unit is not for sale

    # Raising the safety stock beyond what is free revokes cart holds to keep the invariant.
    await stock.set_safety_stock("TEE-M", "wh", 4)
    level = await stock.level("TEE-M", "wh")
    assert (level.on_hand, level.reserved) == (10, 6)
    await assert_invariants(commerce)


async def test_an_expired_hold_stops_counting_the_instant_it_expires(
    commerce: Commerce, clock: FakeClock
) -> None:
    stock = commerce.stock
    await stock.receive("TEE-M", "wh", 10, source="erp")
    hold = await stock.hold("TEE-M", 4, channel="web", ttl=dt.timedelta(minutes=5))
    assert hold.expires_at == clock.now + dt.timedelta(minutes=5)
    with pytest.raises(OutOfStock):
        await stock.hold("TEE-M", 7, channel="web")

    clock.now = hold.expires_at - dt.timedelta(microseconds=1)
    assert (await stock.availability("TEE-M", channel="web")).total == 6
    clock.now = hold.expires_at  # no sweeper has run
    assert (await stock.availability("TEE-M", channel="web")).total == 10
    assert (await stock.level("TEE-M", "wh")).reserved == 0
    new = await stock.hold("TEE-M", 10, channel="web")  # the expired units are free again
    assert new.parts == [HoldPart("wh", 10)]
    with pytest.raises(NotFound):
        await stock.get_hold(hold.id)  # reclaimed by the new hold
    await assert_invariants(commerce)


async def test_sweep_deletes_expired_holds_and_tells_consumers(
    recorded: tuple[Commerce, RecordingPlugin], clock: FakeClock
) -> None:
    commerce, rec = recorded
    stock = commerce.stock
    await stock.receive("TEE-M", "wh", 10, source="erp")
    expired = await stock.hold("TEE-M", 4, channel="web", reference="cart-9")
    kept = await stock.hold("TEE-M", 1, channel="web", ttl=dt.timedelta(hours=2))
    await events(commerce, rec)

    clock.advance(minutes=15)
    assert (await stock.availability("TEE-M", channel="web")).total == 9
    async with commerce.db.read() as conn:  # still a row: only sweeping deletes it
        assert await invariant_violations(conn, clock.now) == []
    assert await stock.sweep() == 4
    with pytest.raises(NotFound):
        await stock.get_hold(expired.id)
    assert (await stock.get_hold(kept.id)).quantity == 1
    assert await stock.sweep() == 0

    seen = await events(commerce, rec)
    assert [t for t, _ in seen] == ["stock.hold_expired", "stock.changed"]
    assert seen[0][1] == {"hold_id": expired.id, "sku": "TEE-M", "location": "wh", "quantity": 4,
                          "channel": "web", "reference": "cart-9"}
    changed = seen[1][1]
    assert (changed["sku"], changed["reason"]) == ("TEE-M", "expiry")
    assert changed["locations"] == [{"location": "wh", "on_hand": 10, "safety_stock": 0,
                                     "reserved": 1, "available": 9}]
    assert by_channel(changed)["web"] == (9, 5)


async def test_release_gives_units_back(recorded: tuple[Commerce, RecordingPlugin]) -> None:
    commerce, rec = recorded
    stock = commerce.stock
    await stock.receive("TEE-M", "wh", 5, source="erp")
    hold = await stock.hold("TEE-M", 5, channel="web", reference="cart-1")
    assert (await stock.availability("TEE-M", channel="web")).total == 0
    await events(commerce, rec)
    released = await stock.release(hold.id)
    assert released.quantity == 5
    assert (await stock.availability("TEE-M", channel="web")).total == 5
    assert (await stock.level("TEE-M", "wh")).reserved == 0
    topics = await events(commerce, rec)
    assert topics[0] == ("stock.hold_released", {"hold_id": hold.id, "sku": "TEE-M",
                                                 "quantity": 5, "channel": "web",
                                                 "reference": "cart-1"})
    with pytest.raises(NotFound) as again:
        await stock.release(hold.id)
    assert again.value.field == "hold_id"


async def test_extend(commerce: Commerce, clock: FakeClock) -> None:
    stock = commerce.stock
    await stock.receive("TEE-M", "paris-1", 5, source="erp")
    hold = await stock.hold("TEE-M", 2, channel="pos-paris-1")
    assert hold.expires_at == clock.now + dt.timedelta(seconds=600)  # the channel's TTL

    clock.advance(300)
    extended = await stock.extend(hold.id, dt.timedelta(hours=1))  # exactly the maximum
    assert extended.expires_at == clock.now + dt.timedelta(hours=1)
    assert (await stock.get_hold(hold.id)).expires_at == extended.expires_at
    clock.advance(minutes=30)  # past the first expiry, within the extended one
    assert (await stock.level("TEE-M", "paris-1")).reserved == 2

    before = await snapshot(commerce)
    with pytest.raises(InvalidInput) as too_long:
        await stock.extend(hold.id, dt.timedelta(seconds=3601))
    assert too_long.value.field == "ttl"
    with pytest.raises(InvalidInput) as negative:
        await stock.extend(hold.id, dt.timedelta(seconds=-5))
    assert negative.value.field == "ttl"
    assert await snapshot(commerce) == before

    clock.now = extended.expires_at
    with pytest.raises(Conflict) as expired:
        await stock.extend(hold.id, dt.timedelta(minutes=5))
    assert expired.value.field == "hold_id"
    with pytest.raises(NotFound):
        await stock.extend("hold_unknown", dt.timedelta(minutes=5))


async def test_allocation_does_not_expire(commerce: Commerce, clock: FakeClock) -> None:
    stock = commerce.stock
    await stock.receive("TEE-M", "wh", 5, source="erp")
    hold = await stock.hold("TEE-M", 3, channel="web", reference="cart-1")
    allocation = await stock.allocate(hold.id, reference="order-1001")
    assert (allocation.kind, allocation.expires_at, allocation.reference) == (
        HoldKind.ALLOCATION, None, "order-1001")
    assert await stock.allocate(hold.id) == allocation  # idempotent

    clock.advance(days=1)
    assert await stock.sweep() == 0
    assert (await stock.level("TEE-M", "wh")).reserved == 3
    assert (await stock.availability("TEE-M", channel="web")).total == 2
    assert (await stock.get_hold(hold.id)).kind is HoldKind.ALLOCATION
    with pytest.raises(Conflict):
        await stock.extend(hold.id, dt.timedelta(minutes=5))

    cart = await stock.hold("TEE-M", 1, channel="web")
    clock.advance(hours=1)
    with pytest.raises(Conflict) as late:
        await stock.allocate(cart.id)  # a cart hold that expired cannot become an order's
    assert late.value.field == "hold_id"
    await assert_invariants(commerce)


async def test_consume_takes_the_held_units_off_the_shelf(
    recorded: tuple[Commerce, RecordingPlugin], clock: FakeClock
) -> None:
    commerce, rec = recorded
    stock = commerce.stock
    await stock.receive("TEE-M", "wh", 2, source="erp")
    await stock.receive("TEE-M", "paris-1", 5, source="erp")
    hold = await stock.hold("TEE-M", 4, channel="web", reference="order-7")
    await stock.allocate(hold.id)
    await events(commerce, rec)

    consumed = await stock.consume(hold.id, source="wms", external_id="ship-7")
    assert consumed.quantity == 4
    wh, store = await stock.level("TEE-M", "wh"), await stock.level("TEE-M", "paris-1")
    assert (wh.on_hand, wh.reserved, store.on_hand, store.reserved) == (0, 0, 3, 0)
    assert (await stock.ledger("TEE-M", "wh"))[-1].kind is MovementKind.SALE
    last = (await stock.ledger("TEE-M", "paris-1"))[-1]
    assert (last.kind, last.delta, last.source, last.note) == (MovementKind.SALE, -2, "wms",
                                                               "order-7")
    assert (await stock.availability("TEE-M", channel="web")).total == 3  # unchanged
    with pytest.raises(NotFound):
        await stock.get_hold(hold.id)
    seen = await events(commerce, rec)
    assert ("stock.consumed", {"hold_id": hold.id, "sku": "TEE-M", "quantity": 4,
                               "reference": "order-7"}) in seen
    changed = next(p for t, p in seen if t == "stock.changed")
    assert by_channel(changed)["web"] == (3, 3)

    cart = await stock.hold("TEE-M", 1, channel="web")
    clock.advance(hours=1)
    before = await snapshot(commerce)
    with pytest.raises(Conflict):
        await stock.consume(cart.id, source="wms")
    assert await snapshot(commerce) == before
    await assert_invariants(commerce)


async def test_a_count_below_what_is_held_revokes_cart_holds_first(
    recorded: tuple[Commerce, RecordingPlugin], clock: FakeClock
) -> None:
    commerce, rec = recorded
    stock = commerce.stock
    await stock.receive("TEE-M", "wh", 10, source="erp")
    order = await stock.allocate((await stock.hold("TEE-M", 3, channel="web")).id, reference="o-1")
    clock.advance(1)
    older = await stock.hold("TEE-M", 4, channel="web", reference="cart-old")
    clock.advance(1)
    newer = await stock.hold("TEE-M", 2, channel="web", reference="cart-new")
    await events(commerce, rec)

    await stock.count("TEE-M", "wh", 6, source="staff")  # 9 held, 6 on the shelf
    level = await stock.level("TEE-M", "wh")
    assert (level.on_hand, level.reserved) == (6, 6)
    with pytest.raises(NotFound):
        await stock.get_hold(newer.id)  # newest cart hold goes first
    assert (await stock.get_hold(older.id)).quantity == 3
    assert (await stock.get_hold(order.id)).quantity == 3
    revoked = await events(commerce, rec, "stock.hold_revoked")
    assert [(p["hold_id"], p["revoked"], p["remaining"], p["kind"]) for p in revoked] == [
        (newer.id, 2, 0, "cart"), (older.id, 1, 3, "cart")]
    await assert_invariants(commerce)

    await stock.set_safety_stock("TEE-M", "wh", 1)
    await stock.adjust("TEE-M", "wh", -3, source="staff")  # 3 on hand, 1 kept back: 2 holdable
    assert (await stock.get_hold(order.id)).quantity == 2  # only then the order's
    with pytest.raises(NotFound):
        await stock.get_hold(older.id)
    await assert_invariants(commerce)

    await stock.count("TEE-M", "wh", 0, source="staff")
    assert (await stock.level("TEE-M", "wh")).reserved == 0
    await assert_invariants(commerce)


# -- events -------------------------------------------------------------------------------


async def test_stock_changed_tells_each_channel_what_it_may_sell(
    recorded: tuple[Commerce, RecordingPlugin],
) -> None:
    commerce, rec = recorded
    stock = commerce.stock
    await stock.receive("TEE-M", "wh", 10, source="erp")
    [changed] = await events(commerce, rec, "stock.changed")
    assert (changed["sku"], changed["reason"]) == ("TEE-M", "receipt")
    # Every channel selling from the warehouse, and only those: a connector pushes this as is.
    assert by_channel(changed) == {"amazon": (8, 0), "web": (10, 0)}

    await stock.receive("TEE-M", "paris-1", 3, source="erp")
    [changed] = await events(commerce, rec, "stock.changed")
    assert by_channel(changed) == {"pos-paris-1": (3, 0), "web": (13, 10)}
    assert changed["locations"][0]["location"] == "paris-1"

    await stock.hold("TEE-M", 4, channel="web")  # from the warehouse (priority 0)
    [changed] = await events(commerce, rec, "stock.changed")
    assert changed["reason"] == "hold"
    assert by_channel(changed) == {"amazon": (4, 8), "web": (9, 13)}

    await stock.set_safety_stock("TEE-M", "paris-1", 1)
    [changed] = await events(commerce, rec, "stock.changed")
    assert by_channel(changed) == {"pos-paris-1": (2, 3), "web": (8, 9)}


async def test_low_out_and_back_in_stock_fire_when_a_channel_crosses_them(
    recorded: tuple[Commerce, RecordingPlugin],
) -> None:
    commerce, rec = recorded
    stock = commerce.stock
    await stock.set_low_threshold("TEE-M", 3)
    await stock.receive("TEE-M", "paris-1", 10, source="erp")  # web and the till see 10
    assert await events(commerce, rec, "stock.back_in_stock") == [
        {"sku": "TEE-M", "channel": "pos-paris-1", "available": 10, "previous": 0},
        {"sku": "TEE-M", "channel": "web", "available": 10, "previous": 0},
    ]

    await stock.hold("TEE-M", 6, channel="web")  # 4 left: not low yet
    assert [t for t, _ in await events(commerce, rec)] == ["stock.changed"]
    hold = await stock.hold("TEE-M", 1, channel="web")  # 3 left: crosses the threshold
    low = await events(commerce, rec, "stock.low")
    assert [(p["channel"], p["available"], p["previous"], p["threshold"]) for p in low] == [
        ("pos-paris-1", 3, 4, 3), ("web", 3, 4, 3)]
    await stock.sell("TEE-M", "paris-1", 1, source="pos-paris-1")  # already low: no repeat
    assert await events(commerce, rec, "stock.low") == []

    await stock.sell("TEE-M", "paris-1", 2, source="pos-paris-1")
    out = await events(commerce, rec)
    assert [(t, p["channel"]) for t, p in out if t != "stock.changed"] == [
        ("stock.out", "pos-paris-1"), ("stock.out", "web")]

    await stock.release(hold.id)
    back = await events(commerce, rec, "stock.back_in_stock")
    assert [(p["channel"], p["available"]) for p in back] == [("pos-paris-1", 1), ("web", 1)]

    # The default threshold is 5.
    await stock.receive("CAP", "wh", 8, source="erp")
    await events(commerce, rec)
    await stock.sell("CAP", "wh", 3, source="pos")
    low = await events(commerce, rec, "stock.low")
    assert [(p["channel"], p["available"], p["threshold"]) for p in low] == [
        ("amazon", 3, 5), ("web", 5, 5)]


# -- reading ------------------------------------------------------------------------------


async def test_availability_many(commerce: Commerce) -> None:
    skus = [f"BULK-{i:04d}" for i in range(1200)]
    await commerce.catalog.save_products([
        {"handle": f"bulk-{p}", "title": f"Bulk {p}",
         "variants": [{"sku": s} for s in skus[p * 100:(p + 1) * 100]]}
        for p in range(12)
    ])
    await commerce.stock.set_levels(
        [{"sku": s, "location": "wh", "on_hand": i % 7} for i, s in enumerate(skus)]
        + [{"sku": s, "location": "paris-1", "on_hand": 1} for s in skus[::2]]
    )
    result = await commerce.stock.availability_many([*skus, "TEE-M"], channel="web")
    assert len(result) == 1201
    for i, sku in enumerate(skus):
        assert result[sku].total == i % 7 + (1 if i % 2 == 0 else 0), sku
        assert [loc.location for loc in result[sku].locations] == ["wh", "paris-1"]
    assert result["TEE-M"].total == 0
    amazon = await commerce.stock.availability_many(skus[:10], channel="amazon")
    assert [amazon[s].total for s in skus[:10]] == [0, 0, 0, 1, 2, 3, 4, 0, 0, 0]


async def test_nearby_finds_stores_with_stock(commerce: Commerce, clock: FakeClock) -> None:
    # Monday 2026-03-02 09:30 UTC = 10:30 in Paris.
    locations = commerce.locations
    await locations.save(location("versailles", "store", 48.8049, 2.1204, capabilities=["pickup"],
                                  hours={"weekly": {d: [{"open": "10:00", "close": "19:00"}]
                                                    for d in ("tue", "wed", "thu", "fri")}}))
    await locations.save(location("lyon-1", "store", 45.7640, 4.8357, capabilities=["pickup"],
                                  hours={"weekly": {"mon": [{"open": "09:00", "close": "20:00"}]}}))
    await locations.save(location("marais", "store", 48.8590, 2.3750, capabilities=["ship"],
                                  hours={"weekly": {"mon": [{"open": "08:00", "close": "20:00"}]}}))
    await locations.save(location("nyc-1", "store", 40.7400, -73.9900, timezone="America/New_York",
                                  capabilities=["pickup"],
                                  hours={"weekly": {"mon": [{"open": "10:00", "close": "19:00"}]}}))
    await commerce.channels.save({
        "code": "app", "name": "App", "kind": "app", "currency": "EUR",
        "locations": [{"location": c} for c in ("paris-1", "paris-2", "versailles", "lyon-1",
                                                "marais", "nyc-1")]
        + [{"location": "wh"}],
    })
    stock = commerce.stock
    for where in ("paris-1", "versailles", "lyon-1", "marais", "nyc-1", "wh"):
        await stock.receive("TEE-M", where, 3, source="erp")
        await stock.receive("CAP", where, 1, source="erp")
    await stock.receive("TEE-M", "paris-2", 2, source="erp")  # paris-2 has no CAP

    louvre = {"lat": 48.8611, "lng": 2.3358}
    found = await stock.nearby(["TEE-M", "CAP"], near=louvre, channel="app", radius_km=25)
    codes = [n.location.code for n in found]
    # Every-SKU locations first by distance, then partial ones; lyon is out of range.
    assert codes == ["paris-1", "marais", "wh", "versailles", "paris-2"]
    assert [n.distance_km for n in found[:4]] == sorted(n.distance_km for n in found[:4])
    assert found[-1].distance_km < found[1].distance_km  # paris-2 is closer, but partial
    paris, marais, wh, versailles, paris2 = found
    assert paris.quantities == {"TEE-M": 3, "CAP": 1} and paris.serves_all
    assert paris2.quantities == {"TEE-M": 2, "CAP": 0} and not paris2.serves_all
    assert paris.distance_km < 0.2 and 2 < marais.distance_km < 3

    # Opening hours in the location's own time zone (10:30 in Paris, not 09:30 UTC).
    paris_tz = dt.timezone(dt.timedelta(hours=1))
    assert (paris.open_now, paris.pickup_today) == (True, True)
    assert paris.closes_at == dt.datetime(2026, 3, 2, 19, 0, tzinfo=paris_tz)
    assert paris.next_opening == dt.datetime(2026, 3, 3, 10, 0, tzinfo=paris_tz)
    assert (marais.open_now, marais.pickup_today) == (True, False)  # no pickup desk
    assert (wh.open_now, wh.next_opening, wh.pickup_today) == (False, None, False)
    assert (versailles.open_now, versailles.pickup_today) == (False, False)  # closed Mondays
    assert versailles.next_opening == dt.datetime(2026, 3, 3, 10, 0, tzinfo=paris_tz)
    assert (paris2.open_now, paris2.pickup_today) == (True, False)  # lacks a SKU

    # New York at 04:30 local: closed now, opens at 10:00 today, so pickup today.
    [nyc] = await stock.nearby(["TEE-M"], near={"lat": 40.75, "lng": -73.98}, channel="app")
    assert (nyc.open_now, nyc.pickup_today) == (False, True)
    assert nyc.next_opening == dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
    clock.advance(hours=15)  # 19:30 local: closed, next opening next Monday
    [nyc] = await stock.nearby(["TEE-M"], near={"lat": 40.75, "lng": -73.98}, channel="app")
    assert (nyc.open_now, nyc.pickup_today) == (False, False)
    assert nyc.next_opening == dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC)
    clock.advance(hours=-15)

    needed = await stock.nearby(["TEE-M", "CAP"], near=louvre, channel="app", require_all=True)
    assert "paris-2" not in [n.location.code for n in needed] and len(needed) == 4
    near = await stock.nearby(["TEE-M"], near=louvre, channel="app", radius_km=3)
    assert [n.location.code for n in near] == ["paris-1", "paris-2", "marais"]
    assert len(await stock.nearby(["TEE-M"], near=louvre, channel="app", limit=2)) == 2
    far = await stock.nearby(["TEE-M"], near=louvre, channel="app", radius_km=500)
    assert "lyon-1" in [n.location.code for n in far]

    # Units held elsewhere are not offered; a location with nothing left disappears.
    await stock.hold("TEE-M", 3, channel="app", location="paris-1")
    await stock.hold("CAP", 1, channel="app", location="paris-1")
    near = await stock.nearby(["TEE-M", "CAP"], near=louvre, channel="app", radius_km=3)
    assert [n.location.code for n in near] == ["marais", "paris-2"]

    for bad, field in [({"radius_km": 0}, "radius_km"), ({"radius_km": 501}, "radius_km"),
                       ({"limit": 0}, "limit"), ({"near": {"lat": 91, "lng": 0}}, "near.lat")]:
        with pytest.raises(InvalidInput) as info:
            await stock.nearby(["TEE-M"], **{"near": louvre, "channel": "app", **bad})
        assert info.value.field == field
    with pytest.raises(InvalidInput) as info:
        await stock.nearby([], near=louvre, channel="app")
    assert info.value.field == "skus"


# -- bad input ----------------------------------------------------------------------------


NOT_QUANTITIES = [0, -1, 1.5, True, "2", None]
BAD_CALLS = [
    *[(f"receive-{q!r}", lambda s, q=q: s.receive("TEE-M", "wh", q, source="erp"),
       InvalidInput, "quantity") for q in NOT_QUANTITIES],
    *[(f"sell-{q!r}", lambda s, q=q: s.sell("TEE-M", "wh", q, source="pos"),
       InvalidInput, "quantity") for q in NOT_QUANTITIES],
    *[(f"hold-{q!r}", lambda s, q=q: s.hold("TEE-M", q, channel="web"),
       InvalidInput, "quantity") for q in NOT_QUANTITIES],
    *[(f"transfer-{q!r}", lambda s, q=q: s.transfer("TEE-M", "wh", "paris-1", q, source="s"),
       InvalidInput, "quantity") for q in NOT_QUANTITIES],
    *[(f"adjust-{d!r}", lambda s, d=d: s.adjust("TEE-M", "wh", d, source="staff"),
       InvalidInput, "delta") for d in (0, 1.5, True, "-2", None)],
    *[(f"count-{q!r}", lambda s, q=q: s.count("TEE-M", "wh", q, source="staff"),
       InvalidInput, "quantity") for q in (-1, 1.5, True, "2", None)],
    ("safety-negative", lambda s: s.set_safety_stock("TEE-M", "wh", -1), InvalidInput, "quantity"),
    ("threshold-float", lambda s: s.set_low_threshold("TEE-M", 2.5), InvalidInput, "threshold"),
    ("adjust-below-zero", lambda s: s.adjust("TEE-M", "wh", -11, source="staff"),
     InvalidInput, "delta"),
    ("receive-no-source", lambda s: s.receive("TEE-M", "wh", 1, source=" "), InvalidInput,
     "source"),
    ("receive-unknown-sku", lambda s: s.receive("NOPE", "wh", 1, source="erp"), NotFound, "sku"),
    ("receive-unknown-location", lambda s: s.receive("TEE-M", "mars", 1, source="erp"),
     NotFound, "location"),
    ("adjust-unknown-sku", lambda s: s.adjust("NOPE", "wh", 1, source="erp"), NotFound, "sku"),
    ("count-unknown-location", lambda s: s.count("TEE-M", "mars", 1, source="erp"),
     NotFound, "location"),
    ("sell-unknown-sku", lambda s: s.sell("NOPE", "wh", 1, source="pos"), NotFound, "sku"),
    ("sell-too-many", lambda s: s.sell("TEE-M", "wh", 11, source="pos"), OutOfStock, "quantity"),
    ("transfer-same-location", lambda s: s.transfer("TEE-M", "wh", "wh", 1, source="s"),
     InvalidInput, "to_location"),
    ("transfer-unknown-from", lambda s: s.transfer("TEE-M", "mars", "wh", 1, source="s"),
     NotFound, "from_location"),
    ("transfer-unknown-to", lambda s: s.transfer("TEE-M", "wh", "mars", 1, source="s"),
     NotFound, "to_location"),
    ("transfer-unknown-sku", lambda s: s.transfer("NOPE", "wh", "paris-1", 1, source="s"),
     NotFound, "sku"),
    ("hold-unknown-sku", lambda s: s.hold("NOPE", 1, channel="web"), NotFound, "sku"),
    ("hold-unknown-channel", lambda s: s.hold("TEE-M", 1, channel="tv"), NotFound, "channel"),
    ("hold-location-not-sold-by-channel",
     lambda s: s.hold("TEE-M", 1, channel="amazon", location="paris-1"), InvalidInput, "location"),
    ("hold-unknown-location", lambda s: s.hold("TEE-M", 1, channel="web", location="mars"),
     InvalidInput, "location"),
    ("hold-ttl-above-max",
     lambda s: s.hold("TEE-M", 1, channel="web", ttl=dt.timedelta(seconds=86_401)),
     InvalidInput, "ttl"),
    ("hold-ttl-zero", lambda s: s.hold("TEE-M", 1, channel="web", ttl=dt.timedelta(0)),
     InvalidInput, "ttl"),
    ("hold-too-many", lambda s: s.hold("TEE-M", 11, channel="web"), OutOfStock, "quantity"),
    ("release-unknown", lambda s: s.release("hold_nope"), NotFound, "hold_id"),
    ("consume-unknown", lambda s: s.consume("hold_nope", source="wms"), NotFound, "hold_id"),
    ("allocate-unknown", lambda s: s.allocate("hold_nope"), NotFound, "hold_id"),
    ("set-levels-one-bad-row",
     lambda s: s.set_levels([LevelInput("TEE-M", "wh", 1), LevelInput("TEE-L", "mars", 1)]),
     InvalidInput, "[1].location"),
    ("set-levels-negative",
     lambda s: s.set_levels([{"sku": "TEE-M", "location": "wh", "on_hand": 1},
                             {"sku": "TEE-L", "location": "wh", "on_hand": -1}]),
     InvalidInput, "[1].on_hand"),
]


async def test_bad_input_is_a_typed_error_and_changes_nothing(commerce: Commerce) -> None:
    """Every bad call raises the typed error naming the field; level, ledger, holds,
    transfers and outbox are identical afterwards (one database, every case in turn)."""
    stock = commerce.stock
    await stock.receive("TEE-M", "wh", 10, source="erp")
    await stock.hold("TEE-M", 2, channel="web", reference="cart-0")
    before = await snapshot(commerce)
    failures = []
    for name, call, error, field in BAD_CALLS:
        try:
            await call(stock)
        except OmnicoreError as exc:
            if (type(exc), exc.field) != (error, field) or not exc.message:
                failures.append(f"{name}: {type(exc).__name__}({exc.field!r}): {exc}")
        else:
            failures.append(f"{name}: no error")
        if await snapshot(commerce) != before:
            failures.append(f"{name}: changed the stock")
            before = await snapshot(commerce)
    assert failures == []


# -- bulk ---------------------------------------------------------------------------------


async def test_set_levels_is_all_or_nothing_and_revokes_over_held(commerce: Commerce) -> None:
    stock = commerce.stock
    await stock.receive("TEE-M", "wh", 10, source="erp")
    hold = await stock.hold("TEE-M", 6, channel="web")
    result = await stock.set_levels([
        {"sku": "TEE-M", "location": "wh", "on_hand": 4},
        {"sku": "TEE-L", "location": "paris-1", "on_hand": 3, "safety_stock": 1},
        LevelInput("CAP", "wh", 0),
    ], source="wms")
    assert (result.levels, result.movements) == (3, 2)  # CAP at 0 was already 0
    assert (await stock.get_hold(hold.id)).quantity == 4
    level = await stock.level("TEE-L", "paris-1")
    assert (level.on_hand, level.safety_stock, level.available) == (3, 1, 2)
    assert [(m.kind, m.delta, m.source) for m in await stock.ledger("TEE-M", "wh")][-1] == (
        MovementKind.COUNT, -6, "wms")
    await assert_invariants(commerce)
