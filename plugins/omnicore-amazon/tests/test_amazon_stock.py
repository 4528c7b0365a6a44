"""Stock: stock.changed coalesced into feeds, sold-out SKUs patched at once, outages.
Every test runs for FR alone and for FR + BE."""

from __future__ import annotations

import json
from typing import Any

import pytest
from amazon_fake import BE, FR, SELLER, FakeAmazon, error_response
from amazon_world import SOCKS
from omnicore_amazon import AmazonPlugin

from omnicore import Commerce
from omnicore.testing import FakeClock

pytestmark = pytest.mark.parametrize("marketplace_ids", [["FR"], ["FR", "BE"]],
                                     ids=["FR", "FR+BE"])


def ids_of(marketplace_ids: list[str]) -> list[str]:
    return [{"FR": FR, "BE": BE}[m] for m in marketplace_ids]


def _quantity_patch(body: dict) -> int:
    (patch,) = body["patches"]
    assert patch["op"] == "replace"
    assert patch["path"] == "/attributes/fulfillment_availability"
    (value,) = patch["value"]
    assert value["fulfillment_channel_code"] == "DEFAULT"
    return int(value["quantity"])


async def test_a_burst_of_changes_becomes_one_feed_and_its_report_is_read(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon,
        marketplace_ids: list[str]) -> None:
    # twelve SKUs counted in one go, then two of them change again before the push
    await shop.stock.set_levels([{"sku": sku, "location": "wh", "on_hand": 5 + n}
                                 for n, sku in enumerate(SOCKS)])
    await shop.stock.receive("SOCK-01", "wh", 10, source="erp")
    await shop.stock.adjust("SOCK-03", "wh", -2, source="audit", note="damaged")
    amazon.feed_errors["SOCK-12"] = {
        "code": "90220", "severity": "ERROR",
        "message": "'[batteries_required]' is required but not supplied."}
    await shop.outbox.drain()
    # recorded, not sent: nothing is urgent, the push is coalesced
    assert dict(amazon.calls) == {}
    stock_sync = plugin.started().stock
    assert await stock_sync.count_pending() == 12

    flushed = await stock_sync.flush()

    assert flushed.messages == 12 and len(flushed.feeds) == 1 and flushed.patched == 0
    assert len(amazon.calls["createFeedDocument"]) == 1
    assert amazon.bodies("createFeedDocument") == [
        {"contentType": "application/json; charset=UTF-8"}]
    assert amazon.calls["upload"][0].headers["content-type"] == "application/json; charset=UTF-8"
    (document,) = amazon.uploaded()
    assert document["header"] == {"sellerId": SELLER, "version": "2.0"}
    messages = document["messages"]
    assert [m["messageId"] for m in messages] == list(range(1, 13))
    assert {m["operationType"] for m in messages} == {"PATCH"}
    assert {m["productType"] for m in messages} == {"SOCKS"}
    quantities = {m["sku"]: _quantity_patch(m) for m in messages}
    # the Amazon channel sees the warehouse minus its buffer of 1; the newest event wins
    expected = {sku: 5 + n - 1 for n, sku in enumerate(SOCKS)}
    expected["SOCK-01"] += 10
    expected["SOCK-03"] -= 2
    assert quantities == expected
    feed_spec = amazon.bodies("createFeed")[0]
    assert feed_spec["feedType"] == "JSON_LISTINGS_FEED"
    assert feed_spec["marketplaceIds"] == ids_of(marketplace_ids)
    assert feed_spec["inputFeedDocumentId"] in amazon.documents
    assert await stock_sync.count_pending() == 0

    polled = await stock_sync.poll()

    assert polled.finished == flushed.feeds
    assert (polled.accepted, polled.rejected) == (11, 1)
    assert len(amazon.calls["getFeedDocument"]) == 1 and len(amazon.calls["report"]) == 1
    row = await stock_sync.quantity("SOCK-01")
    assert (row.sent, row.error) == (expected["SOCK-01"], None)
    rejected = await stock_sync.quantity("SOCK-12")
    assert rejected.sent == 0 and "90220" in rejected.error  # still what was listed
    problems = await plugin.started().listings.problems()
    assert [(p.sku, p.issues[0]["code"]) for p in problems] == [("SOCK-12", "90220")]
    (feed,) = await stock_sync.feed_rows()
    assert feed.status == "DONE"
    assert feed.summary["messagesAccepted"] == 11
    # a second flush has nothing left to send
    again = await stock_sync.flush()
    assert (again.messages, again.patched) == (0, 0)


