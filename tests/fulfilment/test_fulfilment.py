"""Fulfilment: pick, pack, ship, deliver; click & collect with a code; pickup expiry."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.card_gateway import CardGateway, Payments
from helpers.cart_world import build_world, events, held
from sqlalchemy import select

from omnicore import Commerce, hookimpl
from omnicore.errors import Conflict, Forbidden, InvalidInput, NotFound
from omnicore.fulfilment._codes import ALPHABET
from omnicore.money import Money
from omnicore.orders import FulfilmentStatus, Order, OrderStatus, PaymentStatus
from omnicore.orders._state import FULFILMENT_TRANSITIONS
from omnicore.payments import PaymentGateway
from omnicore.sourcing import Assignment, SourcingPlan
from omnicore.store.order_tables import (
    fulfilment_lines,
    fulfilments,
    order_history,
    order_lines,
    orders,
    payment_transactions,
    payments,
)
from omnicore.store.tables import outbox_events, stock_holds, stock_levels, stock_movements
from omnicore.testing import FakeClock

F = FulfilmentStatus
HOME = {"key": "home", "kind": "ship", "method": "standard",
        "address": {"line1": "3 rue de Rivoli", "city": "Paris", "postal_code": "75004",
                    "country": "FR"},
        "geo": {"lat": 48.8556, "lng": 2.3590}}
STATE_TABLES = (orders, order_lines, order_history, fulfilments, fulfilment_lines, payments,
                payment_transactions, stock_holds, stock_levels, stock_movements, outbox_events)


class TransferFromWarehouse:
    """Sourcing that sends every pickup line from ``wh`` to its store (a transfer)."""

    name = "transfer-sourcing"

    @hookimpl
    def choose_sources(self, commerce: Commerce, request: Any) -> SourcingPlan:
        eta = request.now + dt.timedelta(hours=48)
        return SourcingPlan(
            [Assignment(line.line_id, line.sku, line.group, "wh", line.quantity,
                        transfer_to=request.group(line.group).pickup_location, eta=eta)
             for line in request.lines],
            ["every pickup line travels from wh"])


Opener = Callable[..., Awaitable[Commerce]]


@pytest.fixture
def gateway() -> CardGateway:
    return CardGateway()


@pytest.fixture
async def open_shop(db_url: str, clock: FakeClock, gateway: CardGateway
                    ) -> AsyncIterator[Opener]:
    opened: list[Commerce] = []

    async def opener(*plugins: object, world: bool = True, **sections: Any) -> Commerce:
        commerce = await Commerce.open(
            db_url, clock=clock, dispatch=False, load_entry_points=False,
            plugins=[Payments(gateway), *plugins],
            config={"database": {"pool_size": 5}, **sections})
        opened.append(commerce)
        if world:
            await build_world(commerce)
        return commerce

    yield opener
    for commerce in opened:
        await commerce.close()


@pytest.fixture
async def shop(open_shop: Opener) -> Commerce:
    return await open_shop()


async def place(commerce: Commerce, lines: list[dict[str, Any]], *,
                delivery: list[dict[str, Any]] | None = None, gateway: str = "card",
                key: str = "k") -> Order:
    cart = await commerce.carts.create("web")
    cart = await commerce.carts.add_lines(cart.id, lines, version=cart.version)
    if delivery:
        cart = await commerce.carts.set_delivery(cart.id, delivery, version=cart.version)
    return await commerce.checkout(cart.id, payments=[{"gateway": gateway}], idempotency_key=key,
                                   email="ada@example.com", phone="+33612345678")


def kind(order: Order, which: str) -> str:
    return next(f.id for f in order.fulfilments if f.kind == which)


async def state(commerce: Commerce) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a fulfilment step could change."""
    async with commerce.db.read() as conn:
        return {t.name: sorted((tuple(r) for r in await conn.execute(select(t))), key=repr)
                for t in STATE_TABLES}


