"""Returns: at a store or by mail; units back in stock; refunds to the original payments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers.card_gateway import CardGateway, Payments
from helpers.cart_world import build_world, events
from sqlalchemy import select

from omnicore import Commerce
from omnicore.errors import InvalidInput, NotFound
from omnicore.money import Money
from omnicore.orders import Order, OrderStatus, PaymentStatus
from omnicore.store.order_tables import (
    order_history,
    order_lines,
    order_returns,
    orders,
    payment_transactions,
    payments,
)
from omnicore.store.tables import outbox_events, stock_levels, stock_movements
from omnicore.testing import FakeClock

HOME = {"key": "home", "kind": "ship", "method": "standard",
        "address": {"line1": "3 rue de Rivoli", "city": "Paris", "postal_code": "75004",
                    "country": "FR"},
        "geo": {"lat": 48.8556, "lng": 2.3590}}
STATE_TABLES = (orders, order_lines, order_history, order_returns, payments,
                payment_transactions, stock_levels, stock_movements, outbox_events)


@pytest.fixture
def card() -> CardGateway:
    return CardGateway("card")


@pytest.fixture
def gift() -> CardGateway:
    return CardGateway("gift")


@pytest.fixture
async def shop(db_url: str, clock: FakeClock, card: CardGateway, gift: CardGateway
               ) -> AsyncIterator[Commerce]:
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             plugins=[Payments(card, gift)],
                             config={"database": {"pool_size": 5}}) as commerce:
        await build_world(commerce)
        yield commerce


async def shipped_order(commerce: Commerce, lines: list[dict[str, Any]], *,
                        pays: list[dict[str, Any]] | None = None) -> Order:
    """An order of ``lines`` shipped home, with its ship fulfilments shipped."""
    cart = await commerce.carts.create("web")
    cart = await commerce.carts.add_lines(cart.id, lines, version=cart.version)
    cart = await commerce.carts.set_delivery(cart.id, [HOME], version=cart.version)
    order = await commerce.checkout(cart.id, payments=pays or [{"gateway": "card"}],
                                    idempotency_key="k", email="ada@example.com")
    for ful in order.fulfilments:
        if ful.kind == "ship":
            await commerce.fulfilment.ship(ful.id, carrier="UPS", tracking_number=ful.id)
    return await commerce.orders.get(order.id)


async def state(commerce: Commerce) -> dict[str, list[tuple[Any, ...]]]:
    async with commerce.db.read() as conn:
        return {t.name: sorted((tuple(r) for r in await conn.execute(select(t))), key=repr)
                for t in STATE_TABLES}


async def returned(commerce: Commerce, sku: str, location: str) -> list[int]:
    return [m.delta for m in await commerce.stock.ledger(sku, location)
            if m.kind.value == "return"]


async def test_a_store_return_restocks_the_store_and_refunds_partially(
    shop: Commerce, card: CardGateway, clock: FakeClock
) -> None:
    order = await shipped_order(shop, [{"sku": "TEE-L", "quantity": 2}])
    line = order.lines[0]
    assert order.paid == Money("44.70", "EUR")  # 2 x 19.90 + 4.90 shipping
    on_hand = (await shop.stock.level("TEE-L", "paris-1")).on_hand

    record = await shop.returns.create(order.id, [{"line_id": line.id, "quantity": 1}],
                                       location="paris-1", reason="too small", actor="ana")
    assert (record.location, record.method, record.refund) == (
        "paris-1", "store", Money("19.90", "EUR"))
    assert record.lines == [{"line_id": line.id, "sku": "TEE-L", "title": line.title,
                             "quantity": 1, "refund_minor": 1990}]
    assert await returned(shop, "TEE-L", "paris-1") == [1]
    assert (await shop.stock.level("TEE-L", "paris-1")).on_hand == on_hand + 1
    assert card.amounts("refund") == [1990]
    after = await shop.orders.get(order.id)
    assert after.status is OrderStatus.PARTIALLY_RETURNED
    assert after.line(line.id).quantity_returned == 1
    assert after.payments[0].status is PaymentStatus.PARTIALLY_REFUNDED
    assert after.returns == [record]
    created = (await events(shop, "return.created"))[0]
    assert (created["return_id"], created["number"], created["location"], created["reason"],
            created["refund"], created["email"]) == (
        record.id, order.number, "paris-1", "too small",
        {"amount_minor": 1990, "currency": "EUR"}, "ada@example.com")
    assert [e["status"] for e in await events(shop, "order.partially_returned")] == [
        "partially_returned"]

    # the last unit comes back by mail to the warehouse; shipping is not refunded ...
    clock.advance(days=3)
    await shop.returns.create(order.id, [{"line_id": line.id, "quantity": 1}], location="wh",
                              method="mail")
    assert await returned(shop, "TEE-L", "wh") == [1]
    after = await shop.orders.get(order.id)
    assert (after.status, after.refunded) == (OrderStatus.RETURNED, Money("39.80", "EUR"))
    assert next(r.id for r in await shop.returns.for_order(order.id)) == record.id


async def test_refunding_everything_makes_the_order_refunded(
    shop: Commerce, card: CardGateway
) -> None:
    order = await shipped_order(shop, [{"sku": "TEE-L", "quantity": 2}])
    # ... unless an explicit amount gives the shipping back too
    record = await shop.returns.create(order.id, [{"line_id": order.lines[0].id, "quantity": 2}],
                                       location="paris-1", refund="44.70")
    assert record.refund == order.total
    after = await shop.orders.get(order.id)
    assert (after.status, after.refunded) == (OrderStatus.REFUNDED, order.total)
    assert [h.to_status for h in after.history][-1] == "refunded"


async def test_a_partial_line_value_adds_up_to_the_line_total(shop: Commerce) -> None:
    await shop.catalog.set_prices([{"sku": "TEE-L", "amount": {"amount": "10.00",
                                                                "currency": "EUR"}}])
    order = await shipped_order(shop, [{"sku": "TEE-L", "quantity": 3}])
    line = order.lines[0]
    refunds = [(await shop.returns.create(order.id, [{"line_id": line.id, "quantity": 1}],
                                          location="paris-1")).refund for _ in range(3)]
    assert sum(r.minor_units for r in refunds) == line.total.minor_units


async def test_the_refund_goes_to_the_most_recent_payment_first(
    shop: Commerce, card: CardGateway, gift: CardGateway
) -> None:
    order = await shipped_order(shop, [{"sku": "TEE-L", "quantity": 2}],
                                pays=[{"gateway": "card", "amount": "20.00"},
                                      {"gateway": "gift"}])
    assert order.paid == order.total
    await shop.returns.create(order.id, [{"line_id": order.lines[0].id, "quantity": 2}],
                              location="paris-1")
    after = await shop.orders.get(order.id)
    latest, earliest = after.payments[-1], after.payments[0]
    assert latest.status is PaymentStatus.REFUNDED and latest.refunded == latest.captured
    assert earliest.status is PaymentStatus.PARTIALLY_REFUNDED
    assert latest.refunded + earliest.refunded == Money("39.80", "EUR")


async def test_bad_returns_are_refused_and_change_nothing(shop: Commerce) -> None:
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [
        {"sku": "TEE-L", "quantity": 2},
        {"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup", "location": "paris-1"},
    ], version=cart.version)
    cart = await shop.carts.set_delivery(cart.id, [HOME], version=cart.version)
    order = await shop.checkout(cart.id, payments=[{"gateway": "card"}], idempotency_key="k")
    ship = next(f for f in order.fulfilments if f.kind == "ship")
    await shop.fulfilment.ship(ship.id, carrier="UPS", tracking_number="1Z")
    shipped = next(li for li in order.lines if li.sku == "TEE-L")
    waiting = next(li for li in order.lines if li.sku == "TEE-M")  # not collected yet
    before = await state(shop)
    refused: list[tuple[dict[str, Any], str]] = [
        ({"lines": [{"line_id": waiting.id, "quantity": 1}]}, "lines[0].quantity"),
        ({"lines": [{"line_id": shipped.id, "quantity": 3}]}, "lines[0].quantity"),
        ({"lines": [{"line_id": shipped.id, "quantity": 1},
                    {"line_id": shipped.id, "quantity": 1}]}, "lines[1].line_id"),
        ({"lines": [{"line_id": "line_nope", "quantity": 1}]}, "lines[0].line_id"),
        ({"lines": [{"line_id": shipped.id, "quantity": 0}]}, "lines[0].quantity"),
        ({"lines": []}, "lines"),
        ({"location": "paris-2"}, "location"),           # a store without returns
        ({"location": "paris-1", "method": "mail"}, "location"),  # mail goes to a warehouse
        ({"location": "wh", "method": "store"}, "location"),
        ({"method": "drone"}, "method"),
        ({"refund": "50.00"}, "refund"),                 # above what was captured
    ]
    for change, field in refused:
        call: dict[str, Any] = {"lines": [{"line_id": shipped.id, "quantity": 1}],
                                "location": "paris-1", **change}
        with pytest.raises(InvalidInput) as caught:
            await shop.returns.create(order.id, **call)
        assert caught.value.field == field, change
    with pytest.raises(NotFound):
        await shop.returns.create("ord_nope", [{"line_id": shipped.id, "quantity": 1}],
                                  location="paris-1")
    with pytest.raises(NotFound):
        await shop.returns.create(order.id, [{"line_id": shipped.id, "quantity": 1}],
                                  location="nowhere")
    assert await state(shop) == before


async def test_a_refund_above_the_captured_amount_is_refused(
    shop: Commerce, card: CardGateway
) -> None:
    card.down.add("capture")  # shipped, but the capture failed: nothing to refund yet
    order = await shipped_order(shop, [{"sku": "TEE-L", "quantity": 2}])
    assert order.paid.minor_units == 0
    line = order.lines[0]
    before = await state(shop)
    with pytest.raises(InvalidInput) as caught:
        await shop.returns.create(order.id, [{"line_id": line.id, "quantity": 1}],
                                  location="paris-1")
    assert caught.value.field == "refund"
    with pytest.raises(InvalidInput) as direct:
        await shop.payments.refund(order.payments[0].id, "1.00")
    assert direct.value.field == "amount"
    assert await state(shop) == before
    # an exchange: the goods come back, no money moves
    record = await shop.returns.create(order.id, [{"line_id": line.id, "quantity": 1}],
                                       location="paris-1", refund=False)
    assert record.refund.minor_units == 0 and card.amounts("refund") == []
    assert await returned(shop, "TEE-L", "paris-1") == [1]


async def test_a_failed_refund_keeps_the_return_and_says_so(
    shop: Commerce, card: CardGateway
) -> None:
    order = await shipped_order(shop, [{"sku": "TEE-L", "quantity": 2}])
    card.down.add("refund")
    record = await shop.returns.create(order.id, [{"line_id": order.lines[0].id,
                                                   "quantity": 1}], location="paris-1")
    assert record.refund == Money("19.90", "EUR")
    assert await returned(shop, "TEE-L", "paris-1") == [1]
    after = await shop.orders.get(order.id)
    assert after.refunded.minor_units == 0
    failed = await events(shop, "return.refund_failed")
    assert [(e["return_id"], e["missing"]["amount_minor"]) for e in failed] == [
        (record.id, 1990)]
    # the refund can be made by hand later
    card.down.clear()
    await shop.payments.refund(order.payments[0].id, record.refund)
    assert (await shop.orders.get(order.id)).refunded == record.refund


async def test_get_unknown_return(shop: Commerce) -> None:
    with pytest.raises(NotFound) as caught:
        await shop.returns.get("ret_nope")
    assert caught.value.field == "return_id"