async def test_a_few_changes_go_as_patches(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon,
        marketplace_ids: list[str]) -> None:
    await shop.stock.receive("TEE-M", "wh", 4, source="erp")
    await shop.stock.receive("TEE-L", "wh", 6, source="erp")
    await shop.outbox.drain()

    flushed = await plugin.started().stock.flush()

    assert (flushed.patched, flushed.feeds) == (2, [])
    quantities = {r.url.path.rsplit("/", 1)[-1]: _quantity_patch(b) for r, b in zip(
        amazon.calls["patchListingsItem"], amazon.bodies("patchListingsItem"), strict=True)}
    assert quantities == {"TEE-M": 3, "TEE-L": 5}
    assert "createFeed" not in amazon.calls
    for request in amazon.calls["patchListingsItem"]:  # one patch for every marketplace
        assert request.url.params["marketplaceIds"] == ",".join(ids_of(marketplace_ids))


async def test_a_sku_sold_out_in_a_store_stops_selling_on_amazon_at_once(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon,
        marketplace_ids: list[str]) -> None:
    await shop.stock.receive("TEE-L", "paris-1", 2, source="erp")
    await shop.outbox.drain()
    await plugin.started().stock.flush()
    amazon.calls.clear()

    await shop.stock.sell("TEE-L", "paris-1", 2, source="pos", external_id="till-7:1")
    await shop.outbox.drain()  # one dispatch cycle, no flush

    (request,) = amazon.calls["patchListingsItem"]
    assert request.url.path == f"/listings/2021-08-01/items/{SELLER}/TEE-L"
    assert request.url.params["marketplaceIds"] == ",".join(ids_of(marketplace_ids))
    assert request.url.params["issueLocale"] == "fr_FR"
    assert json.loads(request.content)["productType"] == "SHIRT"
    assert _quantity_patch(json.loads(request.content)) == 0
    assert await plugin.started().stock.count_pending() == 0
    # delivered again (at least once): nothing more is sent
    await plugin.started().stock.push_now("TEE-L")
    assert len(amazon.calls["patchListingsItem"]) == 1


async def test_an_amazon_outage_delays_the_push_and_loses_nothing(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon, clock: FakeClock) -> None:
    await shop.stock.receive("TEE-L", "paris-1", 1, source="erp")
    await shop.outbox.drain()
    await plugin.started().stock.flush()
    amazon.calls.clear()
    down = [error_response(503, "ServiceUnavailable", "Service temporarily unavailable.")
            for _ in range(6)]
    amazon.script("patchListingsItem", *down)

    await shop.stock.sell("TEE-L", "paris-1", 1, source="pos")
    await shop.outbox.drain()  # three attempts (max_retries 2), then the event waits
    assert len(amazon.calls["patchListingsItem"]) == 3
    (waiting,) = await shop.outbox.deliveries(consumer="amazon", status="pending")
    assert waiting.topic == "stock.changed" and waiting.attempts == 1
    assert "ServiceUnavailable" in waiting.last_error

    clock.advance(minutes=5)
    await shop.outbox.drain()  # still down: retried, still pending
    assert len(amazon.calls["patchListingsItem"]) == 6
    assert (await shop.outbox.deliveries(consumer="amazon", status="pending"))[0].attempts == 2

    clock.advance(hours=2)  # Amazon is back (the script ran out after six failures)
    await shop.outbox.drain()
    assert len(amazon.calls["patchListingsItem"]) == 7
    assert _quantity_patch(amazon.bodies("patchListingsItem")[-1]) == 0
    assert not await shop.outbox.deliveries(consumer="amazon", status="pending")
    assert (await plugin.started().stock.quantity("TEE-L")).sent == 0


async def test_an_outage_during_a_flush_keeps_the_quantities_pending(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon) -> None:
    from omnicore_amazon import SpApiUnavailable

    await shop.stock.set_levels([{"sku": sku, "location": "wh", "on_hand": 3}
                                 for sku in SOCKS])
    await shop.outbox.drain()
    amazon.script("createFeed", *[error_response(500, "InternalFailure", "We encountered an "
                                                 "internal error. Please try again.")] * 3)
    stock_sync = plugin.started().stock
    try:
        await stock_sync.flush()
    except SpApiUnavailable as exc:
        assert exc.operation == "createFeed"
    else:
        raise AssertionError("the flush should fail while Amazon is down")
    assert await stock_sync.count_pending() == 12

    flushed = await stock_sync.flush()  # Amazon is back
    assert flushed.messages == 12
    assert await stock_sync.count_pending() == 0