async def movements(commerce: Commerce, sku: str, location: str) -> list[tuple[str, int]]:
    return [(m.kind.value, m.delta) for m in await commerce.stock.ledger(sku, location)
            if m.source != "seed"]


async def topics(commerce: Commerce, prefix: str) -> list[str]:
    async with commerce.db.read() as conn:
        rows = await conn.execute(select(outbox_events.c.topic).order_by(outbox_events.c.id))
        return [t for (t,) in rows if t.startswith(prefix)]


# -- shipping -------------------------------------------------------------------------------------


async def test_ship_flow_consumes_the_allocation_captures_and_emits(
    shop: Commerce, gateway: CardGateway
) -> None:
    order = await place(shop, [{"sku": "TEE-L", "quantity": 2}], delivery=[HOME])
    ful = order.fulfilments[0]
    assert (ful.location, ful.kind, ful.status) == ("wh", "ship", F.OPEN)
    assert await held(shop, "TEE-L", "wh") == 2
    assert (await shop.fulfilment.start_picking(ful.id, actor="ana")).status is F.PICKING
    assert (await shop.orders.get(order.id)).status is OrderStatus.IN_FULFILMENT
    assert (await shop.fulfilment.pack(ful.id)).status is F.PACKED
    assert gateway.amounts("capture") == []

    shipped = await shop.fulfilment.ship(ful.id, carrier="Colissimo", tracking_number="6A1234",
                                         actor="ana")
    assert (shipped.status, shipped.carrier, shipped.tracking_number) == (
        F.SHIPPED, "Colissimo", "6A1234")
    assert await held(shop, "TEE-L", "wh") == 0
    assert await movements(shop, "TEE-L", "wh") == [("sale", -2)]
    assert (await shop.stock.level("TEE-L", "wh")).on_hand == 3
    after = await shop.orders.get(order.id)
    assert after.status is OrderStatus.SHIPPED
    assert gateway.amounts("capture") == [order.total.minor_units]
    assert after.paid == order.total
    payload = (await events(shop, "fulfilment.shipped"))[0]
    assert {k: payload[k] for k in ("fulfilment_id", "order_id", "number", "location", "kind",
                                    "carrier", "tracking_number", "email", "phone",
                                    "previous_status", "actor")} == {
        "fulfilment_id": ful.id, "order_id": order.id, "number": order.number, "location": "wh",
        "kind": "ship", "carrier": "Colissimo", "tracking_number": "6A1234",
        "email": "ada@example.com", "phone": "+33612345678", "previous_status": "packed",
        "actor": "ana"}
    assert payload["lines"] == [{"line_id": order.lines[0].id, "sku": "TEE-L",
                                 "title": order.lines[0].title, "quantity": 2}]
    assert [e["status"] for e in await events(shop, "order.shipped")] == ["shipped"]

    # a retried request changes nothing; another tracking number is a conflict
    before = await state(shop)
    await shop.fulfilment.ship(ful.id, carrier="Colissimo", tracking_number="6A1234")
    assert await state(shop) == before and len(gateway.amounts("capture")) == 1
    with pytest.raises(Conflict) as caught:
        await shop.fulfilment.ship(ful.id, carrier="Colissimo", tracking_number="OTHER")
    assert caught.value.field == "status"

    delivered = await shop.fulfilment.deliver(ful.id)
    assert delivered.status is F.DELIVERED
    assert (await shop.orders.get(order.id)).status is OrderStatus.COMPLETED
    assert await topics(shop, "fulfilment.") == [
        "fulfilment.picking", "fulfilment.packed", "fulfilment.shipped", "fulfilment.delivered"]
    assert (await events(shop, "order.completed"))[0]["number"] == order.number


