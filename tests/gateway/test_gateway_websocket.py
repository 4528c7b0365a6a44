"""The storefront API over WebSockets (graphql-transport-ws at ``/graphql``), over the real
ASGI app with httpx-ws, on SQLite and PostgreSQL: the ``orderStatus`` subscription as the
core moves an order, the protocol's refusals and close codes, cleanup of the shared
``OrderWatch`` when a client completes or leaves, and the upgrade under a real uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import attrs
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from test_gateway_storefront_support import (
    POLL,
    SUBSCRIBE,
    Storefront,
    live_server,
    next_event,
    open_storefront,
    place_order,
    read_events,
)
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from omnicore.errors import InvalidInput
from omnicore.gateway.app import CHANNEL_HEADER
from omnicore.gateway.storefront.subscriptions import OrderWatch
from omnicore.gateway.websocket import PROTOCOL
from omnicore.testing import FakeClock, counting_statements

WAIT = 10  # seconds a message may take before the test fails instead of hanging


@pytest.fixture
async def shop(db_url: str, clock: FakeClock) -> AsyncIterator[Storefront]:
    async with open_storefront(db_url, clock, config=POLL) as storefront:
        yield storefront


def watch_of(shop: Storefront) -> OrderWatch:
    watch: OrderWatch = shop.app.state.order_watch
    return watch


@attrs.define
class Socket:
    """A graphql-transport-ws client over one httpx-ws session."""

    ws: AsyncWebSocketSession

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_json(message)

    async def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = await self.ws.receive_json(timeout=WAIT)
        return message

    async def init(self, **payload: Any) -> None:
        await self.send({"type": "connection_init", "payload": payload})
        assert await self.receive() == {"type": "connection_ack"}

    async def subscribe(self, op_id: str, query: str, **variables: Any) -> None:
        await self.send({"id": op_id, "type": "subscribe",
                         "payload": {"query": query, "variables": variables}})

    async def synced(self) -> None:
        """A ping answered: every message sent before it has been handled."""
        await self.send({"type": "ping", "payload": {"sync": True}})
        assert await self.receive() == {"type": "pong", "payload": {"sync": True}}

    async def closed(self) -> tuple[int, str | None]:
        """The close code and reason the server ends the socket with."""
        with pytest.raises(WebSocketDisconnect) as info:
            await self.ws.receive(timeout=WAIT)
        return info.value.code, info.value.reason


@contextlib.asynccontextmanager
async def connect(shop: Storefront, *, subprotocols: tuple[str, ...] = (PROTOCOL,),
                  headers: dict[str, str] | None = None) -> AsyncIterator[Socket]:
    """A socket to the app; on exit the client closes and the app's handler has returned."""
    async with ASGIWebSocketTransport(app=shop.app) as transport, \
            httpx.AsyncClient(transport=transport, base_url="http://shop") as client, \
            aconnect_ws("/graphql", client, subprotocols=list(subprotocols),
                        headers=headers or {}) as ws:
        yield Socket(ws)


def status_of(message: dict[str, Any]) -> str:
    status: str = message["payload"]["data"]["orderStatus"]["status"]
    return status


# -- the subscription -------------------------------------------------------------------------


