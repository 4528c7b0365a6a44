"""The storefront world the ``test_gateway_storefront*`` tests share (no tests here).

``open_storefront`` opens a Commerce on the test's database with a ``FakeGateway``
payment plugin and the cart world of ``helpers.cart_world`` (channels ``web``,
``app``, ``app-stores``, ``uk-web``, ``pos-paris-1`` …), serves ``create_app`` to an
httpx client over ``ASGITransport``, and gives helpers to call it as a storefront.
``place_order`` checks a cart out (for the order tests and the live-status ones);
``live_server`` serves the same app from a real uvicorn server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import uvicorn
from helpers.cart_world import build_world
from helpers.gateways import FakeGateway, GatewayPlugin

from omnicore import Commerce
from omnicore.gateway import create_app
from omnicore.gateway.app import CHANNEL_HEADER
from omnicore.testing import FakeClock

if TYPE_CHECKING:
    from starlette.applications import Starlette

PASSWORD = "correct horse battery"
HOME = {"key": "home", "kind": "ship", "method": "standard",
        "address": {"line1": "3 rue de Rivoli", "city": "Paris", "postalCode": "75004",
                    "country": "FR"}}
CART_FIELDS = """id version status channel currency customerId note discountCodes
  lines { id sku quantity fulfilment location held available }"""
#: live status in tests: followed orders are read every 50 ms
POLL = {"gateway": {"order_status_poll_seconds": 0.05, "subscription_keepalive_seconds": 0.2}}
ORDER_FIELDS = """id number status channel email total { amount currency }
  lines { sku quantity unitPrice { amount } }
  deliveryGroups { key kind method price { amount } address { city } location }
  payments { gateway status amount { amount } authorized { amount } }
  fulfilments { kind status location pickupLocation lines { sku quantity } }
  history { fromStatus toStatus }"""
CHECKOUT = """mutation($id: ID!, $key: String!, $payments: [PaymentInput!]!, $email: String) {
  checkoutComplete(cartId: $id, idempotencyKey: $key, payments: $payments, email: $email) {
    order { """ + ORDER_FIELDS + """ }
    nextAction { paymentId type clientSecret data }
    userErrors { field code message } } }"""
DELIVERY = """mutation($id: ID!, $v: Int!, $groups: [DeliveryGroupInput!]!) {
  cartDeliveryUpdate(cartId: $id, version: $v, delivery: $groups) {
    cart { id version } userErrors { field code message } } }"""
FAKE = [{"gateway": "fake"}]
SUBSCRIBE = """subscription($number: String!, $email: String) {
  orderStatus(number: $number, email: $email) {
    number status previousStatus changedAt order { status fulfilments { status } } } }"""


@attrs.define
class Storefront:
    commerce: Commerce
    client: httpx.AsyncClient
    gateway: FakeGateway
    tokens: dict[str, str]
    app: Starlette

    def headers(self, channel: str = "web", token: str | None = None) -> dict[str, str]:
        headers = {CHANNEL_HEADER: self.tokens[channel]}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        return headers

    async def post(self, query: str, /, *, channel: str = "web", token: str | None = None,
                   **variables: Any) -> httpx.Response:
        return await self.client.post("/graphql", json={"query": query, "variables": variables},
                                      headers=self.headers(channel, token))

    async def gql(self, query: str, /, *, channel: str = "web", token: str | None = None,
                  **variables: Any) -> dict[str, Any]:
        """The whole answer (``data`` and maybe ``errors``): HTTP 200, or 400 when ``data``
        is null because of errors."""
        response = await self.post(query, channel=channel, token=token, **variables)
        body: dict[str, Any] = response.json()
        assert response.status_code == (400 if body.get("data") is None else 200), body
        return body

    async def data(self, query: str, /, *, channel: str = "web", token: str | None = None,
                   **variables: Any) -> dict[str, Any]:
        """``data`` of an answer without errors."""
        body = await self.gql(query, channel=channel, token=token, **variables)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result

    async def mutate(self, query: str, name: str, /, *, channel: str = "web",
                     token: str | None = None, **variables: Any) -> dict[str, Any]:
        """The payload of mutation ``name``, asserting it has no userErrors."""
        payload = (await self.data(query, channel=channel, token=token, **variables))[name]
        assert payload["userErrors"] == [], payload["userErrors"]
        result: dict[str, Any] = payload
        return result

    async def sign_up(self, email: str, password: str = PASSWORD) -> str:
        """An account and a customer token for it."""
        await self.mutate(
            "mutation($email: String!, $password: String!) { customerCreate(email: $email, "
            "password: $password) { customer { id } userErrors { code } } }",
            "customerCreate", email=email, password=password)
        payload = await self.mutate(
            "mutation($email: String!, $password: String!) { customerAccessTokenCreate("
            "email: $email, password: $password) { customerAccessToken { accessToken } "
            "userErrors { code } } }", "customerAccessTokenCreate", email=email,
            password=password)
        token: str = payload["customerAccessToken"]["accessToken"]
        return token

    async def new_cart(self, lines: list[Mapping[str, Any]], *, channel: str = "web",
                       token: str | None = None) -> dict[str, Any]:
        payload = await self.mutate(
            "mutation($lines: [CartLineInput!]) { cartCreate(lines: $lines) { cart { "
            + CART_FIELDS + " } userErrors { field code message } } }",
            "cartCreate", channel=channel, token=token, lines=lines)
        cart: dict[str, Any] = payload["cart"]
        return cart


@contextlib.asynccontextmanager
async def open_storefront(db_url: str, clock: FakeClock, *,
                          config: Mapping[str, Any] | None = None) -> AsyncIterator[Storefront]:
    gateway = FakeGateway()
    async with Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False,
                             auto_migrate=True, plugins=[GatewayPlugin(gateway)],
                             config={"database": {"pool_size": 5}, **(config or {})}) as commerce:
        await build_world(commerce)
        tokens = {c.code: str(c.public_token) for c in await commerce.channels.list()}
        app = create_app(commerce)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            yield Storefront(commerce, client, gateway, tokens, app)


async def ready_cart(shop: Storefront, *, token: str | None = None) -> str:
    """A cart with a shipped line and a click & collect line, delivery chosen."""
    cart = await shop.new_cart([{"sku": "TEE-L", "quantity": 2},
                                {"sku": "TEE-M", "quantity": 1, "fulfilment": "pickup",
                                 "location": "paris-1"}], token=token)
    done = await shop.mutate(DELIVERY, "cartDeliveryUpdate", token=token, id=cart["id"],
                             v=cart["version"], groups=[HOME])
    cart_id: str = done["cart"]["id"]
    return cart_id


async def place_order(shop: Storefront, *, token: str | None = None,
                      email: str | None = "ada@example.com") -> dict[str, Any]:
    """An order of ``ready_cart``'s cart paid with the fake gateway (status ``authorized``);
    a customer's (``token``) takes the customer's e-mail when ``email`` is None."""
    cart_id = await ready_cart(shop, token=token)
    done = await shop.mutate(CHECKOUT, "checkoutComplete", token=token, id=cart_id, key="k",
                             payments=FAKE, email=email)
    order: dict[str, Any] = done["order"]
    return order


@contextlib.asynccontextmanager
async def live_server(shop: Storefront) -> AsyncIterator[str]:
    """The same app under a real uvicorn server on a free local port, in this event loop."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(shop.app, lifespan="off", log_level="warning",
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()  # it failed to start: say why
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await task
        sock.close()


async def read_events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """``(event, data)`` of an SSE stream; comment lines (keep-alives) are skipped."""
    event, data = None, []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue
        if line.startswith("event: "):
            event = line[len("event: "):]
        elif line.startswith("data:"):
            data.append(line[len("data:"):].strip())
        elif line == "" and event is not None:
            text = "\n".join(data)
            yield event, json.loads(text) if text else None
            event, data = None, []


async def next_event(events: AsyncIterator[tuple[str, Any]]) -> tuple[str, Any]:
    """The next event, or a failure (not a hung test) when none comes."""
    async with asyncio.timeout(10):
        return await anext(events)