async def test_partial_shipment_captures_the_part_that_left(
    shop: Commerce, gateway: CardGateway
) -> None:
    order = await place(shop, [
        {"sku": "TEE-M", "quantity": 2},
        {"sku": "TEE-L", "quantity": 1, "fulfilment": "pickup", "location": "paris-1"},
    ], delivery=[HOME])
    assert order.total == Money("64.60", "EUR")
    queue = await shop.fulfilment.for_location("paris-1")
    assert {f.kind for f in queue} == {"ship", "pickup"}  # ship-from-store and the pickup
    with pytest.raises(Conflict) as not_a_pickup:
        await shop.fulfilment.ready_for_pickup(kind(order, "ship"))
    assert not_a_pickup.value.field == "kind"

    await shop.fulfilment.ship(kind(order, "ship"), carrier="DPD", tracking_number="D1")
    after = await shop.orders.get(order.id)
    assert after.status is OrderStatus.PARTIALLY_SHIPPED
    # the two tees that left (2 x 19.90) and the shipping of their group (4.90)
    assert gateway.amounts("capture") == [4470]
    assert after.payments[0].status is PaymentStatus.PARTIALLY_CAPTURED
    assert [f.kind for f in await shop.fulfilment.for_location("paris-1")] == ["pickup"]

    notice = await shop.fulfilment.ready_for_pickup(kind(order, "pickup"))
    await shop.fulfilment.collect(order.number, code=notice.code, location="paris-1")
    assert gateway.amounts("capture") == [4470, 1990]
    final = await shop.orders.get(order.id)
    assert final.paid == order.total
    assert final.payments[0].status is PaymentStatus.CAPTURED