async def test_a_failed_feed_makes_its_skus_pending_again(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon) -> None:
    await shop.stock.set_levels([{"sku": sku, "location": "wh", "on_hand": 4}
                                 for sku in SOCKS])
    await shop.outbox.drain()
    stock_sync = plugin.started().stock
    await stock_sync.flush()
    amazon.feed_status = "IN_PROGRESS"
    assert (await stock_sync.poll()).waiting == 1
    amazon.feed_status = "FATAL"
    amazon.feed_errors["SOCK-01"] = {"severity": "ERROR", "code": "4000",
                                     "message": "Processing stopped."}

    polled = await stock_sync.poll()

    assert polled.requeued == 12
    assert await stock_sync.count_pending() == 12
    amazon.feed_status = "DONE"
    amazon.feed_errors.clear()
    assert (await stock_sync.flush()).messages == 12


async def test_an_older_feed_finishing_after_a_sold_out_patch_is_corrected(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon) -> None:
    await shop.stock.set_levels([{"sku": sku, "location": "wh", "on_hand": 6}
                                 for sku in SOCKS])
    await shop.outbox.drain()
    stock_sync = plugin.started().stock
    await stock_sync.flush()  # a feed with SOCK-01 = 5, not processed yet
    await shop.stock.adjust("SOCK-01", "wh", -6, source="audit", note="lost")
    await shop.outbox.drain()  # sold out: patched to 0 at once
    assert _quantity_patch(amazon.bodies("patchListingsItem")[-1]) == 0
    amazon.calls.clear()

    await stock_sync.poll()  # the feed (5) may have landed after the patch (0)

    (body,) = amazon.bodies("patchListingsItem")
    assert _quantity_patch(body) == 0
    assert amazon.calls["patchListingsItem"][0].url.path.endswith("/SOCK-01")


async def test_a_buffer_change_of_the_channel_pushes_every_listed_sku(
        shop: Commerce, plugin: AmazonPlugin, amazon: FakeAmazon) -> None:
    await shop.stock.receive("TEE-M", "wh", 10, source="erp")
    await shop.outbox.drain()
    await plugin.started().stock.flush()
    amazon.calls.clear()

    await shop.channels.save({
        "code": "amazon-fr", "name": "Amazon.fr", "kind": "marketplace", "currency": "EUR",
        "locations": [{"location": "wh", "buffer": 4}, {"location": "paris-1", "priority": 1}]})
    await shop.outbox.drain()
    flushed = await plugin.started().stock.flush()

    assert flushed.messages == 14  # every listed SKU: a feed
    (document,) = amazon.uploaded()
    quantities = {m["sku"]: _quantity_patch(m) for m in document["messages"]}
    assert quantities["TEE-M"] == 6 and quantities["SOCK-01"] == 0


async def test_the_background_sync_flushes_after_the_burst(
        db_url: str, clock: FakeClock, amazon: FakeAmazon,
        amazon_settings: dict[str, Any]) -> None:
    from amazon_world import build_world
    from conftest import open_shop

    plugin = AmazonPlugin()
    commerce = await open_shop(db_url, clock, plugin, **{
        **amazon_settings, "background": "events", "coalesce_seconds": 0.05,
        "orders_poll_seconds": 0})
    try:
        await build_world(commerce)
        amazon.calls.clear()
        await commerce.stock.receive("TEE-M", "wh", 3, source="erp")
        await commerce.outbox.drain()
        assert plugin.started().background.running
        import asyncio

        for _ in range(100):
            if amazon.calls.get("patchListingsItem"):
                break
            await asyncio.sleep(0.02)
        assert _quantity_patch(amazon.bodies("patchListingsItem")[0]) == 2
    finally:
        await commerce.close()


async def test_an_older_event_delivered_late_does_not_undo_a_newer_one(
        shop: Commerce, plugin: AmazonPlugin) -> None:
    import datetime as dt

    from omnicore import Event

    def changed(event_id: int, available: int) -> Event:
        return Event(event_id, "stock.changed", {
            "sku": "TEE-M", "reason": "receipt", "locations": [],
            "channels": [{"channel": "amazon-fr", "available": available, "previous": 0},
                         {"channel": "web", "available": available + 1, "previous": 0}]},
            dt.datetime(2026, 3, 2, tzinfo=dt.UTC))

    stock_sync = plugin.started().stock
    assert await stock_sync.record(changed(9001, 7)) is False
    assert await stock_sync.record(changed(9000, 0)) is False  # older: ignored, not urgent
    row = await stock_sync.quantity("TEE-M")
    assert (row.desired, row.desired_event) == (7, 9001)
    assert await stock_sync.record(changed(9002, 0)) is True
