"""The storefront API from checkout on, over the real ASGI app, on SQLite and PostgreSQL:
``checkoutComplete`` paying with ``FakeGateway``, ``orderTracking``, ``me.orders`` and the
``orderStatus`` subscription as server-sent events from a real uvicorn server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import attrs
import httpx
import pytest
from test_gateway_storefront_support import (
    CHECKOUT,
    FAKE,
    ORDER_FIELDS,
    POLL,
    SUBSCRIBE,
    Storefront,
    live_server,
    next_event,
    open_storefront,
    read_events,
    ready_cart,
)

from omnicore.gateway.app import CHANNEL_HEADER
from omnicore.gateway.storefront.subscriptions import OrderWatch, follow_order
from omnicore.orders import Order
from omnicore.testing import FakeClock


@pytest.fixture
async def shop(db_url: str, clock: FakeClock) -> AsyncIterator[Storefront]:
    async with open_storefront(db_url, clock, config=POLL) as storefront:
        yield storefront


TRACK = """query($number: String!, $email: String, $phone: String) {
  orderTracking(number: $number, email: $email, phone: $phone) { """ + ORDER_FIELDS + " } }"


async def test_checkout_pays_with_the_gateway_and_places_the_order(shop: Storefront) -> None:
    cart_id = await ready_cart(shop)
    done = await shop.mutate(CHECKOUT, "checkoutComplete", id=cart_id, key="k-1", payments=FAKE,
                             email="Ada@Example.com")
    order = done["order"]
    assert done["nextAction"] is None
    assert (order["number"], order["status"], order["channel"]) == ("100001", "authorized", "web")
    # 2 x 19.90 + 19.90 + standard shipping 4.90 (click & collect is free)
    assert order["total"] == {"amount": "64.60", "currency": "EUR"}
    assert order["payments"] == [{"gateway": "fake", "status": "authorized",
                                  "amount": {"amount": "64.60"},
                                  "authorized": {"amount": "64.60"}}]
    assert sorted((g["kind"], g["method"]) for g in order["deliveryGroups"]) == [
        ("pickup", "click_and_collect"), ("ship", "standard")]
    pickup = next(f for f in order["fulfilments"] if f["kind"] == "pickup")
    assert pickup["pickupLocation"] == "paris-1" and pickup["lines"] == [
        {"sku": "TEE-M", "quantity": 1}]
    assert [h["toStatus"] for h in order["history"]] == ["placed", "authorized"]
    # the same key again: the same order, never a second authorization
    again = await shop.mutate(CHECKOUT, "checkoutComplete", id=cart_id, key="k-1", payments=FAKE,
                              email="ada@example.com")
    assert again["order"]["id"] == order["id"]
    assert shop.gateway.count("authorize") == 1
    cart = (await shop.data("query($id: ID!) { cart(id: $id) { status } }", id=cart_id))["cart"]
    assert cart["status"] == "completed"


async def test_a_declined_payment_is_a_user_error_and_the_cart_stays(shop: Storefront) -> None:
    cart_id = await ready_cart(shop)
    shop.gateway.mode = "decline"
    refused = (await shop.data(CHECKOUT, id=cart_id, key="k", payments=FAKE,
                               email="ada@example.com"))["checkoutComplete"]
    assert refused["order"] is None
    assert refused["userErrors"] == [{"field": "payments", "code": "payment_declined",
                                      "message": "Your card has insufficient funds."}]
    cart = (await shop.data("query($id: ID!) { cart(id: $id) { status lines { held } } }",
                            id=cart_id))["cart"]
    assert cart == {"status": "open", "lines": [{"held": True}, {"held": True}]}
    shop.gateway.mode = "ok"  # another card, the same key
    await shop.mutate(CHECKOUT, "checkoutComplete", id=cart_id, key="k", payments=FAKE,
                      email="ada@example.com")


async def test_checkout_input_errors(shop: Storefront) -> None:
    cart_id = await ready_cart(shop)
    guest = (await shop.data(CHECKOUT, id=cart_id, key="k", payments=FAKE))["checkoutComplete"]
    assert guest["userErrors"][0]["field"] == "email"
    short = (await shop.data(CHECKOUT, id=cart_id, key="k", email="a@example.com",
                             payments=[{"gateway": "fake", "amount": "5.00"}]))["checkoutComplete"]
    assert short["userErrors"][0] == {"field": "payments", "code": "invalid_input",
                                      "message": "the payments add up to 5.00 EUR, the order "
                                                 "total is 64.60 EUR"}
    unknown = (await shop.data(CHECKOUT, id=cart_id, key="k", email="a@example.com",
                               payments=[{"gateway": "nope"}]))["checkoutComplete"]
    assert unknown["userErrors"][0]["field"] == "payments[0].gateway"
    missing = (await shop.data(CHECKOUT, id="cart_nope", key="k", email="a@example.com",
                               payments=FAKE))["checkoutComplete"]
    assert missing["userErrors"][0]["code"] == "not_found"
    assert shop.gateway.count("authorize") == 0


async def test_3d_secure_surfaces_the_next_action(shop: Storefront) -> None:
    cart_id = await ready_cart(shop)
    shop.gateway.mode = "action"
    waiting = (await shop.data(CHECKOUT, id=cart_id, key="k", payments=FAKE,
                               email="ada@example.com"))["checkoutComplete"]
    assert waiting["order"] is None
    assert waiting["userErrors"][0]["code"] == "payment_action_required"
    action = waiting["nextAction"]
    assert action["paymentId"].startswith("pay_")
    assert (action["type"], action["clientSecret"]) == ("use_stripe_sdk", "pi_1_secret")
    assert action["data"] == {"type": "use_stripe_sdk", "client_secret": "pi_1_secret"}
    # asking again while the customer confirms: the same action, no second authorization
    again = (await shop.data(CHECKOUT, id=cart_id, key="k", payments=FAKE,
                             email="ada@example.com"))["checkoutComplete"]
    assert again["nextAction"] == action
    assert shop.gateway.count("authorize") == 1


async def test_orders_are_tracked_by_number_and_contact(shop: Storefront) -> None:
    cart_id = await ready_cart(shop)
    order = (await shop.mutate(CHECKOUT, "checkoutComplete", id=cart_id, key="k", payments=FAKE,
                               email="ada@example.com"))["order"]
    tracked = (await shop.data(TRACK, number=order["number"], email=" ADA@example.com "))
    assert tracked["orderTracking"]["id"] == order["id"]
    answers = []
    for number, email in ((order["number"], "eve@example.com"), ("999999", "ada@example.com")):
        body = await shop.gql(TRACK, number=number, email=email)
        assert body["data"]["orderTracking"] is None
        answers.append(body["errors"][0]["message"])
    assert answers[0] == answers[1] == "no order with this number and contact"
    body = await shop.gql(TRACK, number=order["number"])
    assert body["errors"][0]["extensions"] == {"code": "invalid_input", "field": "email"}


async def test_a_customer_sees_only_their_own_orders(shop: Storefront) -> None:
    ada = await shop.sign_up("ada@example.com")
    bob = await shop.sign_up("bob@example.com")
    cart_id = await ready_cart(shop, token=ada)
    # Bob cannot check Ada's cart out, and it costs nothing to try
    stolen = (await shop.data(CHECKOUT, token=bob, id=cart_id, key="k", payments=FAKE))
    assert stolen["checkoutComplete"]["userErrors"][0]["code"] == "not_found"
    assert shop.gateway.count("authorize") == 0
    order = (await shop.mutate(CHECKOUT, "checkoutComplete", token=ada, id=cart_id, key="k",
                               payments=FAKE))["order"]
    assert order["email"] == "ada@example.com"  # the customer's e-mail by default
    mine = (await shop.data("{ me { orders { number } openCart { id } } }", token=ada))["me"]
    assert mine == {"orders": [{"number": order["number"]}], "openCart": None}
    theirs = (await shop.data("{ me { orders { number } } }", token=bob))["me"]
    assert theirs["orders"] == []


# -- live order status over server-sent events -------------------------------------------------


async def test_order_status_is_pushed_as_it_changes(shop: Storefront) -> None:
    cart_id = await ready_cart(shop)
    order = (await shop.mutate(CHECKOUT, "checkoutComplete", id=cart_id, key="k", payments=FAKE,
                               email="ada@example.com"))["order"]
    fulfilments = await shop.commerce.fulfilment.for_order(order["id"])
    async with live_server(shop) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        request = {"query": SUBSCRIBE, "variables": {"number": order["number"],
                                                     "email": "ada@example.com"}}
        async with client.stream("POST", "/graphql/stream", json=request,
                                 headers=shop.headers()) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = read_events(response)
            kind, first = await next_event(events)
            assert kind == "next"
            assert first["data"]["orderStatus"]["status"] == "authorized"
            assert first["data"]["orderStatus"]["previousStatus"] == "placed"
            # an associate starts picking, then the order is cancelled: two changes
            await shop.commerce.fulfilment.start_picking(fulfilments[0].id, actor="alice")
            kind, picking = await next_event(events)
            assert picking["data"]["orderStatus"]["status"] == "in_fulfilment"
            assert picking["data"]["orderStatus"]["previousStatus"] == "authorized"
            assert picking["data"]["orderStatus"]["order"]["fulfilments"][0]["status"] in (
                "picking", "open")
            await shop.commerce.orders.cancel(order["id"], actor="alice", reason="asked")
            kind, cancelled = await next_event(events)
            assert cancelled["data"]["orderStatus"]["status"] == "cancelled"
            # a final status ends the stream
            assert await next_event(events) == ("complete", None)
            with pytest.raises(StopAsyncIteration):
                await next_event(events)


async def test_a_change_is_followed_by_the_history_not_the_status_column(
    shop: Storefront, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL an order's row and its history are read by separate statements: a
    poll may see the history's last change before the row says so. The stream follows
    the history, so it still sends the change and ends after a final one."""
    cart_id = await ready_cart(shop)
    placed = (await shop.mutate(CHECKOUT, "checkoutComplete", id=cart_id, key="k",
                                payments=FAKE, email="ada@example.com"))["order"]
    before = await shop.commerce.orders.get(placed["id"])
    cancelled = await shop.commerce.orders.cancel(placed["id"], actor="alice")
    torn = attrs.evolve(cancelled, status=before.status)  # the row read before the commit

    async def stale_row(order_id: str) -> Order:
        return torn

    monkeypatch.setattr(shop.commerce.orders, "get", stale_row)
    follow = follow_order(OrderWatch(shop.commerce, 0.01), before, max_seconds=5)
    async with asyncio.timeout(5):
        statuses = [event["status"] async for event in follow]
    assert statuses == ["authorized", "cancelled"]


async def test_order_status_stream_refusals(shop: Storefront) -> None:
    cart_id = await ready_cart(shop)
    order = (await shop.mutate(CHECKOUT, "checkoutComplete", id=cart_id, key="k", payments=FAKE,
                               email="ada@example.com"))["order"]
    stream = shop.client
    wrong = await stream.post("/graphql/stream", headers=shop.headers(), json={
        "query": SUBSCRIBE, "variables": {"number": order["number"], "email": "eve@example.com"}})
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["extensions"] == {"code": "not_found", "field": "number"}
    no_token = await stream.post("/graphql/stream", json={"query": SUBSCRIBE})
    assert no_token.status_code == 401
    query = await stream.post("/graphql/stream", headers=shop.headers(),
                              json={"query": "{ channel { code } }"})
    assert query.status_code == 400 and "only subscriptions" in query.text
    expired = await stream.post("/graphql/stream", json={"query": SUBSCRIBE},
                                headers={**shop.headers(), "authorization": "Bearer oct_nope"})
    assert expired.status_code == 401
    # over /graphql a subscription is not run as a query
    body = await shop.gql(SUBSCRIBE, number=order["number"], email="ada@example.com")
    assert "/graphql/stream" in body["errors"][0]["message"]


async def test_the_stream_has_the_query_limits_of_graphql(
    db_url: str, clock: FakeClock
) -> None:
    limits = {"gateway": {**POLL["gateway"], "max_depth": 2}}
    async with open_storefront(db_url, clock, config=limits) as shop:
        deep = await shop.client.post("/graphql/stream", headers=shop.headers(), json={
            "query": SUBSCRIBE, "variables": {"number": "100001", "email": "a@example.com"}})
        assert deep.status_code == 400
        assert deep.json()["errors"][0]["extensions"]["code"] == "query_too_deep"


async def test_order_status_with_event_source_and_a_customer_token(shop: Storefront) -> None:
    ada = await shop.sign_up("ada@example.com")
    bob = await shop.sign_up("bob@example.com")
    cart_id = await ready_cart(shop, token=ada)
    order = (await shop.mutate(CHECKOUT, "checkoutComplete", token=ada, id=cart_id, key="k",
                               payments=FAKE))["order"]
    mine = "subscription($n: String!) { orderStatus(number: $n) { status } }"
    refused = await shop.client.post("/graphql/stream", headers=shop.headers(token=bob), json={
        "query": mine, "variables": {"n": order["number"]}})
    assert refused.status_code == 400 and "no order" in refused.text
    async with live_server(shop) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        # EventSource cannot send headers: a GET with the query and the channel token
        params = {"query": SUBSCRIBE, "variables": json.dumps({"number": order["number"],
                                                               "email": "ada@example.com"}),
                  "channelToken": shop.tokens["web"]}
        async with client.stream("GET", "/graphql/stream", params=params) as response:
            _, first = await next_event(read_events(response))
            assert first["data"]["orderStatus"]["status"] == "authorized"
        # fetch-based clients send the customer's token: no contact needed for their order
        async with client.stream("POST", "/graphql/stream", headers={
                CHANNEL_HEADER: shop.tokens["web"], "authorization": f"Bearer {ada}"},
                json={"query": mine, "variables": {"n": order["number"]}}) as response:
            _, first = await next_event(read_events(response))
            assert first == {"data": {"orderStatus": {"status": "authorized"}}}
