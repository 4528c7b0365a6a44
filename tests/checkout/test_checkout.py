"""Checkout: a cart becomes an order, all or nothing, once per idempotency key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers.cart_world import build_world, events, held, snapshot
from helpers.gateways import Crash, FakeGateway, GatewayPlugin
from sqlalchemy import func, select

from omnicore import Commerce
from omnicore.carts import CartStatus, TrailAction
from omnicore.checkout import CheckoutStatus
from omnicore.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PaymentActionRequired,
    PaymentDeclined,
    PaymentUnavailable,
)
from omnicore.money import Money
from omnicore.orders import FulfilmentStatus, OrderStatus, PaymentStatus
from omnicore.payments import PaymentEvent, PaymentEventKind
from omnicore.stock import HoldKind, TransferStatus
from omnicore.store.order_tables import checkouts, orders, payments
from omnicore.store.tables import stock_holds
from omnicore.testing import FakeClock

HOME = {"key": "home", "kind": "ship", "method": "standard",
        "address": {"line1": "3 rue de Rivoli", "city": "Paris", "postal_code": "75004",
                    "country": "FR"},
        "geo": {"lat": 48.8556, "lng": 2.3590}}


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
async def shop(db_url: str, clock: FakeClock, gateway: FakeGateway) -> AsyncIterator[Commerce]:
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             plugins=[GatewayPlugin(gateway)],
                             config={"database": {"pool_size": 5}}) as commerce:
        await build_world(commerce)
        yield commerce


async def cart_with(commerce: Commerce, lines: list[dict[str, Any]], *,
                    delivery: list[dict[str, Any]] | None = None, customer_id: str | None = None,
                    channel: str = "web") -> str:
    cart = await commerce.carts.create(channel, customer_id=customer_id)
    cart = await commerce.carts.add_lines(cart.id, lines, version=cart.version)
    if delivery:
        cart = await commerce.carts.set_delivery(cart.id, delivery, version=cart.version)
    return cart.id


async def count(commerce: Commerce, table: Any) -> int:
    async with commerce.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar() or 0)


async def test_checkout_places_an_order_with_allocations_and_events(shop: Commerce) -> None:
    cart_id = await cart_with(shop, [
        {"sku": "TEE-L", "quantity": 2},
        {"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup", "location": "paris-1"},
    ], delivery=[HOME])
    order = await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k-1",
                                email="Ada@Example.com")
    assert order.number == "100001"
    assert order.status is OrderStatus.AUTHORIZED
    # 2 x 19.90 + 19.90 + standard shipping 4.90 (the pickup group is free)
    assert order.total == Money("64.60", "EUR")
    assert order.subtotal - order.discount + order.shipping + order.adjustments == order.total
    assert {(g.kind, g.method) for g in order.groups} == {("ship", "standard"),
                                                          ("pickup", "click_and_collect")}
    pickup = next(f for f in order.fulfilments if f.kind == "pickup")
    assert pickup.location == "paris-1" and pickup.pickup_location == "paris-1"
    assert pickup.status is FulfilmentStatus.OPEN
    assert [(p.gateway, p.status, p.authorized) for p in order.payments] == [
        ("fake", PaymentStatus.AUTHORIZED, Money("64.60", "EUR"))]
    cart = await shop.carts.get(cart_id)
    assert cart.status is CartStatus.COMPLETED
    assert cart.trail[-1].action == "completed"
    async with shop.db.read() as conn:
        rows = (await conn.execute(select(stock_holds))).all()
    # the cart holds became allocations that do not expire, named after the order
    assert {(r.sku, r.kind, r.reference, r.expires_at) for r in rows} == {
        ("TEE-L", HoldKind.ALLOCATION.value, "100001", None),
        ("TEE-M", HoldKind.ALLOCATION.value, "100001", None)}
    assert sum(r.quantity for r in rows) == 3
    placed = await events(shop, "order.placed")
    assert [e["number"] for e in placed] == ["100001"]
    assert placed[0]["email"] == "ada@example.com" or placed[0]["email"] == "Ada@Example.com"
    assert [e["status"] for e in await events(shop, "order.authorized")] == ["authorized"]
    assert order.details["sourcing"], "sourcing explains its choice"


async def test_the_same_key_returns_the_same_order_and_never_charges_twice(
    shop: Commerce, gateway: FakeGateway
) -> None:
    cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    first = await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    again = await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    assert again.id == first.id and again.number == first.number
    assert gateway.count("authorize") == 1
    assert await count(shop, orders) == 1


async def test_racing_requests_with_one_key_make_one_order(
    shop: Commerce, gateway: FakeGateway
) -> None:
    cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    results = await asyncio.gather(*(
        shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="same")
        for _ in range(4)))
    assert len({order.id for order in results}) == 1
    assert gateway.count("authorize") == 1
    assert await count(shop, orders) == 1


async def test_a_declined_payment_leaves_the_cart_and_its_holds_as_they_were(
    shop: Commerce, gateway: FakeGateway
) -> None:
    cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 2}], delivery=[HOME])
    before = await snapshot(shop, cart_id)
    gateway.mode = "decline"
    with pytest.raises(PaymentDeclined) as caught:
        await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    assert caught.value.decline_code == "insufficient_funds"
    after = await snapshot(shop, cart_id)
    assert after["holds"] == before["holds"] and after["lines"] == before["lines"]
    assert after["carts"] == before["carts"]
    assert await count(shop, orders) == 0
    # the customer tries another card with the same key: it goes through
    gateway.mode = "ok"
    order = await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    assert order.status is OrderStatus.AUTHORIZED


async def test_split_payments_and_a_later_decline_voids_the_first(
    db_url: str, clock: FakeClock
) -> None:
    gift, card = FakeGateway("giftcard"), FakeGateway("card", mode="decline")
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             plugins=[GatewayPlugin(gift, card)]) as shop:
        await build_world(shop)
        cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 2}], delivery=[HOME])
        pays = [{"gateway": "giftcard", "amount": "10.00"}, {"gateway": "card"}]
        with pytest.raises(PaymentDeclined):
            await shop.checkout(cart_id, payments=pays, idempotency_key="k")
        assert gift.count("authorize") == 1 and gift.count("void") == 1
        assert gift.held() == []  # the gift card's money is not left reserved
        card.mode = "ok"
        order = await shop.checkout(cart_id, payments=pays, idempotency_key="k2")
        assert [(p.gateway, p.amount) for p in order.payments] == [
            ("giftcard", Money("10.00", "EUR")), ("card", Money("34.70", "EUR"))]


async def test_payments_must_add_up_to_the_total(shop: Commerce) -> None:
    cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    before = await snapshot(shop, cart_id)
    with pytest.raises(InvalidInput) as caught:
        await shop.checkout(cart_id, payments=[{"gateway": "fake", "amount": "5.00"}],
                            idempotency_key="k")
    assert caught.value.field == "payments"
    with pytest.raises(InvalidInput) as caught:
        await shop.checkout(cart_id, payments=[{"gateway": "nope"}], idempotency_key="k")
    assert caught.value.field == "payments[0].gateway"
    with pytest.raises(InvalidInput) as caught:
        await shop.checkout(cart_id, payments=[{"gateway": "fake", "amount": "5.00"}],
                            idempotency_key="x" * 201)
    assert caught.value.field == "idempotency_key"
    after = await snapshot(shop, cart_id)
    assert after["holds"] == before["holds"] and after["carts"] == before["carts"]
    assert await count(shop, orders) == 0


async def test_bad_carts_are_refused_and_nothing_changes(shop: Commerce) -> None:
    empty = (await shop.carts.create("web")).id
    with pytest.raises(InvalidInput) as caught:
        await shop.checkout(empty, payments=[], idempotency_key="k1")
    assert caught.value.field == "lines"
    no_address = await cart_with(shop, [{"sku": "TEE-L", "quantity": 1}])
    with pytest.raises(InvalidInput) as caught:
        await shop.checkout(no_address, payments=[{"gateway": "fake"}], idempotency_key="k2")
    assert caught.value.field == "delivery"
    owner = await shop.customers.create(email="owner@example.com")
    other = await shop.customers.create(email="other@example.com")
    theirs = await cart_with(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME],
                             customer_id=owner.id)
    with pytest.raises(Forbidden) as forbidden:
        await shop.checkout(theirs, payments=[{"gateway": "fake"}], idempotency_key="k3",
                            customer_id=other.id)
    assert forbidden.value.field == "customer_id"
    with pytest.raises(NotFound):
        await shop.checkout("cart_nope", payments=[], idempotency_key="k4")
    assert await count(shop, orders) == 0 and await count(shop, payments) == 0
    done = await shop.checkout(theirs, payments=[{"gateway": "fake"}], idempotency_key="k5",
                               customer_id=owner.id)
    assert done.customer_id == owner.id and done.email == "owner@example.com"
    with pytest.raises(Conflict) as again:  # a completed cart, another key
        await shop.checkout(theirs, payments=[{"gateway": "fake"}], idempotency_key="k6")
    assert again.value.field == "cart_id"
    with pytest.raises(Conflict) as reused:  # a key used for another cart
        await shop.checkout(no_address, payments=[{"gateway": "fake"}], idempotency_key="k5")
    assert reused.value.field == "idempotency_key"


async def test_an_authorization_orphaned_by_a_crash_is_voided_by_the_worker(
    shop: Commerce, gateway: FakeGateway, clock: FakeClock
) -> None:
    cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    gateway.mode = "crash"
    with pytest.raises(Crash):
        await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    assert len(gateway.held()) == 1  # the vendor holds the money, omnicore has no order
    assert await shop.checkouts.reconcile() == 0  # the lease is not over: it may be alive
    clock.advance(shop.order_settings.checkout_lease_seconds + 1)
    assert await shop.checkouts.reconcile() == 1
    assert gateway.held() == [] and gateway.count("void") == 1
    async with shop.db.read() as conn:
        status = (await conn.execute(select(checkouts.c.status))).scalar()
        pay = (await conn.execute(select(payments.c.status))).scalar()
    assert status == "failed" and pay == PaymentStatus.VOIDED.value
    assert await shop.checkouts.reconcile() == 0  # nothing left to do
    cart = await shop.carts.get(cart_id)
    assert cart.status is CartStatus.OPEN
    gateway.mode = "ok"  # the customer tries again with the same key
    order = await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    assert order.status is OrderStatus.AUTHORIZED and len(gateway.held()) == 1


async def test_a_void_that_fails_during_an_outage_is_retried(
    shop: Commerce, gateway: FakeGateway, clock: FakeClock
) -> None:
    cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    gateway.mode = "crash"
    with pytest.raises(Crash):
        await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    clock.advance(minutes=10)
    gateway.mode = "down"
    assert await shop.checkouts.reconcile() == 0
    assert len(gateway.held()) == 1
    gateway.mode = "ok"
    assert await shop.checkouts.reconcile() == 1
    assert gateway.held() == []


async def test_3d_secure_completes_when_the_webhook_says_authorized(
    shop: Commerce, gateway: FakeGateway
) -> None:
    cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    gateway.mode = "action"
    with pytest.raises(PaymentActionRequired) as caught:
        await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    assert caught.value.next_action["client_secret"] == "pi_1_secret"
    with pytest.raises(PaymentActionRequired):  # asked again: still waiting, no new charge
        await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    assert gateway.count("authorize") == 1
    assert (await shop.carts.get(cart_id)).status is CartStatus.OPEN
    event = PaymentEvent("evt_1", PaymentEventKind.AUTHORIZED, "pi_1",
                         amount=Money("24.80", "EUR"))
    assert await shop.payments.apply_events("fake", [event]) == 1
    assert await shop.payments.apply_events("fake", [event]) == 0  # replayed: applied once
    order = await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    assert order.status is OrderStatus.AUTHORIZED
    assert order.payments[0].reference == "pi_1"
    assert (await shop.carts.get(cart_id)).status is CartStatus.COMPLETED


async def test_3d_secure_failure_leaves_the_cart_open(
    shop: Commerce, gateway: FakeGateway
) -> None:
    cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    before = await held(shop, "TEE-L", "wh")
    gateway.mode = "action"
    with pytest.raises(PaymentActionRequired):
        await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    failed = PaymentEvent("evt_2", PaymentEventKind.FAILED, "pi_1")
    await shop.payments.apply_events("fake", [failed])
    assert (await shop.carts.get(cart_id)).status is CartStatus.OPEN
    assert await held(shop, "TEE-L", "wh") == before
    assert await count(shop, orders) == 0
    gateway.mode = "ok"
    order = await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    assert order.number == "100001"


async def test_a_gateway_outage_is_a_typed_error_and_changes_nothing(
    shop: Commerce, gateway: FakeGateway
) -> None:
    cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    before = await snapshot(shop, cart_id)
    gateway.mode = "down"
    with pytest.raises(PaymentUnavailable):
        await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    after = await snapshot(shop, cart_id)
    assert after["holds"] == before["holds"] and after["carts"] == before["carts"]


async def test_pay_at_pickup_with_the_manual_gateway(shop: Commerce) -> None:
    cart_id = await cart_with(shop, [
        {"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup", "location": "paris-1"}])
    order = await shop.checkout(cart_id, payments=[{"gateway": "manual"}], idempotency_key="k")
    assert order.total == Money("19.90", "EUR")  # click & collect is free
    assert order.status is OrderStatus.PLACED
    assert order.payments[0].status is PaymentStatus.PENDING
    paid = await shop.payments.capture(order.payments[0].id)
    assert paid.status is PaymentStatus.CAPTURED
    assert (await shop.orders.get(order.id)).status is OrderStatus.PAID


async def test_capture_and_refund_limits(shop: Commerce) -> None:
    cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    order = await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    payment = order.payments[0]
    with pytest.raises(InvalidInput) as above:
        await shop.payments.capture(payment.id, "30.00")
    assert above.value.field == "amount"
    part = await shop.payments.capture(payment.id, "20.00")
    assert part.status is PaymentStatus.PARTIALLY_CAPTURED
    with pytest.raises(InvalidInput) as refund_above:
        await shop.payments.refund(payment.id, "20.01")
    assert refund_above.value.field == "amount"
    refunded = await shop.payments.refund(payment.id, "5.00")
    assert refunded.refunded == Money("5.00", "EUR")
    assert refunded.status is PaymentStatus.PARTIALLY_REFUNDED
    kinds = [t["kind"] for t in await shop.payments.transactions(payment.id)]
    assert kinds == ["authorize", "capture", "refund"]


async def test_cancel_releases_allocations_and_voids(shop: Commerce, gateway: FakeGateway
                                                     ) -> None:
    cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 3}], delivery=[HOME])
    order = await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    assert await held(shop, "TEE-L", "wh") == 3
    cancelled = await shop.orders.cancel(order.id, actor="staff:ana", reason="customer asked")
    assert cancelled.status is OrderStatus.CANCELLED
    assert await held(shop, "TEE-L", "wh") == 0
    assert gateway.held() == []
    with pytest.raises(Conflict) as again:
        await shop.orders.cancel(order.id)
    assert again.value.field == "status"


async def test_orders_are_tracked_by_number_and_contact(shop: Commerce) -> None:
    cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    order = await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k",
                                email="ada@example.com")
    assert (await shop.orders.track(order.number, email="ADA@example.com ")).id == order.id
    with pytest.raises(NotFound) as wrong:
        await shop.orders.track(order.number, email="eve@example.com")
    with pytest.raises(NotFound) as unknown:
        await shop.orders.track("999999", email="ada@example.com")
    assert str(wrong.value) == str(unknown.value)  # no way to probe order numbers


async def test_a_capture_that_failed_at_shipment_is_retried_by_the_worker(
    shop: Commerce, gateway: FakeGateway
) -> None:
    cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    order = await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    gateway.mode = "down"
    shipment = order.fulfilments[0]
    await shop.fulfilment.ship(shipment.id, carrier="colissimo", tracking_number="6A1234")
    shipped = await shop.orders.get(order.id)
    assert shipped.status is OrderStatus.SHIPPED and shipped.paid == Money("0.00", "EUR")
    assert await shop.orders.retry_captures() == 1  # still down: tried, left due
    gateway.mode = "ok"
    assert await shop.orders.retry_captures() == 1
    paid = await shop.orders.get(order.id)
    assert paid.paid == paid.total and paid.status is OrderStatus.SHIPPED
    assert await shop.orders.retry_captures() == 0


async def test_voiding_a_partly_captured_payment_keeps_what_was_captured(
    shop: Commerce
) -> None:
    cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    order = await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    await shop.payments.capture(order.payments[0].id, "10.00")
    after = await shop.payments.void(order.payments[0].id)
    assert after.status is PaymentStatus.CAPTURED
    assert after.captured == Money("10.00", "EUR") == after.authorized


async def test_a_capture_retried_after_a_failure_reuses_its_idempotency_key(
    shop: Commerce, gateway: FakeGateway
) -> None:
    cart_id = await cart_with(shop, [{"sku": "TEE-L", "quantity": 1}], delivery=[HOME])
    order = await shop.checkout(cart_id, payments=[{"gateway": "fake"}], idempotency_key="k")
    payment = order.payments[0]
    gateway.mode = "down"
    with pytest.raises(Exception):  # noqa: B017 - the provider is unreachable
        await shop.payments.capture(payment.id, "10.00")
    gateway.mode = "ok"
    await shop.payments.capture(payment.id, "10.00")
    await shop.payments.capture(payment.id, "5.00")
    keys = [key for op, key in gateway.calls if op == "capture"]
    assert keys == [f"{payment.id}:capture:1", f"{payment.id}:capture:1",
                    f"{payment.id}:capture:2"]


def test_states_are_stored_under_the_names_they_always_had() -> None:
    """The enums name what the columns hold: renaming a value would need a migration."""
    assert [s.value for s in CheckoutStatus] == [
        "in_progress", "requires_action", "completed", "failed"]
    assert [a.value for a in TrailAction] == [
        "created", "resumed", "handed_off", "merged_in", "merged", "completed"]
    assert [s.value for s in CartStatus] == ["open", "merged", "completed"]
    assert [s.value for s in TransferStatus] == ["in_transit", "received"]
    assert [k.value for k in HoldKind] == ["cart", "allocation"]