async def test_order_status_over_a_websocket_as_the_core_moves_the_order(
    shop: Storefront,
) -> None:
    order = await place_order(shop)
    fulfilments = await shop.commerce.fulfilment.for_order(order["id"])
    watch = watch_of(shop)
    async with connect(shop) as socket:
        assert socket.ws.subprotocol == PROTOCOL
        await socket.init(channelToken=shop.tokens["web"])
        # two subscriptions and a query at once on one socket
        await socket.subscribe("full", SUBSCRIBE, number=order["number"],
                               email="ada@example.com")
        await socket.subscribe("short", "subscription($n: String!, $e: String) { "
                               "orderStatus(number: $n, email: $e) { status } }",
                               n=order["number"], e="ada@example.com")
        received: dict[str, list[dict[str, Any]]] = {"full": [], "short": []}
        while len(received["full"]) < 1 or len(received["short"]) < 1:
            message = await socket.receive()
            received[message["id"]].append(message)
        first = received["full"][0]
        assert first["type"] == "next"
        assert first["payload"]["data"]["orderStatus"]["status"] == "authorized"
        assert first["payload"]["data"]["orderStatus"]["previousStatus"] == "placed"
        assert received["short"] == [{"id": "short", "type": "next", "payload": {
            "data": {"orderStatus": {"status": "authorized"}}}}]
        assert watch.followers(order["id"]) == 2  # one watch, one poll for both
        await socket.subscribe("q", "{ channel { code } }")
        # an associate starts picking, then the order is cancelled: two changes
        await shop.commerce.fulfilment.start_picking(fulfilments[0].id, actor="alice")
        statuses: dict[str, list[str]] = {"full": [], "short": []}
        query: list[dict[str, Any]] = []
        while len(statuses["full"]) < 1 or len(query) < 2:
            message = await socket.receive()
            if message["id"] == "q":
                query.append(message)
            else:
                statuses[message["id"]].append(status_of(message))
        assert query == [{"id": "q", "type": "next", "payload": {"data": {"channel": {
            "code": "web"}}}}, {"id": "q", "type": "complete"}]
        await shop.commerce.orders.cancel(order["id"], actor="alice", reason="asked")
        completed: set[str] = set()
        last: dict[str, Any] = {}
        while completed != {"full", "short"}:
            message = await socket.receive()
            if message["type"] == "complete":
                completed.add(message["id"])
            else:
                assert message["id"] not in completed
                statuses[message["id"]].append(status_of(message))
                last[message["id"]] = message
        assert statuses == {"full": ["in_fulfilment", "cancelled"],
                            "short": ["in_fulfilment", "cancelled"]}
        cancelled = last["full"]["payload"]["data"]["orderStatus"]
        assert (cancelled["previousStatus"], cancelled["order"]["status"]) == (
            "in_fulfilment", "cancelled")
        # a final status ends both streams and nobody follows the order any more
        await socket.synced()
        assert watch.followers() == 0 and not watch.running


async def test_the_channel_token_may_come_from_the_upgrade_headers(shop: Storefront) -> None:
    order = await place_order(shop)
    async with connect(shop, headers={CHANNEL_HEADER: shop.tokens["web"]}) as socket:
        await socket.init()
        await socket.subscribe("1", SUBSCRIBE, number=order["number"], email="ada@example.com")
        assert status_of(await socket.receive()) == "authorized"


async def test_a_customer_token_follows_their_own_order_only(shop: Storefront) -> None:
    ada = await shop.sign_up("ada@example.com")
    bob = await shop.sign_up("bob@example.com")
    order = await place_order(shop, token=ada, email=None)
    mine = "subscription($n: String!) { orderStatus(number: $n) { number status } }"
    async with connect(shop) as socket:  # a browser: tokens in connection_init
        await socket.init(channelToken=shop.tokens["web"], customerToken=ada)
        await socket.subscribe("1", mine, n=order["number"])
        assert await socket.receive() == {"id": "1", "type": "next", "payload": {"data": {
            "orderStatus": {"number": order["number"], "status": "authorized"}}}}
        # the socket's queries run as the customer, like /graphql with the same token
        await socket.subscribe("me", "{ me { email } }")
        assert await socket.receive() == {"id": "me", "type": "next", "payload": {"data": {
            "me": {"email": "ada@example.com"}}}}
        assert await socket.receive() == {"id": "me", "type": "complete"}
    headers = {CHANNEL_HEADER: shop.tokens["web"], "authorization": f"Bearer {bob}"}
    async with connect(shop, headers=headers) as socket:  # a server: tokens in headers
        await socket.init()
        await socket.subscribe("1", mine, n=order["number"])
        refused = await socket.receive()
        assert (refused["id"], refused["type"]) == ("1", "error")
        assert refused["payload"][0]["extensions"] == {"code": "not_found", "field": "number"}
        await socket.synced()
        assert watch_of(shop).followers() == 0


async def test_a_wrong_email_is_an_error_message_and_the_socket_stays(shop: Storefront) -> None:
    order = await place_order(shop)
    async with connect(shop) as socket:
        await socket.init(channelToken=shop.tokens["web"])
        await socket.subscribe("1", SUBSCRIBE, number=order["number"], email="eve@example.com")
        assert await socket.receive() == {"id": "1", "type": "error", "payload": [{
            "message": "no order with this number and contact", "path": ["orderStatus"],
            "extensions": {"code": "not_found", "field": "number"}}]}
        # bad variables are refused before anything runs, as /graphql refuses them
        await socket.subscribe("2", SUBSCRIBE, number=12)
        refused = await socket.receive()
        assert (refused["id"], refused["type"]) == ("2", "error")
        assert refused["payload"][0]["extensions"] == {"code": "invalid_variables"}
        # the ids are free again and the socket still serves
        await socket.subscribe("1", SUBSCRIBE, number=order["number"], email="ada@example.com")
        assert status_of(await socket.receive()) == "authorized"


