"""Admin API: outbox deliveries and retries, per-channel KPIs."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from test_gateway_admin import HOME, Admin, errors_of, open_admin

from omnicore.auth import Permission
from omnicore.testing import FakeClock, RecordingPlugin


@pytest.fixture
def recorder() -> RecordingPlugin:
    return RecordingPlugin("recorder", fail_times=10_000)


@pytest.fixture
async def admin(db_url: str, clock: FakeClock, recorder: RecordingPlugin
                ) -> AsyncIterator[Admin]:
    async with open_admin(db_url, clock, recorder, outbox={"max_attempts": 1}) as world:
        yield world


COUNTS = "{ outboxCounts { pending delivered dead } }"
DELIVERIES = """query($status: String, $limit: Int) { outboxDeliveries(status: $status,
  consumer: "recorder", limit: $limit) { id eventId topic consumer status attempts lastError
  deliveredAt } }"""
RETRY = """mutation($ids: [Int!], $consumer: String) { outboxRetry(ids: $ids,
  consumer: $consumer) { retried userErrors { field code } } }"""


async def test_dead_deliveries_are_listed_and_retried(admin: Admin,
                                                      recorder: RecordingPlugin) -> None:
    before = (await admin.data("admin", COUNTS))["outboxCounts"]
    total = before["pending"]
    assert total > 0 and before["dead"] == before["delivered"] == 0
    await admin.commerce.outbox.drain()  # the consumer fails: one attempt allowed, then dead
    assert (await admin.data("admin", COUNTS))["outboxCounts"] == {
        "pending": 0, "delivered": 0, "dead": total}

    dead = (await admin.data("admin", DELIVERIES, status="dead", limit=2))["outboxDeliveries"]
    assert len(dead) == 2 and dead[0]["id"] > dead[1]["id"]  # newest first
    assert {(d["consumer"], d["status"], d["attempts"]) for d in dead} == {
        ("recorder", "dead", 1)}
    assert "recorder told to fail" in dead[0]["lastError"]
    assert dead[0]["deliveredAt"] is None and dead[0]["topic"]

    one = await admin.mutate("admin", RETRY, ids=[dead[0]["id"]])
    assert one == {"retried": 1, "userErrors": []}
    rest = await admin.mutate("admin", RETRY, consumer="recorder")
    assert rest["retried"] == total - 1
    assert (await admin.data("admin", COUNTS))["outboxCounts"]["pending"] == total
    recorder.fail_times = 0
    await admin.commerce.outbox.drain()
    assert (await admin.data("admin", COUNTS))["outboxCounts"] == {
        "pending": 0, "delivered": total, "dead": 0}
    delivered = (await admin.data("admin", DELIVERIES, status="delivered", limit=1))
    assert delivered["outboxDeliveries"][0]["deliveredAt"] is not None

    assert await admin.error("admin", DELIVERIES, status="lost") == {
        "code": "invalid_input", "field": "status"}
    assert await admin.error("admin", DELIVERIES, limit=0) == {
        "code": "invalid_input", "field": "limit"}
    assert await admin.error("paris", COUNTS) == {"code": "forbidden", "field": "permission"}
    assert errors_of(await admin.mutate("paris", RETRY)) == [("forbidden", "permission")]


KPIS = """query($since: DateTime, $until: DateTime, $channels: [String!]) {
  channelKpis(since: $since, until: $until, channels: $channels) { since until
  channels { channel currency cartsCreated cartsConverted cartsAbandoned orders
    checkoutOrders cancelledOrders crossChannelOrders conversionRate abandonmentRate
    revenue { amount currency } averageBasket { amount } }
  journeys { fromChannel toChannel orders revenue { amount } } } }"""


async def test_channel_kpis_and_what_a_store_key_sees(admin: Admin) -> None:
    since = admin.clock.now.isoformat()
    web = await admin.place([{"sku": "TEE-L", "quantity": 1}], delivery=[HOME], key="a")
    carts = admin.commerce.carts
    cart = await carts.create("web")
    cart = await carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 1,
                                            "fulfilment": "pickup", "location": "paris-1"}],
                                 version=cart.version)
    handoff = await carts.handoff_code(cart.id, version=cart.version)
    await carts.take_over(code=handoff.code, channel="pos-paris-1", associate="ana")
    store = await admin.commerce.checkout(cart.id, payments=[{"gateway": "card"}],
                                          idempotency_key="b")
    left = await carts.create("web")
    await carts.add_lines(left.id, [{"sku": "TEE-M", "quantity": 1}], version=left.version)
    admin.clock.advance(hours=2)  # the last cart is abandoned
    until = admin.clock.now.isoformat()

    report = (await admin.data("admin", KPIS, since=since, until=until))["channelKpis"]
    rows = {r["channel"]: r for r in report["channels"]}
    assert rows["web"]["cartsCreated"] == 3 and rows["web"]["cartsConverted"] == 2
    assert rows["web"]["cartsAbandoned"] == 1 and rows["web"]["abandonmentRate"] == 0.3333
    assert rows["web"]["orders"] == 1 and rows["web"]["conversionRate"] == 0.6667
    assert rows["web"]["revenue"] == {"amount": str(web.total.amount), "currency": "EUR"}
    assert rows["pos-paris-1"]["crossChannelOrders"] == 1
    assert rows["pos-paris-1"]["averageBasket"] == {"amount": str(store.total.amount)}
    assert rows["pos-paris-1"]["conversionRate"] is None
    assert report["journeys"] == [{"fromChannel": "web", "toChannel": "pos-paris-1",
                                   "orders": 1, "revenue": {"amount": str(store.total.amount)}}]

    # the Rivoli key sees its till's figures, and the journeys that end there
    mine = (await admin.data("paris", KPIS, since=since, until=until))["channelKpis"]
    assert [r["channel"] for r in mine["channels"]] == ["pos-paris-1"]
    assert mine["journeys"] == report["journeys"]
    assert await admin.error("paris", KPIS, channels=["pos-paris-1", "web"]) == {
        "code": "forbidden", "field": "channels[1]"}
    assert await admin.error("admin", KPIS, since=until, until=since) == {
        "code": "invalid_input", "field": "since"}
    default = (await admin.data("reports", KPIS))["channelKpis"]
    assert dt.datetime.fromisoformat(default["until"]) - dt.datetime.fromisoformat(
        default["since"]) == dt.timedelta(days=30)
    stock_only = await admin.commerce.auth.create_staff_key("s", [Permission.MANAGE_STOCK])
    assert await admin.error(stock_only.key, KPIS) == {"code": "forbidden",
                                                       "field": "permission"}
