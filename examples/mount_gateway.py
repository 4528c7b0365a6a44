"""Mount the omnicore GraphQL gateway inside your own starlette (or FastAPI) app.

    python examples/mount_gateway.py [path/to/file.db]          (default: ./mount-example.db)
    python examples/mount_gateway.py [path/to/file.db] --serve  (serve on :8000 until Ctrl-C)

Your application keeps its own routes (here ``/``) and serves the gateway under
``/commerce``: the storefront API at ``/commerce/graphql``, the admin API at
``/commerce/admin/graphql``, the probes at ``/commerce/healthz`` and
``/commerce/readyz``. ``create_app`` needs an open ``Commerce``: open it first,
build the app, then run uvicorn; close the ``Commerce`` when the server stops.

Without ``--serve`` the example starts the server on a free port, sends a
storefront query over HTTP (and an admin query without a staff key, refused),
prints the answers and stops. Running it twice changes nothing: every save is
an upsert and the stock receipt carries an external id.
It needs only ``pip install 'omnicore[server]'``. With FastAPI, replace the
``Starlette(routes=[...])`` below by ``app = FastAPI()`` and
``app.mount("/commerce", create_app(commerce))``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import urllib.error
import urllib.request
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from omnicore import Commerce, Money
from omnicore.gateway import create_app

PRODUCTS = "{ products(first: 5) { nodes { handle variants { sku price { amount currency } " \
           "availability { total } } } } }"


async def prepare(commerce: Commerce) -> str:
    """A store, a web channel, a product with stock; returns the channel's public token."""
    await commerce.locations.save({
        "code": "lyon-1", "name": "Lyon Bellecour", "kind": "store",
        "address": {"line1": "2 place Bellecour", "city": "Lyon", "postal_code": "69002",
                    "country": "FR"},
        "geo": {"lat": 45.7578, "lng": 4.8320}, "timezone": "Europe/Paris",
    })
    channel = await commerce.channels.save({
        "code": "web", "name": "Web shop", "kind": "web", "currency": "EUR",
        "locations": [{"location": "lyon-1"}],
    })
    await commerce.catalog.save_product({"handle": "blue-mug", "title": "Blue mug",
                                         "variants": [{"sku": "MUG-BLUE", "title": "350 ml"}]})
    await commerce.catalog.set_prices([{"sku": "MUG-BLUE", "amount": Money("14.90", "EUR")}])
    await commerce.stock.receive("MUG-BLUE", "lyon-1", 24, source="mount-example",
                                 external_id="PO-1")  # replayed by a second run: ignored
    return channel.public_token or ""


def application(commerce: Commerce) -> Starlette:
    """Your app: its own routes, and the gateway mounted under /commerce."""

    async def home(_: Request) -> PlainTextResponse:
        return PlainTextResponse("my shop (the commerce API is under /commerce)")

    return Starlette(routes=[
        Route("/", home),
        Mount("/commerce", app=create_app(commerce)),
    ])


def _post(url: str, query: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps({"query": query}).encode(), method="POST",
        headers={"content-type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def main(path: str, serve: bool = False) -> list[str]:
    async with Commerce.open(path) as commerce:
        token = await prepare(commerce)
        app = application(commerce)
        port = 8000 if serve else _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning"))
        if serve:
            print(f"serving http://127.0.0.1:{port}/ and the storefront GraphiQL at "
                  f"http://127.0.0.1:{port}/commerce/graphql?token={token}")
            await server.serve()
            return []
        task = asyncio.create_task(server.serve())
        for _ in range(200):  # up to 10 s
            if server.started or task.done():
                break
            await asyncio.sleep(0.05)
        if not server.started:
            raise SystemExit(f"the server did not start on port {port}")
        base = f"http://127.0.0.1:{port}"
        try:
            home = await asyncio.to_thread(_get, f"{base}/")
            ready = await asyncio.to_thread(_get, f"{base}/commerce/readyz")
            _, shop = await asyncio.to_thread(_post, f"{base}/commerce/graphql", PRODUCTS,
                                              {"x-omnicore-channel-token": token})
            status, admin = await asyncio.to_thread(_post, f"{base}/commerce/admin/graphql",
                                                    "{ __typename }", {})
        finally:
            server.should_exit = True
            await task
    variant = shop["data"]["products"]["nodes"][0]["variants"][0]
    lines = [
        f"GET / -> {home}",
        f"GET /commerce/readyz -> {ready}",
        f"POST /commerce/graphql -> {variant['sku']}: {variant['price']['amount']} "
        f"{variant['price']['currency']}, available {variant['availability']['total']}",
        f"POST /commerce/admin/graphql without a staff key -> {status}: "
        f"{admin['errors'][0]['message']}",
    ]
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--serve"]
    asyncio.run(main(arguments[0] if arguments else "./mount-example.db",
                     serve="--serve" in sys.argv[1:]))