async def test_queries_and_mutations_are_single_results(shop: Storefront) -> None:
    async with connect(shop) as socket:
        await socket.init(channelToken=shop.tokens["web"])
        await socket.send({"id": "m", "type": "subscribe", "payload": {
            "query": "mutation($lines: [CartLineInput!]) { cartCreate(lines: $lines) { "
                     "cart { id channel lines { sku quantity } } userErrors { code } } }",
            "variables": {"lines": [{"sku": "TEE-L", "quantity": 1}]}}})
        created = await socket.receive()
        assert await socket.receive() == {"id": "m", "type": "complete"}
        cart = created["payload"]["data"]["cartCreate"]["cart"]
        assert (cart["channel"], cart["lines"]) == ("web", [{"sku": "TEE-L", "quantity": 1}])
    # the cart is really there, for /graphql on the same channel
    found = await shop.data("query($id: ID!) { cart(id: $id) { id } }", id=cart["id"])
    assert found == {"cart": {"id": cart["id"]}}


async def test_a_query_over_the_socket_reads_as_graphql_does(shop: Storefront) -> None:
    """The catalog from the gateway's cache; the query in one read transaction (after
    the one that checks the socket's tokens again, at each subscribe)."""
    page = {"query": "query($sku: String!) { product(sku: $sku) { title variants { sku "
                     "price { amount } availability { total } } } }",
            "variables": {"sku": "TEE-L"}}
    async with connect(shop) as socket:
        await socket.init(channelToken=shop.tokens["web"])
        await socket.send({"id": "warm", "type": "subscribe", "payload": page})
        warm = await socket.receive()
        assert await socket.receive() == {"id": "warm", "type": "complete"}
        with counting_statements(shop.commerce) as statements:
            await socket.send({"id": "again", "type": "subscribe", "payload": page})
            again = await socket.receive()
            assert await socket.receive() == {"id": "again", "type": "complete"}
    assert again["payload"] == warm["payload"]
    assert warm["payload"]["data"]["product"]["variants"]  # a real page
    assert not [s for s in statements if "FROM products" in s or "FROM prices" in s], statements
    begins = [s for s in statements if s.strip().upper().startswith("BEGIN")]
    assert len(begins) == (2 if shop.commerce.db.is_sqlite else 0), statements


# -- limits -----------------------------------------------------------------------------------


async def test_the_query_limits_of_graphql_are_error_messages(
    db_url: str, clock: FakeClock
) -> None:
    limits = {"gateway": {**POLL["gateway"], "max_depth": 2, "introspection": False}}
    async with open_storefront(db_url, clock, config=limits) as shop, \
            connect(shop) as socket:
        await socket.init(channelToken=shop.tokens["web"])
        await socket.subscribe("deep", SUBSCRIBE, number="100001", email="a@example.com")
        deep = await socket.receive()
        assert (deep["id"], deep["type"]) == ("deep", "error")
        assert deep["payload"][0]["extensions"] == {"code": "query_too_deep", "limit": 2,
                                                    "value": 4}
        for op_id, query, code in (("bad", "{ nope }", "invalid_query"),
                                   ("syntax", "subscription {", "syntax_error"),
                                   ("schema", "{ __schema { types { name } } }",
                                    "introspection_disabled")):
            await socket.subscribe(op_id, query)
            refused = await socket.receive()
            assert (refused["id"], refused["type"]) == (op_id, "error")
            assert refused["payload"][0]["extensions"]["code"] == code
        await socket.synced()  # an error message is not a close
        assert watch_of(shop).followers() == 0


# -- ending operations ------------------------------------------------------------------------


async def test_a_client_complete_stops_following_the_order(shop: Storefront) -> None:
    order = await place_order(shop)
    watch = watch_of(shop)
    async with connect(shop) as socket:
        await socket.init(channelToken=shop.tokens["web"])
        await socket.subscribe("1", SUBSCRIBE, number=order["number"], email="ada@example.com")
        assert status_of(await socket.receive()) == "authorized"
        assert watch.followers(order["id"]) == 1 and watch.running
        await socket.send({"id": "1", "type": "complete"})
        await socket.synced()
        assert watch.followers() == 0 and not watch.running
        # the id may be used again, and the order is followed again
        await socket.subscribe("1", SUBSCRIBE, number=order["number"], email="ada@example.com")
        assert status_of(await socket.receive()) == "authorized"
        assert watch.followers(order["id"]) == 1


