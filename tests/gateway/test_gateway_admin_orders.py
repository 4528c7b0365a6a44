"""Admin API: orders (filter, read, cancel, refund, returns) and fulfilment (ship, click &
collect with a code) — each at the locations the staff key covers."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_gateway_admin import HOME, Admin, errors_of, open_admin

from omnicore import Commerce, hookimpl
from omnicore.fulfilment._codes import ALPHABET
from omnicore.sourcing import Assignment, SourcingPlan
from omnicore.testing import FakeClock


class TeeLTravels:
    """Sourcing: a pickup of TEE-L comes from ``wh`` by transfer; the rest as usual."""

    name = "tee-l-travels"

    @hookimpl
    def choose_sources(self, commerce: Commerce, request: Any) -> SourcingPlan | None:
        if any(line.sku != "TEE-L" for line in request.lines):
            return None
        return SourcingPlan(
            [Assignment(line.line_id, line.sku, line.group, "wh", line.quantity,
                        transfer_to=request.group(line.group).pickup_location,
                        eta=request.now + dt.timedelta(hours=48))
             for line in request.lines], ["TEE-L travels from wh"])


@pytest.fixture
async def admin(db_url: str, clock: FakeClock) -> AsyncIterator[Admin]:
    async with open_admin(db_url, clock, TeeLTravels()) as world:
        yield world


def pickup(sku: str, store: str) -> dict[str, Any]:
    return {"sku": sku, "quantity": 1, "fulfilment": "pickup", "location": store}


async def shipped_from_wh(admin: Admin) -> Any:
    return await admin.place([{"sku": "TEE-L", "quantity": 2}], delivery=[HOME], key="a")


ORDERS = """query($status: [String!], $channel: String, $location: String, $first: Int,
  $after: String) { orders(status: $status, channel: $channel, location: $location,
  first: $first, after: $after) { nodes { number channel } endCursor hasNextPage } }"""
ORDER = """query($number: String, $id: ID) { order(number: $number, id: $id) {
  id number status customerId cartId capturePolicy total { amount currency }
  lines { id sku quantity quantityReturned }
  payments { id gateway status reference refundable { amount } }
  fulfilments { id orderId location kind status pickupLocation }
  history { toStatus actor } returns { id location refund { amount } lines { sku quantity } }
} }"""


async def test_orders_are_filtered_and_a_store_key_lists_its_own(admin: Admin) -> None:
    web = await shipped_from_wh(admin)
    rivoli = await admin.place([pickup("TEE-M", "paris-1")], gateway="manual", key="b")
    other = await admin.place([pickup("TEE-M", "paris-2")], key="c", channel="app")
    admin.clock.advance(60)  # placed_at ties are broken by id: give them an order in time

    every = (await admin.data("admin", ORDERS))["orders"]
    assert {n["number"] for n in every["nodes"]} == {web.number, rivoli.number, other.number}
    assert every["hasNextPage"] is False
    assert [n["number"] for n in (await admin.data("admin", ORDERS, channel="app"))
            ["orders"]["nodes"]] == [other.number]
    assert [n["number"] for n in (await admin.data("admin", ORDERS, location="paris-1"))
            ["orders"]["nodes"]] == [rivoli.number]
    placed = (await admin.data("admin", ORDERS, status=["placed"]))["orders"]["nodes"]
    assert [n["number"] for n in placed] == [rivoli.number]  # pay at pickup
    assert await admin.error("admin", ORDERS, status=["lost"]) == {
        "code": "invalid_input", "field": "status[0]"}
    naive = 'query { orders(placedAfter: "2026-03-01T00:00:00") { hasNextPage } }'
    assert await admin.error("admin", naive) == {"code": "invalid_input", "field": "placedAfter"}
    later = "query($since: DateTime) { orders(placedAfter: $since) { nodes { number } } }"
    after_all = await admin.data("admin", later, since=admin.clock.now.isoformat())
    assert after_all["orders"]["nodes"] == []  # all three were placed before the clock moved

    # pages of one, following endCursor
    seen, after = [], None
    while True:
        page = (await admin.data("admin", ORDERS, first=1, after=after))["orders"]
        seen += [n["number"] for n in page["nodes"]]
        if not page["hasNextPage"]:
            break
        after = page["endCursor"]
    assert sorted(seen) == sorted(n["number"] for n in every["nodes"])

    mine = (await admin.data("paris", ORDERS))["orders"]
    assert [n["number"] for n in mine["nodes"]] == [rivoli.number]
    assert await admin.error("paris", ORDERS, location="paris-2") == {
        "code": "forbidden", "field": "location"}
    assert await admin.error("reports", ORDERS) == {"code": "forbidden", "field": "permission"}

    # any order opens by number (a customer brings the receipt to the counter)
    read = (await admin.data("paris", ORDER, number=web.number))["order"]
    assert (read["id"], read["capturePolicy"], read["status"]) == (
        web.id, "on_fulfilment", "authorized")
    assert read["payments"][0]["gateway"] == "card" and read["payments"][0]["reference"]
    assert read["fulfilments"][0]["location"] == "wh"
    assert read["fulfilments"][0]["orderId"] == web.id
    assert await admin.error("admin", ORDER, number="nope") == {
        "code": "not_found", "field": "number"}


FULFILMENT = "fulfilment { id status location carrier trackingNumber }"
STEP = """mutation($id: ID!) {{ {name}(id: $id) {{ {fulfilment} userErrors {{ field code }} }} }}"""
SHIP = f"""mutation($id: ID!, $carrier: String!) {{ fulfilmentShip(id: $id, carrier: $carrier,
  trackingNumber: "6A1234") {{ {FULFILMENT} userErrors {{ field code }} }} }}"""
QUEUE = """query($location: String!) { fulfilments(location: $location) { id kind status
  orderId } }"""


def step(name: str) -> str:
    return STEP.format(name=name, fulfilment=FULFILMENT)


async def test_the_warehouse_ships_and_a_store_key_cannot(admin: Admin) -> None:
    order = await shipped_from_wh(admin)
    ful = order.fulfilments[0].id
    queue = (await admin.data("admin", QUEUE, location="wh"))["fulfilments"]
    assert [(f["id"], f["status"], f["orderId"]) for f in queue] == [(ful, "open", order.id)]
    assert await admin.error("paris", QUEUE, location="wh") == {
        "code": "forbidden", "field": "location"}

    for name in ("fulfilmentStartPicking", "fulfilmentPack", "fulfilmentDeliver"):
        refused = await admin.mutate("paris", step(name), id=ful)
        assert errors_of(refused) == [("forbidden", "location")], name
    assert errors_of(await admin.mutate("paris", SHIP, id=ful, carrier="DPD")) == [
        ("forbidden", "location")]
    assert errors_of(await admin.mutate("reports", step("fulfilmentPack"), id=ful)) == [
        ("forbidden", "permission")]
    assert errors_of(await admin.mutate("admin", step("fulfilmentPack"), id="ful_nope")) == [
        ("not_found", "fulfilmentId")]
    early = await admin.mutate("admin", step("fulfilmentDeliver"), id=ful)
    assert errors_of(early) == [("conflict", "status")]

    picking = await admin.mutate("admin", step("fulfilmentStartPicking"), id=ful)
    assert picking["fulfilment"]["status"] == "picking"
    assert (await admin.mutate("admin", step("fulfilmentPack"), id=ful))[
        "fulfilment"]["status"] == "packed"
    shipped = await admin.mutate("admin", SHIP, id=ful, carrier="Colissimo")
    assert shipped["fulfilment"] == {"id": ful, "status": "shipped", "location": "wh",
                                     "carrier": "Colissimo", "trackingNumber": "6A1234"}
    assert admin.gateway.count("capture") == 1  # the goods left: what is due is captured
    assert errors_of(await admin.mutate("admin", SHIP, id=ful, carrier="UPS")) == [
        ("conflict", "status")]
    delivered = await admin.mutate("admin", step("fulfilmentDeliver"), id=ful)
    assert delivered["fulfilment"]["status"] == "delivered"

    read = (await admin.data("admin", ORDER, id=order.id))["order"]
    key_id = (await admin.data("admin", "{ staffMe { id } }"))["staffMe"]["id"]
    assert read["status"] == "completed"
    assert [h["actor"] for h in read["history"] if h["toStatus"] == "in_fulfilment"] == [
        f"staff:{key_id}"]


COLLECT = f"""mutation($reference: String!, $code: String!, $location: String!) {{
  fulfilmentCollect(reference: $reference, code: $code, location: $location) {{
  {FULFILMENT} userErrors {{ field code }} }} }}"""
READY = """mutation($id: ID!) {{ {name}(id: $id) {{ orderNumber pickupCode pickupLocation
  expiresAt fulfilment {{ status }} userErrors {{ field code }} }} }}"""


async def test_click_and_collect_at_the_store_with_the_code(admin: Admin) -> None:
    rivoli = await admin.place([pickup("TEE-M", "paris-1")], gateway="manual", key="b")
    other = await admin.place([pickup("TEE-M", "paris-2")], key="c", channel="app")
    await admin.commerce.stock.receive("TEE-L", "paris-2", 1, source="seed")
    transferred = await admin.place([pickup("TEE-L", "paris-2")], key="d", channel="app")
    mine, theirs = rivoli.fulfilments[0].id, other.fulfilments[0].id
    travelling = transferred.fulfilments[0]
    assert (travelling.location, travelling.pickup_location, travelling.status.value) == (
        "wh", "paris-2", "awaiting_transfer")

    ready = await admin.mutate("paris", READY.format(name="fulfilmentReadyForPickup"), id=mine)
    assert ready["userErrors"] == [] and ready["fulfilment"]["status"] == "ready_for_pickup"
    assert re.fullmatch(f"[{ALPHABET}]{{8}}", ready["pickupCode"])
    assert (ready["orderNumber"], ready["pickupLocation"]) == (rivoli.number, "paris-1")
    refused = await admin.mutate("paris", READY.format(name="fulfilmentReadyForPickup"),
                                 id=theirs)
    assert errors_of(refused) == [("forbidden", "location")] and refused["pickupCode"] is None
    arrival = step("fulfilmentTransferArrived")
    assert errors_of(await admin.mutate("paris", arrival, id=travelling.id)) == [
        ("forbidden", "location")]
    arrived = await admin.mutate("admin", arrival, id=travelling.id)
    assert arrived["fulfilment"]["status"] == "open"
    assert arrived["fulfilment"]["location"] == "paris-2"
    assert errors_of(await admin.mutate("admin", arrival, id=travelling.id)) == [
        ("conflict", "status")]

    wrong = await admin.mutate("paris", COLLECT, reference=rivoli.number, code="AAAAAAAA",
                               location="paris-1")
    assert errors_of(wrong) == [("forbidden", "code")]
    elsewhere = await admin.mutate("paris", COLLECT, reference=rivoli.number,
                                   code=ready["pickupCode"], location="paris-2")
    assert errors_of(elsewhere) == [("forbidden", "location")]
    reissued = await admin.mutate("paris", READY.format(name="fulfilmentReissuePickupCode"),
                                  id=mine)
    assert reissued["pickupCode"] != ready["pickupCode"]
    stale = await admin.mutate("paris", COLLECT, reference=mine, code=ready["pickupCode"],
                               location="paris-1")
    assert errors_of(stale) == [("forbidden", "code")]
    collected = await admin.mutate("paris", COLLECT, reference=rivoli.number,
                                   code=reissued["pickupCode"], location="paris-1")
    assert collected["userErrors"] == [] and collected["fulfilment"]["status"] == "collected"
    again = await admin.mutate("paris", COLLECT, reference=rivoli.number,
                               code=reissued["pickupCode"], location="paris-1")
    assert errors_of(again) == [("conflict", "status")]
    read = (await admin.data("paris", ORDER, id=rivoli.id))["order"]
    assert read["status"] == "completed" and read["payments"][0]["status"] == "captured"
    assert (await admin.commerce.stock.level("TEE-M", "paris-1")).on_hand == 2


RETURN = """mutation($orderId: ID!, $lines: [ReturnLineInput!]!, $location: String!,
  $method: String, $refund: Boolean, $amount: String) {
  returnCreate(orderId: $orderId, lines: $lines, location: $location, method: $method,
  refund: $refund, refundAmount: $amount, reason: "too small") {
  return { id location method refund { amount currency } lines { sku quantity refund { amount } } }
  order { status refunded { amount } } userErrors { field code } } }"""
REFUND = """mutation($paymentId: ID!, $amount: String) { orderRefund(paymentId: $paymentId,
  amount: $amount) { payment { status refunded { amount } refundable { amount } }
  order { refunded { amount } } userErrors { field code } } }"""


async def test_returns_at_a_store_and_refunds(admin: Admin) -> None:
    order = await shipped_from_wh(admin)
    ful = order.fulfilments[0].id
    await admin.commerce.fulfilment.ship(ful, carrier="DPD", tracking_number="D1")
    line = order.lines[0]
    payment = order.payments[0].id

    too_many = await admin.mutate("paris", RETURN, orderId=order.id, location="paris-1",
                                  lines=[{"lineId": line.id, "quantity": 3}])
    assert errors_of(too_many) == [("invalid_input", "lines[0].quantity")]
    other_store = await admin.mutate("paris", RETURN, orderId=order.id, location="paris-2",
                                     lines=[{"lineId": line.id, "quantity": 1}])
    assert errors_of(other_store) == [("forbidden", "location")]
    by_mail = await admin.mutate("paris", RETURN, orderId=order.id, location="wh",
                                 method="mail", lines=[{"lineId": line.id, "quantity": 1}])
    assert errors_of(by_mail) == [("forbidden", "location")]
    both = await admin.mutate("paris", RETURN, orderId=order.id, location="paris-1",
                              refund=False, amount="1.00",
                              lines=[{"lineId": line.id, "quantity": 1}])
    assert errors_of(both) == [("invalid_input", "refundAmount")]

    # a web order comes back at the Rivoli store: units join its shelf, money goes back
    returned = await admin.mutate("paris", RETURN, orderId=order.id, location="paris-1",
                                  lines=[{"lineId": line.id, "quantity": 1}])
    assert returned["userErrors"] == []
    record = returned["return"]
    assert (record["location"], record["method"]) == ("paris-1", "store")
    assert record["refund"] == {"amount": "19.90", "currency": "EUR"}
    assert record["lines"] == [{"sku": "TEE-L", "quantity": 1, "refund": {"amount": "19.90"}}]
    assert returned["order"]["status"] == "partially_returned"
    assert (await admin.commerce.stock.level("TEE-L", "paris-1")).on_hand == 2

    # refunds are order-wide: the order also involves wh, beyond the Paris key
    refused = await admin.mutate("paris", REFUND, paymentId=payment, amount="4.90")
    assert errors_of(refused) == [("forbidden", "location")]
    too_much = await admin.mutate("admin", REFUND, paymentId=payment, amount="500.00")
    assert errors_of(too_much) == [("invalid_input", "amount")]
    assert errors_of(await admin.mutate("admin", REFUND, paymentId="pay_nope")) == [
        ("not_found", "paymentId")]
    refunded = await admin.mutate("admin", REFUND, paymentId=payment, amount="4.90")
    assert refunded["userErrors"] == []
    assert refunded["payment"]["refunded"] == {"amount": "24.80"}
    assert refunded["order"]["refunded"] == {"amount": "24.80"}
    read = (await admin.data("admin", ORDER, id=order.id))["order"]
    assert read["lines"][0]["quantityReturned"] == 1
    assert read["returns"][0]["location"] == "paris-1"


CANCEL = """mutation($id: ID!) { orderCancel(id: $id, reason: "customer asked") {
  order { status fulfilments { status } } userErrors { field code } } }"""


async def test_cancel_needs_every_location_of_the_order(admin: Admin) -> None:
    other = await admin.place([pickup("TEE-M", "paris-2")], key="c", channel="app")
    rivoli = await admin.place([pickup("TEE-M", "paris-1")], key="e")
    refused = await admin.mutate("paris", CANCEL, id=other.id)
    assert errors_of(refused) == [("forbidden", "location")] and refused["order"] is None
    assert (await admin.commerce.orders.get(other.id)).status.value == "authorized"
    cancelled = await admin.mutate("paris", CANCEL, id=rivoli.id)
    assert cancelled["userErrors"] == []
    assert cancelled["order"]["status"] == "cancelled"
    assert cancelled["order"]["fulfilments"] == [{"status": "cancelled"}]
    assert errors_of(await admin.mutate("paris", CANCEL, id=rivoli.id)) == [
        ("conflict", "status")]
    assert errors_of(await admin.mutate("admin", CANCEL, id="ord_nope"))[0][0] == "not_found"
    assert (await admin.mutate("admin", CANCEL, id=other.id))["order"]["status"] == "cancelled"
    assert admin.gateway.count("void") == 2
