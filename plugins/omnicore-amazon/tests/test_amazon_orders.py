"""Orders: imported once into the same stock and customers, cancelled, shipments confirmed.
Every test runs for FR alone and for FR + BE."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from amazon_fake import BE, FR, FakeAmazon, error_response, order_2026, order_item_v0, order_v0
from amazon_world import build_world
from conftest import open_shop
from omnicore_amazon import AmazonPlugin

from omnicore import Commerce, Event
from omnicore.testing import FakeClock

pytestmark = pytest.mark.parametrize("marketplace_ids", [["FR"], ["FR", "BE"]],
                                     ids=["FR", "FR+BE"])


def ids_of(marketplace_ids: list[str]) -> str:
    return ",".join({"FR": FR, "BE": BE}[m] for m in marketplace_ids)

BUYER = "x7kq2m9@marketplace.amazon.fr"


async def _available(shop: Commerce, sku: str) -> int:
    return (await shop.stock.availability(sku, channel="amazon-fr")).total


async def test_an_order_is_imported_once_with_stock_and_customer(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon,
        marketplace_ids: list[str]) -> None:
    await shop.stock.receive("TEE-M", "wh", 10, source="erp")
    await shop.outbox.drain()
    amazon.order_pages = [
        {"orders": [order_2026("402-8812345-1234567")],
         "pagination": {"nextToken": "page-1"}, "lastUpdatedBefore": "2026-03-02T09:28:00Z"},
        {"orders": [order_2026("402-1111111-2222222", status="PENDING", item_id="11")]},
    ]
    orders = plugin.started().orders

    result = await orders.sync()

    assert (result.seen, result.imported, result.waiting) == (2, 1, 1)
    first, second = amazon.calls["searchOrders"]
    params = first.url.params
    assert params["marketplaceIds"] == ids_of(marketplace_ids)
    assert params["fulfilledBy"] == "MERCHANT"
    assert params["includedData"] == "BUYER,RECIPIENT,PROCEEDS,FULFILLMENT"
    assert params["lastUpdatedAfter"] == "2026-02-27T09:30:00Z"  # three days back, at first
    assert second.url.params["paginationToken"] == "page-1"
    order = await shop.orders.by_external("amazon", "402-8812345-1234567")
    assert order.channel == "amazon-fr"
    assert [(li.sku, li.quantity, str(li.unit_price.amount)) for li in order.lines] == [
        ("TEE-M", 2, "19.90")]
    assert str(order.shipping.amount) == "4.90" and str(order.total.amount) == "44.70"
    assert order.details["imported"]["external_line_ids"] == {
        order.lines[0].id: "49284729475028"}
    assert order.details["attributes"]["marketplace_id"] == FR
    # the same stock: two units allocated (9 on Amazon's side before, 7 now)
    assert await _available(shop, "TEE-M") == 7
    # the same customers: an external identity (amazon, the buyer's relay address)
    customer = await shop.customers.find("external", BUYER, source="amazon")
    assert order.customer_id == customer.id
    assert (customer.first_name, customer.last_name) == ("Jo", "Buyer")

    # the same page again (a crash, an overlap): still one order, stock untouched
    amazon.calls.clear()
    result = await orders.sync()
    assert result.imported == 0 and result.unchanged == 1
    assert len(await shop.orders.list(channel="amazon-fr")) == 1
    assert await _available(shop, "TEE-M") == 7
    # the cursor moved to two minutes before the first pass
    assert amazon.calls["searchOrders"][0].url.params["lastUpdatedAfter"] == (
        "2026-03-02T09:28:00Z")

    # the allocation lowered what Amazon may sell: pushed back with the next flush
    await shop.outbox.drain()
    await plugin.started().stock.flush()
    assert amazon.bodies("patchListingsItem")[-1]["patches"][0]["value"] == [
        {"fulfillment_channel_code": "DEFAULT", "quantity": 7}]


async def test_the_same_buyer_is_the_same_customer(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon) -> None:
    await shop.stock.receive("TEE-M", "wh", 10, source="erp")
    amazon.order_pages = [{"orders": [
        order_2026("402-0000001-0000001", item_id="1"),
        order_2026("402-0000002-0000002", quantity=1, item_id="2", email=BUYER.upper()),
    ]}]
    await plugin.started().orders.sync()

    one = await shop.orders.by_external("amazon", "402-0000001-0000001")
    two = await shop.orders.by_external("amazon", "402-0000002-0000002")
    assert one.customer_id == two.customer_id is not None
    assert {o.id for o in await shop.orders.for_customer(one.customer_id)} == {one.id, two.id}


async def test_a_cancellation_at_amazon_releases_the_stock(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon) -> None:
    await shop.stock.receive("TEE-M", "wh", 3, source="erp")  # Amazon sees 2
    await shop.outbox.drain()
    await plugin.started().stock.flush()
    amazon.order_pages = [{"orders": [order_2026("402-8812345-1234567")]}]
    orders = plugin.started().orders
    await orders.sync()
    assert await _available(shop, "TEE-M") == 0
    await shop.outbox.drain()  # sold out on Amazon: patched to 0 at once
    assert amazon.bodies("patchListingsItem")[-1]["patches"][0]["value"][0]["quantity"] == 0

    amazon.order_pages = [{"orders": [order_2026(
        "402-8812345-1234567", status="CANCELLED", updated="2026-03-02T09:40:00Z")]}]
    result = await orders.sync()

    assert result.cancelled == 1
    order = await shop.orders.by_external("amazon", "402-8812345-1234567")
    assert order.status.value == "cancelled"
    assert await _available(shop, "TEE-M") == 2
    await shop.outbox.drain()
    await plugin.started().stock.flush()
    assert amazon.bodies("patchListingsItem")[-1]["patches"][0]["value"][0]["quantity"] == 2
    # seen cancelled again: nothing more
    assert (await orders.sync()).unchanged == 1


async def test_an_order_with_an_unknown_sku_is_recorded_and_the_others_imported(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon) -> None:
    await shop.stock.receive("TEE-M", "wh", 10, source="erp")
    amazon.order_pages = [{"orders": [
        order_2026("402-0000001-0000001", sku="NOT-IN-CATALOG", item_id="1"),
        order_2026("402-0000002-0000002", item_id="2"),
        order_2026("402-0000003-0000003", fulfilled_by="AMAZON", item_id="3"),
    ]}]
    result = await plugin.started().orders.sync()

    assert (result.imported, result.failed, result.skipped) == (1, 1, 1)
    (failed,) = await plugin.started().orders.failures()
    assert failed.amazon_order_id == "402-0000001-0000001"
    assert "NOT-IN-CATALOG" in failed.note

    # the SKU is created: reading the orders again from before imports it
    await shop.catalog.save_product({"handle": "new-tee", "title": "New tee",
                                     "variants": [{"sku": "NOT-IN-CATALOG"}]})
    await shop.stock.receive("NOT-IN-CATALOG", "wh", 5, source="erp")
    since = await plugin.started().orders.cursor()
    result = await plugin.started().orders.sync(since=since - dt.timedelta(days=1))
    assert (result.imported, result.unchanged) == (1, 1)
    assert await plugin.started().orders.failures() == []


async def test_shipping_the_fulfilment_confirms_the_shipment_to_amazon(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon, clock: FakeClock) -> None:
    await shop.stock.receive("TEE-M", "wh", 10, source="erp")
    amazon.order_pages = [{"orders": [order_2026("402-8812345-1234567")]}]
    await plugin.started().orders.sync()
    order = await shop.orders.by_external("amazon", "402-8812345-1234567")
    (fulfilment,) = order.fulfilments
    await shop.outbox.drain()
    amazon.script("confirmShipment", error_response(
        503, "ServiceUnavailable", "Service temporarily unavailable."), *[error_response(
            503, "ServiceUnavailable", "Service temporarily unavailable.")] * 2)

    await shop.fulfilment.ship(fulfilment.id, carrier="Colissimo", tracking_number="6A12345678")
    await shop.outbox.drain()  # Amazon is down: the event waits in the outbox
    assert len(amazon.calls["confirmShipment"]) == 3
    assert [d.topic for d in await shop.outbox.deliveries(
        consumer="amazon", status="pending")] == ["fulfilment.shipped"]
    clock.advance(minutes=10)
    await shop.outbox.drain()

    request = amazon.calls["confirmShipment"][-1]
    assert request.url.path == "/orders/v0/orders/402-8812345-1234567/shipmentConfirmation"
    body = amazon.bodies("confirmShipment")[-1]
    assert body == {"marketplaceId": FR, "packageDetail": {
        "packageReferenceId": "1", "carrierCode": "Colissimo", "trackingNumber": "6A12345678",
        "shipDate": "2026-03-02T09:30:00Z",
        "orderItems": [{"orderItemId": "49284729475028", "quantity": 2}]}}
    assert not await shop.outbox.deliveries(consumer="amazon", status="pending")

    # delivered again (at least once): not confirmed twice
    confirmed = await plugin.started().orders.confirm_shipment(
        _shipped_event(fulfilment.id, order.id))
    assert confirmed == "already confirmed"
    assert len(amazon.calls["confirmShipment"]) == 4


def _shipped_event(fulfilment_id: str, order_id: str) -> Event:
    return Event(999, "fulfilment.shipped", {
        "fulfilment_id": fulfilment_id, "order_id": order_id, "channel": "amazon-fr",
        "carrier": "Colissimo", "tracking_number": "6A12345678", "lines": []},
        dt.datetime(2026, 3, 2, tzinfo=dt.UTC))


async def test_an_unknown_carrier_is_sent_as_other_with_its_name(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon) -> None:
    await shop.stock.receive("TEE-M", "wh", 10, source="erp")
    amazon.order_pages = [{"orders": [order_2026("402-8812345-1234567")]}]
    await plugin.started().orders.sync()
    order = await shop.orders.by_external("amazon", "402-8812345-1234567")
    await shop.fulfilment.ship(order.fulfilments[0].id, carrier="Coursier Express",
                               tracking_number="CE-998877")
    await shop.outbox.drain()

    detail = amazon.bodies("confirmShipment")[0]["packageDetail"]
    assert (detail["carrierCode"], detail["carrierName"]) == ("Other", "Coursier Express")


async def test_orders_through_the_v0_api(
        db_url: str, clock: FakeClock, plugin: AmazonPlugin, amazon: FakeAmazon,
        amazon_settings: dict[str, Any], marketplace_ids: list[str]) -> None:
    commerce = await open_shop(db_url, clock, plugin, **{**amazon_settings,
                                                         "orders_api": "v0"})
    try:
        await build_world(commerce)
        await commerce.stock.receive("TEE-M", "wh", 10, source="erp")
        await commerce.stock.receive("TEE-L", "wh", 10, source="erp")
        amazon.v0_order_pages = [
            {"payload": {"Orders": [order_v0("171-0000001-0000001")],
                         "NextToken": "page-1"}},
            {"payload": {"Orders": [order_v0("171-0000002-0000002", status="Pending")]}},
        ]
        amazon.v0_items["171-0000001-0000001"] = [
            order_item_v0("68828574383266", "TEE-M", 3, "59.70", shipping="4.90"),
            order_item_v0("68828574383267", "TEE-L", 3, "50.00"),  # 16.67 x 3 - 0.01
        ]
        result = await plugin.started().orders.sync()

        assert (result.imported, result.waiting) == (1, 1)
        first = amazon.calls["getOrders"][0].url.params
        assert (first["MarketplaceIds"], first["FulfillmentChannels"]) == (
            ids_of(marketplace_ids), "MFN")
        assert amazon.calls["getOrders"][1].url.params["NextToken"] == "page-1"
        # the items came in two pages of getOrderItems
        assert [c.url.params.get("NextToken") for c in amazon.calls["getOrderItems"]] == [
            None, "items-1", None]
        order = await commerce.orders.by_external("amazon", "171-0000001-0000001")
        lines = {li.sku: li for li in order.lines}
        assert str(lines["TEE-M"].unit_price.amount) == "19.90"
        assert str(lines["TEE-L"].unit_price.amount) == "16.67"
        assert str(lines["TEE-L"].total.amount) == "50.00"
        assert str(order.shipping.amount) == "4.90"
        assert order.customer_id is not None
    finally:
        await commerce.close()
