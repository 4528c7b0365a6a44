"""The storefront gateway over the real ASGI app (httpx), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from omnicore import Commerce, hookimpl
from omnicore.gateway import create_app
from omnicore.gateway.app import CHANNEL_HEADER, MAX_BODY_BYTES
from omnicore.testing import FakeClock, seed_minimal


class WebhookPlugin:
    name = "acme"

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    @hookimpl
    def register_routes(self, commerce: Commerce) -> list[Route]:
        async def webhook(request: Request) -> JSONResponse:
            self.bodies.append(await request.body())
            return JSONResponse({"received": request.headers.get("x-acme-signature")})

        return [Route("/webhooks/acme", webhook, methods=["POST"])]


@pytest.fixture
async def shop(db_url: str, clock: FakeClock) -> Any:
    plugin = WebhookPlugin()
    async with Commerce.open(
        db_url,
        clock=clock,
        dispatch=False,
        load_entry_points=False,
        auto_migrate=True,
        plugins=[plugin],
    ) as commerce:
        seeded = await seed_minimal(commerce)
        for index in range(5):
            await commerce.catalog.save_product(
                {
                    "handle": f"mug-{index}",
                    "title": f"Mug {index}",
                    "variants": [{"sku": f"MUG-{index}"}],
                }
            )
        transport = httpx.ASGITransport(app=create_app(commerce))
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            client.headers[CHANNEL_HEADER] = seeded["channel"].public_token
            yield client, plugin


async def query(client: httpx.AsyncClient, text: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": text, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_products_are_cursor_paginated(shop: Any) -> None:
    client, _ = shop
    seen: list[str] = []
    after = None
    while True:
        body = await query(
            client,
            "query($after: String) { products(first: 2, after: $after) "
            "{ nodes { handle } endCursor hasNextPage } }",
            after=after,
        )
        page = body["data"]["products"]
        seen += [node["handle"] for node in page["nodes"]]
        if not page["hasNextPage"]:
            break
        after = page["endCursor"]
    assert seen == ["classic-tee", "mug-0", "mug-1", "mug-2", "mug-3", "mug-4"]


async def test_product_by_sku_has_channel_prices(shop: Any) -> None:
    client, _ = shop
    body = await query(
        client, '{ product(sku: "TEE-M") { handle variants { sku price { amount currency } } } }'
    )
    product = body["data"]["product"]
    assert product["handle"] == "classic-tee"
    assert product["variants"][0] == {
        "sku": "TEE-M",
        "price": {"amount": "19.90", "currency": "EUR"},
    }


async def test_unknown_product_is_a_typed_error(shop: Any) -> None:
    client, _ = shop
    body = await query(client, '{ product(handle: "nope") { title } }')
    assert body["data"]["product"] is None
    assert body["errors"][0]["extensions"] == {"code": "not_found", "field": "handle"}


async def test_channel_lists_its_locations(shop: Any) -> None:
    client, _ = shop
    body = await query(client, "{ channel { code currency locations { code kind openNow } } }")
    channel = body["data"]["channel"]
    assert channel["code"] == "web" and channel["currency"] == "EUR"
    # FakeClock starts on a Monday 09:30 UTC = 10:30 in Paris: the store is open.
    assert {(loc["code"], loc["openNow"]) for loc in channel["locations"]} == {
        ("wh", False),
        ("paris-1", True),
    }


async def test_requests_without_a_valid_channel_token_are_refused(shop: Any) -> None:
    client, _ = shop
    missing = await client.post(
        "/graphql", json={"query": "{ channel { code } }"}, headers={CHANNEL_HEADER: ""}
    )
    assert missing.status_code == 401
    unknown = await client.post(
        "/graphql", json={"query": "{ channel { code } }"}, headers={CHANNEL_HEADER: "pub_forged"}
    )
    assert unknown.status_code == 401
    assert "unknown channel token" in unknown.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "malformed JSON"),
        (b'{"query": 1}', '"query" string'),
        (b'{"query": "{ channel { code } }", "variables": []}', '"variables" must be'),
    ],
)
async def test_malformed_requests_get_400_without_a_trace(
    shop: Any, body: bytes, message: str
) -> None:
    client, _ = shop
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert message in response.json()["errors"][0]["message"]
    assert "Traceback" not in response.text


async def test_oversized_body_is_refused(shop: Any) -> None:
    client, _ = shop
    response = await client.post("/graphql", content=b" " * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413


async def test_unknown_field_is_a_graphql_error(shop: Any) -> None:
    client, _ = shop
    response = await client.post("/graphql", json={"query": "{ nothing }"})
    assert response.status_code == 400
    assert "nothing" in response.json()["errors"][0]["message"]


async def test_health_and_readiness(shop: Any) -> None:
    client, _ = shop
    assert (await client.get("/healthz")).text == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.text == "ready"


async def test_graphiql_page_in_development(shop: Any) -> None:
    client, _ = shop
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "GraphiQL" in page.text


async def test_plugin_webhook_route_gets_raw_body_and_headers(shop: Any) -> None:
    client, plugin = shop
    response = await client.post(
        "/webhooks/acme", content=b'{"id":"evt_1"}', headers={"x-acme-signature": "t=1,v1=abc"}
    )
    assert response.json() == {"received": "t=1,v1=abc"}
    assert plugin.bodies == [b'{"id":"evt_1"}']