async def test_a_disconnect_cancels_every_operation(shop: Storefront) -> None:
    order = await place_order(shop)
    watch = watch_of(shop)
    async with connect(shop) as socket:
        await socket.init(channelToken=shop.tokens["web"])
        for op_id in ("1", "2"):
            await socket.subscribe(op_id, SUBSCRIBE, number=order["number"],
                                   email="ada@example.com")
        assert {(await socket.receive())["id"] for _ in range(2)} == {"1", "2"}
        assert watch.followers(order["id"]) == 2
    # the client left (``connect`` waits for the app's handler to return)
    assert watch.followers() == 0 and not watch.running


async def test_operations_per_socket_are_limited(db_url: str, clock: FakeClock) -> None:
    config = {"gateway": {**POLL["gateway"], "websocket_max_operations": 2}}
    async with open_storefront(db_url, clock, config=config) as shop:
        order = await place_order(shop)
        watch = watch_of(shop)
        async with connect(shop) as socket:
            await socket.init(channelToken=shop.tokens["web"])
            for op_id in ("1", "2"):
                await socket.subscribe(op_id, SUBSCRIBE, number=order["number"],
                                       email="ada@example.com")
                assert status_of(await socket.receive()) == "authorized"
            await socket.subscribe("3", SUBSCRIBE, number=order["number"],
                                   email="ada@example.com")
            refused = await socket.receive()
            assert refused["id"] == "3" and refused["type"] == "error"
            assert refused["payload"][0]["extensions"] == {
                "code": "too_many_operations", "limit": 2}
            assert watch.followers(order["id"]) == 2  # the third never ran
            await socket.send({"id": "1", "type": "complete"})
            await socket.synced()
            await socket.subscribe("3", SUBSCRIBE, number=order["number"],
                                   email="ada@example.com")  # room again: it runs
            assert status_of(await socket.receive()) == "authorized"
            assert watch.followers(order["id"]) == 2


# -- protocol refusals ------------------------------------------------------------------------


async def test_another_subprotocol_is_refused_with_4406(shop: Storefront) -> None:
    async with connect(shop, subprotocols=("graphql-ws",)) as socket:
        assert socket.ws.subprotocol is None
        assert await socket.closed() == (4406, "Subprotocol not acceptable")
    async with connect(shop, subprotocols=()) as socket:
        assert (await socket.closed())[0] == 4406


async def test_tokens_are_checked_at_connection_init_4403(shop: Storefront) -> None:
    for payload, headers in (({}, {}),
                             ({"channelToken": "pub_nope"}, {}),
                             ({}, {CHANNEL_HEADER: "pub_nope"}),
                             ({"channelToken": shop.tokens["web"], "customerToken": "oct_nope"},
                              {}),
                             ({}, {CHANNEL_HEADER: shop.tokens["web"],
                                   "authorization": "Bearer oct_nope"})):
        async with connect(shop, headers=headers) as socket:
            await socket.send({"type": "connection_init", "payload": payload})
            code, reason = await socket.closed()
            assert code == 4403, (payload, headers)
            assert reason is not None and reason.startswith("Forbidden"), reason


async def test_subscribe_before_connection_init_is_refused_with_4401(shop: Storefront) -> None:
    async with connect(shop) as socket:
        await socket.synced()  # a ping is fine before connection_init
        await socket.subscribe("1", "{ channel { code } }")
        assert await socket.closed() == (4401, "Unauthorized")


async def test_a_second_connection_init_is_refused_with_4429(shop: Storefront) -> None:
    async with connect(shop) as socket:
        await socket.init(channelToken=shop.tokens["web"])
        await socket.send({"type": "connection_init", "payload": {}})
        assert await socket.closed() == (4429, "Too many initialisation requests")


async def test_a_duplicate_subscription_id_is_refused_with_4409(shop: Storefront) -> None:
    order = await place_order(shop)
    async with connect(shop) as socket:
        await socket.init(channelToken=shop.tokens["web"])
        await socket.subscribe("dup", SUBSCRIBE, number=order["number"],
                               email="ada@example.com")
        assert status_of(await socket.receive()) == "authorized"
        await socket.subscribe("dup", SUBSCRIBE, number=order["number"],
                               email="ada@example.com")
        assert await socket.closed() == (4409, "Subscriber for dup already exists")
    # closing the socket stopped the running subscription too
    assert watch_of(shop).followers() == 0


