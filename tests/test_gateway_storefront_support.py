"""The storefront world the ``test_gateway_storefront*`` tests share (no tests here).

``open_storefront`` opens a Commerce on the test's database with a ``FakeGateway``
payment plugin and the cart world of ``helpers.cart_world`` (channels ``web``,
``app``, ``app-stores``, ``uk-web``, ``pos-paris-1`` …), serves ``create_app`` to an
httpx client over ``ASGITransport``, and gives helpers to call it as a storefront.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import attrs
import httpx
from helpers.cart_world import build_world
from helpers.gateways import FakeGateway, GatewayPlugin

from omnicore import Commerce
from omnicore.gateway import create_app
from omnicore.gateway.app import CHANNEL_HEADER
from omnicore.testing import FakeClock

PASSWORD = "correct horse battery"
HOME = {"key": "home", "kind": "ship", "method": "standard",
        "address": {"line1": "3 rue de Rivoli", "city": "Paris", "postalCode": "75004",
                    "country": "FR"}}
CART_FIELDS = """id version status channel currency customerId note discountCodes
  lines { id sku quantity fulfilment location held available }"""


@attrs.define
class Storefront:
    commerce: Commerce
    client: httpx.AsyncClient
    gateway: FakeGateway
    tokens: dict[str, str]

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
        transport = httpx.ASGITransport(app=create_app(commerce))
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            yield Storefront(commerce, client, gateway, tokens)
