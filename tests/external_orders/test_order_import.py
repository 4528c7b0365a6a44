"""External orders (``orders.import_external``) and tracking (``orders.track``)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers.cart_world import build_world, events, held
from sqlalchemy import func, select

from omnicore import Commerce
from omnicore.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    OmnicoreError,
    PaymentDeclined,
)
from omnicore.money import Money
from omnicore.orders import FulfilmentStatus, OrderStatus, PaymentStatus
from omnicore.stock import HoldKind, MovementKind
from omnicore.store.order_tables import (
    counters,
    delivery_groups,
    fulfilments,
    order_history,
    order_lines,
    orders,
    payments,
)
from omnicore.store.tables import (
    customer_identities,
    customers,
    outbox_events,
    stock_holds,
    stock_levels,
    stock_movements,
)
from omnicore.testing import FakeClock

ADDRESS = {"line1": "8 rue des Lilas", "city": "Lyon", "postal_code": "69003", "country": "FR",
           "recipient": "Jo Buyer", "phone": "+33 4 78 00 00 00"}
WRITTEN = (orders, order_lines, delivery_groups, fulfilments, order_history, payments, counters,
           customers, customer_identities, stock_holds, stock_movements, outbox_events)


@pytest.fixture
async def shop(db_url: str, clock: FakeClock) -> AsyncIterator[Commerce]:
    """cart_world, plus ``amazon-fr`` (a marketplace selling from wh with a buffer of 2)."""
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             config={"database": {"pool_size": 5}}) as commerce:
        await build_world(commerce)
        await commerce.channels.save({
            "code": "amazon-fr", "name": "Amazon FR", "kind": "marketplace", "currency": "EUR",
            "locations": [{"location": "wh", "priority": 0, "buffer": 2}]})
        yield commerce


async def amazon(commerce: Commerce, external_id: str = "402-0000001", **given: Any) -> Any:
    """An Amazon order as the connector imports it: 2 TEE-M at 19.90, shipping 4.90."""
    arguments: dict[str, Any] = {
        "channel": "amazon-fr",
        "lines": [{"sku": "TEE-M", "quantity": 2, "unit_price": "19.90",
                   "external_line_id": "AMZ-LINE-1"}],
        "customer": {"external_id": "AMZN1BUYER", "email": "Jo.Buyer@Marketplace.Amazon.fr",
                     "first_name": "Jo", "last_name": "Buyer"},
        "shipping": "4.90", "total": "44.70", "shipping_address": ADDRESS,
        "placed_at": dt.datetime(2026, 3, 1, 22, 15, tzinfo=dt.UTC),
    }
    return await commerce.orders.import_external("amazon", external_id, **{**arguments, **given})


async def rows(commerce: Commerce, table: Any) -> int:
    async with commerce.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar() or 0)


async def everything(commerce: Commerce) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    async with commerce.db.read() as conn:
        for table in (*WRITTEN, stock_levels):
            found[table.name] = sorted(
                tuple(str(v) for v in row) for row in await conn.execute(select(table)))
    return found


async def topics(commerce: Commerce) -> list[str]:
    async with commerce.db.read() as conn:
        return list((await conn.execute(
            select(outbox_events.c.topic).order_by(outbox_events.c.id))).scalars())


# -- importing -----------------------------------------------------------------------------------


async def test_an_import_is_an_order_with_allocations_payments_and_events(
    shop: Commerce, clock: FakeClock,
) -> None:
    order = await amazon(shop)

    assert (order.number, order.channel, order.source, order.external_id) == (
        "100001", "amazon-fr", "amazon", "402-0000001")
    assert order.status is OrderStatus.PAID
    assert order.placed_at == dt.datetime(2026, 3, 1, 22, 15, tzinfo=dt.UTC)
    assert (order.subtotal, order.shipping, order.total) == (
        Money("39.80", "EUR"), Money("4.90", "EUR"), Money("44.70", "EUR"))
    assert order.email == "jo.buyer@marketplace.amazon.fr"  # normalised, for tracking
    [line] = order.lines
    assert (line.sku, line.title, line.quantity, line.total) == (
        "TEE-M", "Classic tee — M", 2, Money("39.80", "EUR"))
    assert order.details["imported"]["external_line_ids"] == {line.id: "AMZ-LINE-1"}
    [group] = order.groups
    assert (group.kind, group.method, group.address["city"]) == ("ship", "standard", "Lyon")
    assert (group.details["recipient"], group.details["phone"]) == ("Jo Buyer",
                                                                    "+33 4 78 00 00 00")
    # paid on Amazon: recorded as captured under external:amazon, never charged here
    [payment] = order.payments
    assert (payment.gateway, payment.status, payment.captured) == (
        "external:amazon", PaymentStatus.CAPTURED, Money("44.70", "EUR"))
    # the unified stock: allocated at the warehouse like a checkout, for the connector to ship
    [fulfilment] = order.fulfilments
    assert (fulfilment.location, fulfilment.kind, fulfilment.status) == (
        "wh", "ship", FulfilmentStatus.OPEN)
    [part] = fulfilment.lines
    hold = await shop.stock.get_hold(part.hold_id)
    assert (hold.kind, hold.quantity, hold.reference, hold.expires_at) == (
        HoldKind.ALLOCATION, 2, "100001", None)
    assert await held(shop, "TEE-M", "wh") == 2
    assert [h.to_status for h in order.history] == ["placed", "paid"]
    assert [t for t in await topics(shop) if t.startswith(("order.", "customer."))] == [
        "customer.created", "order.placed", "order.paid", "order.imported"]
    imported = (await events(shop, "order.imported"))[0]
    assert (imported["order_id"], imported["source"], imported["external_id"],
            imported["oversold"]) == (order.id, "amazon", "402-0000001", [])
    assert [e["number"] for e in await events(shop, "order.placed")] == ["100001"]
    assert await events(shop, "order.oversold") == []


async def test_importing_again_returns_the_same_order_and_writes_nothing(
    shop: Commerce, clock: FakeClock,
) -> None:
    first = await amazon(shop)
    before = await everything(shop)
    clock.advance(3600)
    again = await amazon(shop, lines=[{"sku": "TEE-L", "quantity": 9, "unit_price": "1"}],
                         total=None)
    assert again == first
    assert await everything(shop) == before


async def test_racing_imports_of_one_external_id_make_one_order(
    shop: Commerce, db_url: str, clock: FakeClock,
) -> None:
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             config={"database": {"pool_size": 5}}) as other:
        results = await asyncio.gather(*(amazon(commerce) for commerce in (shop, other) * 4))
    assert len({order.id for order in results}) == 1
    assert await rows(shop, orders) == 1
    assert await rows(shop, customers) == 1  # the new buyer too: created once
    assert await held(shop, "TEE-M", "wh") == 2
    assert len(await events(shop, "order.imported")) == 1


async def test_racing_imports_by_one_new_buyer_create_one_customer(shop: Commerce) -> None:
    results = await asyncio.gather(*(amazon(shop, f"402-{i}") for i in range(4)))
    assert len({order.id for order in results}) == 4
    assert len({order.customer_id for order in results}) == 1
    assert await rows(shop, customers) == 1
    assert await held(shop, "TEE-M", "wh") == 8


async def test_the_buyer_is_found_by_amazon_identity_then_by_email(shop: Commerce) -> None:
    known = await shop.customers.create(
        email="anne@example.com", identities=[{"kind": "external", "source": "amazon",
                                               "value": "AMZN-ANNE"}])
    by_identity = await amazon(shop, "402-1", customer={"external_id": "AMZN-ANNE"})
    assert by_identity.customer_id == known.id
    assert by_identity.email == "anne@example.com"  # her contact, for tracking

    boutique = await shop.customers.create(email="bea@example.com", first_name="Béa")
    by_email = await amazon(shop, "402-2", customer={"external_id": "AMZN-BEA",
                                                     "email": " BEA@Example.com"})
    assert by_email.customer_id == boutique.id
    # the Amazon buyer id now belongs to her: the next order finds her by it
    assert (await shop.customers.find("external", "AMZN-BEA", source="amazon")).id == boutique.id
    added = await events(shop, "customer.identity_added")
    assert [(e["customer_id"], e["kind"], e["source"]) for e in added] == [
        (boutique.id, "external", "amazon")]

    # an e-mail another customer holds is not taken from her; the order still links
    taken = await amazon(shop, "402-3", customer={"external_id": "AMZN-ANNE",
                                                  "email": "bea@example.com"})
    assert taken.customer_id == known.id
    assert (await shop.customers.find("email", "bea@example.com")).id == boutique.id

    # a merged profile's id resolves to the survivor
    duplicate = await shop.customers.create(phone="0611223344")
    await shop.customers.merge(known.id, duplicate.id, actor="staff:ana")
    via_merged = await amazon(shop, "402-4", customer={"id": duplicate.id})
    assert via_merged.customer_id == known.id

    # nobody matches: a new customer, with the buyer id and the e-mail as identities
    new = await amazon(shop, "402-5", customer={"external_id": "AMZN-NEW",
                                                "email": "new@example.com",
                                                "first_name": "Noé"})
    created = await shop.customers.get(new.customer_id)
    assert created.first_name == "Noé"
    assert {(i.kind, i.source, i.value) for i in created.identities} == {
        ("external", "amazon", "AMZN-NEW"), ("email", "", "new@example.com")}
    created_by_imports = [e["customer"]["id"] for e in await events(shop, "customer.created")
                          if e["source"] == "amazon"]
    assert created_by_imports == [created.id]

    guest = await amazon(shop, "402-6", customer=None)
    assert (guest.customer_id, guest.email) == (None, None)


async def test_the_connector_ships_an_imported_order_like_any_other(shop: Commerce) -> None:
    order = await amazon(shop)
    [fulfilment] = order.fulfilments
    await shop.fulfilment.ship(fulfilment.id, carrier="Colissimo", tracking_number="6A1")

    shipped = await shop.orders.get(order.id)
    assert shipped.status is OrderStatus.SHIPPED
    assert shipped.paid == shipped.total  # nothing more to capture: Amazon has the money
    level = await shop.stock.level("TEE-M", "wh")
    assert (level.on_hand, level.reserved) == (8, 0)
    with pytest.raises(Conflict):  # too late to cancel: a return now
        await shop.orders.cancel_external("amazon", "402-0000001")


async def test_cancellation_on_the_marketplace_releases_the_allocation(
    shop: Commerce,
) -> None:
    before = await shop.stock.availability("TEE-M", channel="web")
    order = await amazon(shop)
    assert await held(shop, "TEE-M", "wh") == 2
    assert (await shop.stock.availability("TEE-M", channel="web")).total == before.total - 2

    cancelled = await shop.orders.cancel_external("amazon", "402-0000001",
                                                  reason="buyer cancelled")
    assert cancelled.id == order.id
    assert cancelled.status is OrderStatus.CANCELLED
    assert await held(shop, "TEE-M", "wh") == 0
    assert await rows(shop, stock_holds) == 0
    assert (await shop.stock.availability("TEE-M", channel="web")).total == before.total
    assert {f.status for f in cancelled.fulfilments} == {FulfilmentStatus.CANCELLED}
    # Amazon refunded the buyer: recorded, no gateway asked
    [payment] = cancelled.payments
    assert (payment.status, payment.refunded) == (PaymentStatus.REFUNDED,
                                                  Money("44.70", "EUR"))
    assert cancelled.history[-1].note == "buyer cancelled"
    assert cancelled.history[-1].actor == "amazon"
    assert len(await events(shop, "order.cancelled")) == 1

    again = await shop.orders.cancel_external("amazon", "402-0000001")
    assert again == cancelled
    assert len(await events(shop, "order.cancelled")) == 1
    with pytest.raises(NotFound) as unknown:
        await shop.orders.cancel_external("amazon", "402-9999999")
    assert unknown.value.field == "external_id"


async def test_a_pos_sale_takes_its_units_off_the_shelf(shop: Commerce) -> None:
    sale = await shop.orders.import_external(
        "square", "SQ-SALE-1", channel="pos-paris-1", fulfilled=True, location="paris-1",
        lines=[{"sku": "TEE-M", "quantity": 2, "unit_price": "19.90"}],
        payments=[{"reference": "SQ-PAY-1", "method": "card"}])

    level = await shop.stock.level("TEE-M", "paris-1")
    assert (level.on_hand, level.reserved) == (1, 0)
    movement = (await shop.stock.ledger("TEE-M", "paris-1"))[-1]
    assert (movement.kind, movement.delta, movement.source, movement.external_id) == (
        MovementKind.SALE, -2, "square", "SQ-SALE-1:TEE-M")
    assert await rows(shop, stock_holds) == 0
    [fulfilment] = sale.fulfilments
    assert (fulfilment.location, fulfilment.status) == ("paris-1", FulfilmentStatus.COLLECTED)
    assert sale.status is OrderStatus.COMPLETED
    [payment] = sale.payments
    assert (payment.gateway, payment.reference, payment.captured) == (
        "external:square", "SQ-PAY-1", Money("39.80", "EUR"))
    assert "oversold" not in sale.details
    with pytest.raises(Conflict):  # the goods have left: a return, not a cancellation
        await shop.orders.cancel_external("square", "SQ-SALE-1")


async def test_an_oversold_import_is_recorded_and_flagged_without_overselling(
    shop: Commerce,
) -> None:
    # wh: 10 TEE-M, 1 kept as safety stock, 7 held for the web shop → 2 free, all in
    # Amazon's buffer of 2: Amazon itself sees none
    await shop.stock.set_safety_stock("TEE-M", "wh", 1)
    web = await shop.stock.hold("TEE-M", 7, channel="web", location="wh")
    assert (await shop.stock.availability("TEE-M", channel="amazon-fr")).total == 0

    order = await amazon(shop, lines=[{"sku": "TEE-M", "quantity": 5, "unit_price": "19.90"}],
                         total=None)

    [line] = order.lines
    assert order.details["oversold"] == [
        {"line_id": line.id, "sku": "TEE-M", "quantity": 5, "missing": 3, "location": None}]
    assert [part.quantity for f in order.fulfilments for part in f.lines] == [2]
    level = await shop.stock.level("TEE-M", "wh")
    assert (level.on_hand, level.safety_stock, level.reserved) == (10, 1, 9)
    assert level.reserved <= level.on_hand - level.safety_stock
    assert (await shop.stock.get_hold(web.id)).quantity == 7  # nobody else's units taken
    [flag] = await events(shop, "order.oversold")
    assert (flag["order_id"], flag["oversold"]) == (order.id, order.details["oversold"])
    assert order.status is OrderStatus.PAID

    # a till sale of more than the shelf has: what is free goes, the rest is flagged
    click = await shop.stock.hold("TEE-M", 1, channel="web", location="paris-1")
    sale = await shop.orders.import_external(
        "square", "SQ-2", channel="pos-paris-1", fulfilled=True, location="paris-1",
        lines=[{"sku": "TEE-M", "quantity": 5, "unit_price": "19.90"}])
    shelf = await shop.stock.level("TEE-M", "paris-1")
    assert (shelf.on_hand, shelf.reserved) == (1, 1)  # 3 - 2 free; the click & collect unit kept
    assert (await shop.stock.get_hold(click.id)).quantity == 1
    assert sale.details["oversold"] == [{"line_id": sale.lines[0].id, "sku": "TEE-M",
                                         "quantity": 5, "missing": 3, "location": "paris-1"}]


async def test_payments_are_recorded_as_given_and_cannot_be_charged(shop: Commerce) -> None:
    order = await amazon(shop, payments=[
        {"amount": "10.00", "reference": "GC-1", "method": "gift_card"},
        {"reference": "PAY-2", "method": "card", "data": {"last4": "4242"}}])
    assert [(p.reference, p.captured) for p in order.payments] == [
        ("GC-1", Money("10.00", "EUR")), ("PAY-2", Money("34.70", "EUR"))]
    assert order.paid == order.total
    gateway = shop.payments.gateway("external:amazon")
    with pytest.raises(PaymentDeclined):  # a storefront cannot pay "through Amazon"
        await gateway.authorize(None)  # type: ignore[arg-type]


async def test_bad_input_names_the_field_and_writes_nothing(shop: Commerce) -> None:
    line = {"sku": "TEE-M", "quantity": 1, "unit_price": "19.90"}
    cases: list[tuple[dict[str, Any], type[OmnicoreError], str]] = [
        ({"lines": [line, {**line, "sku": "NOPE"}], "total": None}, InvalidInput,
         "lines[1].sku"),
        ({"lines": [{**line, "quantity": 0}], "total": None}, InvalidInput,
         "lines[0].quantity"),
        ({"lines": [{**line, "quantity": -2}], "total": None}, InvalidInput,
         "lines[0].quantity"),
        ({"lines": [{**line, "quantity": True}], "total": None}, InvalidInput,
         "lines[0].quantity"),
        ({"lines": [], "total": None}, InvalidInput, "lines"),
        ({"lines": [{**line, "unit_price": Money("19.90", "GBP")}], "total": None},
         InvalidInput, "lines[0].unit_price"),
        ({"lines": [{**line, "unit_price": 19.9}], "total": None}, InvalidInput,
         "lines[0].unit_price"),
        ({"currency": "GBP"}, InvalidInput, "currency"),
        ({"shipping": Money("4.90", "USD")}, InvalidInput, "shipping"),
        ({"total": "44.71"}, InvalidInput, "total"),
        ({"customer": {"email": "not an e-mail"}}, InvalidInput, "customer.email"),
        ({"customer": {"phone": "12"}}, InvalidInput, "customer.phone"),
        ({"customer": {"nickname": "jo"}}, InvalidInput, "customer.nickname"),
        ({"customer": {"id": "cus_unknown"}}, NotFound, "customer.id"),
        ({"shipping_address": {"line1": "x", "city": "Lyon", "postal_code": "1",
                               "country": "France"}}, InvalidInput, "shipping_address.country"),
        ({"payments": [{"amount": "1.00"}]}, InvalidInput, "payments"),
        ({"fulfilled": True}, InvalidInput, "location"),
        ({"location": "lyon-1"}, InvalidInput, "location"),
        ({"placed_at": dt.datetime(2026, 3, 1)}, InvalidInput, "placed_at"),
        ({"channel": "nowhere"}, NotFound, "channel"),
    ]
    before = await everything(shop)
    for given, error, field in cases:
        with pytest.raises(error) as caught:
            await amazon(shop, **given)
        assert caught.value.field == field, given
    for source, external_id, field in (("Amazon FR", "1", "source"), ("amazon", " ", "external_id"),
                                       ("amazon", "x" * 129, "external_id")):
        with pytest.raises(InvalidInput) as caught:
            await amazon(shop, external_id) if source == "amazon" else \
                await shop.orders.import_external(source, external_id, channel="amazon-fr",
                                                  lines=[line])
        assert caught.value.field == field
    assert await everything(shop) == before


# -- tracking ------------------------------------------------------------------------------------


async def test_tracking_by_number_and_e_mail_or_phone(shop: Commerce) -> None:
    order = await amazon(shop, customer={"email": "Jo.Buyer@Example.com",
                                         "phone": "+33 6 12 34 56 78"})
    assert (order.email, order.phone) == ("jo.buyer@example.com", "+33612345678")

    for contact in ({"email": "jo.buyer@example.com"}, {"email": " JO.BUYER@example.COM "},
                    {"phone": "06 12 34 56 78"}, {"phone": "+33612345678"},
                    {"phone": "0033 6-12-34-56-78"},
                    {"email": "someone@else.com", "phone": "06.12.34.56.78"}):
        assert (await shop.orders.track(order.number, **contact)).id == order.id, contact

    failures = []
    for number, contact in ((order.number, {"email": "eve@example.com"}),
                            (order.number, {"phone": "06 99 99 99 99"}),
                            ("999999", {"email": "jo.buyer@example.com"}),
                            (f" {order.number}0", {"phone": "06 12 34 56 78"})):
        with pytest.raises(NotFound) as caught:
            await shop.orders.track(number, **contact)
        failures.append((type(caught.value), caught.value.as_dict()))
    # a wrong contact and an unknown number answer exactly alike: nothing to probe
    assert len(set(map(repr, failures))) == 1
    with pytest.raises(InvalidInput) as nothing:
        await shop.orders.track(order.number)
    assert nothing.value.field == "email"


async def test_a_guest_checkout_is_tracked_with_the_e_mail_as_typed(shop: Commerce) -> None:
    cart = await shop.carts.create("web")
    cart = await shop.carts.add_lines(cart.id, [{"sku": "TEE-L", "quantity": 1}],
                                      version=cart.version)
    cart = await shop.carts.set_delivery(cart.id, [{
        "key": "home", "kind": "ship", "method": "standard",
        "address": {"line1": "3 rue de Rivoli", "city": "Paris", "postal_code": "75004",
                    "country": "FR"}}], version=cart.version)
    order = await shop.checkout(cart.id, payments=[{"gateway": "manual"}], idempotency_key="k",
                                email="Ada.Lovelace@Example.com", phone="06 12 34 56 78")
    assert (order.email, order.phone) == ("ada.lovelace@example.com", "+33612345678")
    assert (await shop.orders.track(order.number, email="Ada.Lovelace@Example.com")).id == \
        order.id
    assert (await shop.orders.track(order.number, phone="+33 6 12 34 56 78")).id == order.id