@pytest.mark.parametrize(("raw", "reason"), [
    ("this is not json", "Invalid message: not JSON"),
    ('["connection_init"]', 'Invalid message: expected a JSON object with a "type"'),
    ('{"type": "start", "id": "1"}', "Invalid message: unexpected type 'start'"),
    ('{"type": "subscribe", "payload": {"query": "{ channel { code } }"}}',
     'Invalid message: subscribe needs a non-empty string "id"'),
    ('{"type": "subscribe", "id": "1", "payload": {"variables": {}}}',
     'Invalid message: subscribe needs a payload with a "query"'),
    ('{"type": "subscribe", "id": "1", "payload": {"query": "{ a }", "variables": [1]}}',
     "Invalid message: payload.variables must be an object"),
    ('{"type": "connection_init", "payload": "pub_x"}',
     "Invalid message: payload must be an object"),
    ('{"type": "ping", "payload": "' + "x" * 1_000_000 + '"}',
     "Invalid message: larger than 1000000 bytes"),
], ids=["not-json", "not-an-object", "unknown-type", "no-id", "no-query", "bad-variables",
        "bad-payload", "too-large"])
async def test_an_invalid_message_closes_with_4400(shop: Storefront, raw: str,
                                                   reason: str) -> None:
    async with connect(shop) as socket:
        await socket.ws.send_text(raw)
        assert await socket.closed() == (4400, reason)


async def test_a_failure_of_the_server_closes_with_4500(
    shop: Storefront, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(token: str) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(shop.commerce.channels, "by_token", down)
    async with connect(shop) as socket:
        await socket.send({"type": "connection_init", "payload": {"channelToken": "pub_x"}})
        assert await socket.closed() == (4500, "Internal server error")


async def test_a_failing_subscription_is_an_internal_error_message(
    shop: Storefront, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = await place_order(shop)

    def broken(order: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(watch_of(shop), "follow", broken)
    async with connect(shop) as socket:
        await socket.init(channelToken=shop.tokens["web"])
        await socket.subscribe("1", SUBSCRIBE, number=order["number"], email="ada@example.com")
        assert await socket.receive() == {"id": "1", "type": "error", "payload": [
            {"message": "internal error", "extensions": {"code": "internal"}}]}
        await socket.synced()  # only that operation ended


async def test_connection_init_must_come_in_time_4408(db_url: str, clock: FakeClock) -> None:
    config = {"gateway": {**POLL["gateway"], "websocket_init_seconds": 0.05}}
    async with open_storefront(db_url, clock, config=config) as shop, \
            connect(shop) as socket:
        assert await socket.closed() == (4408, "Connection initialisation timeout")


async def test_websocket_init_seconds_is_checked_at_start_up(
    db_url: str, clock: FakeClock
) -> None:
    with pytest.raises(InvalidInput) as info:
        async with open_storefront(db_url, clock,
                                   config={"gateway": {"websocket_init_seconds": "soon"}}):
            pass
    assert info.value.field == "gateway.websocket_init_seconds"
    with pytest.raises(InvalidInput) as count:
        async with open_storefront(db_url, clock,
                                   config={"gateway": {"websocket_max_operations": 0}}):
            pass
    assert count.value.field == "gateway.websocket_max_operations"


# -- a real server ----------------------------------------------------------------------------


async def test_uvicorn_serves_the_upgrade_and_both_transports_share_one_watch(
    shop: Storefront,
) -> None:
    order = await place_order(shop)
    watch = watch_of(shop)
    variables = {"number": order["number"], "email": "ada@example.com"}
    async with (
        live_server(shop) as url,
        httpx.AsyncClient(base_url=url, timeout=WAIT) as http,
        http.stream("POST", "/graphql/stream", headers=shop.headers(),
                    json={"query": SUBSCRIBE, "variables": variables}) as response,
    ):
        events = read_events(response)
        _, sse_first = await next_event(events)
        assert sse_first["data"]["orderStatus"]["status"] == "authorized"
        async with ws_connect(url.replace("http://", "ws://") + "/graphql",
                              subprotocols=[Subprotocol(PROTOCOL)],
                              open_timeout=WAIT) as ws, asyncio.timeout(WAIT):
            assert ws.subprotocol == PROTOCOL
            await ws.send(json.dumps({"type": "connection_init",
                                      "payload": {"channelToken": shop.tokens["web"]}}))
            assert json.loads(await ws.recv()) == {"type": "connection_ack"}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                "query": SUBSCRIBE, "variables": variables}}))
            assert status_of(json.loads(await ws.recv())) == "authorized"
            assert watch.followers(order["id"]) == 2  # the SSE stream and the socket
            await shop.commerce.orders.cancel(order["id"], actor="alice")
            assert status_of(json.loads(await ws.recv())) == "cancelled"
            assert json.loads(await ws.recv()) == {"id": "1", "type": "complete"}
        _, sse_last = await next_event(events)
        assert sse_last["data"]["orderStatus"]["status"] == "cancelled"
    assert watch.followers() == 0