async def test_capture_policy_immediate_captures_at_checkout_not_at_shipment(
    open_shop: Opener, gateway: CardGateway
) -> None:
    shop = await open_shop(orders={"capture_policy": "immediate"})
    order = await place(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    assert order.status is OrderStatus.PAID
    assert gateway.amounts("capture") == [order.total.minor_units]
    await shop.fulfilment.ship(order.fulfilments[0].id, carrier="UPS", tracking_number="1Z")
    assert gateway.amounts("capture") == [order.total.minor_units]
    assert (await shop.orders.get(order.id)).status is OrderStatus.SHIPPED


async def test_a_failed_capture_does_not_undo_the_shipment(
    shop: Commerce, gateway: CardGateway
) -> None:
    order = await place(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    gateway.down.add("capture")
    ful = await shop.fulfilment.ship(order.fulfilments[0].id, carrier="UPS",
                                     tracking_number="1Z")
    assert ful.status is F.SHIPPED
    assert await movements(shop, "TEE-L", ful.location) == [("sale", -1)]
    after = await shop.orders.get(order.id)
    assert after.status is OrderStatus.SHIPPED and after.paid.minor_units == 0
    gateway.down.clear()
    await shop.fulfilment.ship(ful.id, carrier="UPS", tracking_number="1Z")  # the retry
    assert (await shop.orders.get(order.id)).paid == order.total
    assert await movements(shop, "TEE-L", ful.location) == [("sale", -1)]


# -- click & collect ------------------------------------------------------------------------------


async def test_pickup_is_collected_with_its_code_at_its_store(
    shop: Commerce, gateway: CardGateway, clock: FakeClock
) -> None:
    order = await place(shop, [{"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup",
                                "location": "paris-1"}], gateway="manual")
    assert order.payments[0].status is PaymentStatus.PENDING  # pay at pickup
    pickup = order.fulfilments[0].id
    notice = await shop.fulfilment.ready_for_pickup(pickup, actor="ana")
    assert re.fullmatch(f"[{ALPHABET}]{{8}}", notice.code)
    assert notice.expires_at == clock.now + dt.timedelta(days=7)
    assert (notice.location, notice.order_number) == ("paris-1", order.number)
    async with shop.db.read() as conn:
        stored = (await conn.execute(select(fulfilments.c.pickup_code_hash)
                                     .where(fulfilments.c.id == pickup))).scalar()
        dumped = "".join(r.payload for r in await conn.execute(select(outbox_events)))
    assert stored and notice.code not in stored  # only a salted hash is kept
    assert notice.code not in dumped             # nor is the code in any event
    assert (await shop.orders.get(order.id)).status is OrderStatus.READY_FOR_PICKUP
    ready = (await events(shop, "fulfilment.ready_for_pickup"))[0]
    assert ready["pickup_store"]["name"] == "Paris Rivoli"
    assert (ready["phone"], ready["pickup_expires_at"]) == (
        "+33612345678", notice.expires_at.isoformat())

    before = await state(shop)
    with pytest.raises(Forbidden) as wrong_code:
        await shop.fulfilment.collect(order.number, code="AAAAAAAA", location="paris-1")
    assert wrong_code.value.field == "code"
    with pytest.raises(InvalidInput) as wrong_store:
        await shop.fulfilment.collect(pickup, code=notice.code, location="paris-2")
    assert wrong_store.value.field == "location"
    with pytest.raises(NotFound):
        await shop.fulfilment.collect("999999", code=notice.code, location="paris-1")
    assert await state(shop) == before

    typed = f"{notice.code[:4].lower()}-{notice.code[4:]}"  # as an associate might type it
    collected = await shop.fulfilment.collect(order.number, code=typed, location="paris-1",
                                              actor="ana")
    assert collected.status is F.COLLECTED
    assert await movements(shop, "TEE-M", "paris-1") == [("sale", -1)]
    assert await held(shop, "TEE-M", "paris-1") == 0
    final = await shop.orders.get(order.id)
    assert final.status is OrderStatus.COMPLETED
    assert final.payments[0].status is PaymentStatus.CAPTURED  # the associate took the money
    assert [h.to_status for h in final.history][-2:] == ["collected", "completed"]
    assert [e["actor"] for e in await events(shop, "fulfilment.collected")] == ["ana"]
    with pytest.raises(Conflict) as again:
        await shop.fulfilment.collect(pickup, code=notice.code, location="paris-1")
    assert again.value.field == "status"


async def test_a_reissued_code_replaces_the_old_one(shop: Commerce) -> None:
    order = await place(shop, [{"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup",
                                "location": "paris-1"}], gateway="manual")
    first = await shop.fulfilment.ready_for_pickup(order.fulfilments[0].id)
    second = await shop.fulfilment.reissue_pickup_code(order.fulfilments[0].id)
    assert second.expires_at == first.expires_at
    if first.code != second.code:
        with pytest.raises(Forbidden):
            await shop.fulfilment.collect(order.number, code=first.code, location="paris-1")
    await shop.fulfilment.collect(order.number, code=second.code, location="paris-1")
    assert await topics(shop, "fulfilment.") == [
        "fulfilment.ready_for_pickup", "fulfilment.pickup_code_reissued",
        "fulfilment.collected"]


async def test_concurrent_collects_with_the_same_code_collect_once(
    shop: Commerce, open_shop: Opener
) -> None:
    other = await open_shop(world=False)  # a second process's instance, same database
    order = await place(shop, [{"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup",
                                "location": "paris-1"}], gateway="manual")
    notice = await shop.fulfilment.ready_for_pickup(order.fulfilments[0].id)
    results = await asyncio.gather(
        *(c.fulfilment.collect(order.number, code=notice.code, location="paris-1")
          for c in (shop, other, shop, other)), return_exceptions=True)
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
    assert await movements(shop, "TEE-M", "paris-1") == [("sale", -1)]
    assert len(await events(shop, "fulfilment.collected")) == 1
    assert (await shop.orders.get(order.id)).payments[0].captured == order.total


async def test_a_transferred_pickup_moves_its_units_to_the_store(open_shop: Opener) -> None:
    shop = await open_shop(TransferFromWarehouse())
    order = await place(shop, [{"sku": "TEE-L", "quantity": 1, "fulfilment": "pickup",
                                "location": "paris-1"}], gateway="manual")
    ful = order.fulfilments[0]
    assert (ful.status, ful.location, ful.pickup_location) == (
        F.AWAITING_TRANSFER, "wh", "paris-1")
    assert ful.eta is not None
    assert (await held(shop, "TEE-L", "wh"), await held(shop, "TEE-L", "paris-1")) == (1, 0)
    web = (await shop.stock.availability("TEE-L", channel="web")).total

    arrived = await shop.fulfilment.transfer_arrived(ful.id)
    assert (arrived.status, arrived.location, len(arrived.transfer_ids)) == (
        F.OPEN, "paris-1", 1)
    assert await movements(shop, "TEE-L", "wh") == [("transfer_out", -1)]
    assert await movements(shop, "TEE-L", "paris-1") == [("transfer_in", 1)]
    assert (await held(shop, "TEE-L", "wh"), await held(shop, "TEE-L", "paris-1")) == (0, 1)
    assert (await shop.stock.availability("TEE-L", channel="web")).total == web
    with pytest.raises(Conflict):
        await shop.fulfilment.transfer_arrived(ful.id)

    notice = await shop.fulfilment.ready_for_pickup(ful.id)
    await shop.fulfilment.collect(ful.id, code=notice.code, location="paris-1")
    assert await movements(shop, "TEE-L", "paris-1") == [("transfer_in", 1), ("sale", -1)]
    assert (await shop.stock.level("TEE-L", "paris-1")).on_hand == 1
    assert (await shop.stock.level("TEE-L", "wh")).on_hand == 4


# -- forbidden transitions ------------------------------------------------------------------------


async def test_transitions_the_state_machine_forbids_change_nothing(shop: Commerce) -> None:
    order = await place(shop, [
        {"sku": "TEE-L", "quantity": 1},
        {"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup", "location": "paris-1"},
    ], delivery=[HOME])
    ship, pickup = kind(order, "ship"), kind(order, "pickup")
    await shop.fulfilment.ship(ship, carrier="UPS", tracking_number="1Z")
    before = await state(shop)
    refused: list[tuple[Awaitable[Any], str]] = [
        (shop.fulfilment.collect(ship, code="AAAAAAAA", location="paris-1"), "status"),
        (shop.fulfilment.start_picking(ship), "status"),
        (shop.fulfilment.deliver(pickup), "status"),
        (shop.fulfilment.ship(pickup, carrier="UPS", tracking_number="2Z"), "kind"),
        (shop.fulfilment.reissue_pickup_code(pickup), "status"),
        (shop.fulfilment.transfer_arrived(pickup), "status"),
    ]
    for call, field in refused:
        with pytest.raises(Conflict) as caught:
            await call
        assert caught.value.field == field
    with pytest.raises(InvalidInput) as blank:
        await shop.fulfilment.ship(pickup, carrier=" ", tracking_number="2Z")
    assert blank.value.field == "carrier"
    with pytest.raises(NotFound):
        await shop.fulfilment.pack("ful_nope")
    assert await state(shop) == before


async def test_a_cancelled_fulfilment_cannot_be_shipped(shop: Commerce) -> None:
    order = await place(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    await shop.orders.cancel(order.id)
    before = await state(shop)
    with pytest.raises(Conflict) as caught:
        await shop.fulfilment.ship(order.fulfilments[0].id, carrier="UPS", tracking_number="1Z")
    assert caught.value.field == "status"
    assert await state(shop) == before


# -- expiry ---------------------------------------------------------------------------------------


async def test_an_expired_pickup_frees_its_stock_and_voids_the_payment(
    shop: Commerce, gateway: CardGateway, clock: FakeClock
) -> None:
    order = await place(shop, [{"sku": "TEE-M", "quantity": 2, "fulfilment": "pickup",
                                "location": "paris-1"}])
    notice = await shop.fulfilment.ready_for_pickup(order.fulfilments[0].id)
    clock.advance(days=7, seconds=-1)
    assert await shop.fulfilment.expire_pickups() == 0
    assert await held(shop, "TEE-M", "paris-1") == 2
    clock.advance(seconds=2)
    assert await shop.fulfilment.expire_pickups() == 1

    ful = await shop.fulfilment.get(order.fulfilments[0].id)
    assert ful.status is F.EXPIRED
    assert await held(shop, "TEE-M", "paris-1") == 0
    assert (await shop.stock.level("TEE-M", "paris-1")).available == 3
    assert await movements(shop, "TEE-M", "paris-1") == []  # the units never left
    after = await shop.orders.get(order.id)
    assert after.status is OrderStatus.CANCELLED
    assert after.history[-1].note == "not collected in time"
    assert after.payments[0].status is PaymentStatus.VOIDED
    assert gateway.amounts("void") == [order.total.minor_units]
    assert await topics(shop, "fulfilment.") == ["fulfilment.ready_for_pickup",
                                                 "fulfilment.expired"]
    assert len(await events(shop, "order.cancelled")) == 1

    before = await state(shop)
    assert await shop.fulfilment.expire_pickups() == 0  # idempotent
    assert await state(shop) == before
    with pytest.raises(Conflict):
        await shop.fulfilment.collect(order.number, code=notice.code, location="paris-1")


async def test_expiry_with_the_refund_policy_refunds_and_retries_a_failure(
    open_shop: Opener, gateway: CardGateway, clock: FakeClock
) -> None:
    shop = await open_shop(orders={"capture_policy": "immediate"},
                           fulfilment={"expired_pickup_payment": "refund", "pickup_days": 2})
    order = await place(shop, [{"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup",
                                "location": "paris-1"}])
    assert order.paid == order.total
    await shop.fulfilment.ready_for_pickup(order.fulfilments[0].id)
    clock.advance(days=2, seconds=1)
    gateway.down.add("refund")
    assert await shop.fulfilment.expire_pickups() == 1
    assert (await shop.orders.get(order.id)).refunded.minor_units == 0
    gateway.down.clear()
    assert await shop.fulfilment.expire_pickups() == 0  # the next sweep settles it
    after = await shop.orders.get(order.id)
    assert after.refunded == order.total
    assert after.payments[0].status is PaymentStatus.REFUNDED
    assert gateway.amounts("refund") == [order.total.minor_units]
    assert after.status is OrderStatus.CANCELLED
    await shop.fulfilment.expire_pickups()
    assert gateway.amounts("refund") == [order.total.minor_units]


async def test_a_transferred_pickup_that_expires_frees_its_units_at_the_store(
    open_shop: Opener, clock: FakeClock
) -> None:
    shop = await open_shop(TransferFromWarehouse())
    order = await place(shop, [{"sku": "TEE-L", "quantity": 1, "fulfilment": "pickup",
                                "location": "paris-1"}], gateway="manual")
    # ready without declaring the arrival: the units arrive with it
    notice = await shop.fulfilment.ready_for_pickup(order.fulfilments[0].id)
    assert notice.fulfilment.location == "paris-1"
    clock.advance(days=8)
    assert await shop.fulfilment.expire_pickups() == 1
    assert (await shop.stock.level("TEE-L", "paris-1")).available == 2
    assert (await shop.stock.level("TEE-L", "wh")).available == 4
    assert (await shop.orders.get(order.id)).payments[0].status is PaymentStatus.VOIDED


# -- events and docs ------------------------------------------------------------------------------


def test_every_fulfilment_topic_is_documented() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "fulfilment.md").read_text()
    # every status a step of commerce.fulfilment enters (cancelling is the order's business)
    entered = set().union(*FULFILMENT_TRANSITIONS.values()) - {F.CANCELLED}
    for status in sorted(entered):
        assert f"`fulfilment.{status.value}`" in page, status
    assert "`fulfilment.pickup_code_reissued`" in page


def test_the_test_gateway_is_a_payment_gateway() -> None:
    assert isinstance(CardGateway(), PaymentGateway)
