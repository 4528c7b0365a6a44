"""The gateway's fast paths switched off answer exactly what they answer switched on.

``[gateway] fast_execution`` (plain fields read without graphql-core's machinery) and
``[database] prepared_reads`` (the hottest reads on the driver itself) rely on
graphql-core's and SQLAlchemy's internals. Two ``Commerce`` on one database, one with
both on and one with both off, serve the same storefront queries over the real app;
the answers must be equal. (``nox -s slow_paths`` also runs every gateway test with
both off.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from omnicore import Commerce
from omnicore.gateway import create_app
from omnicore.gateway.app import CHANNEL_HEADER
from omnicore.gateway.execution import _PLAIN_FIELDS
from omnicore.testing import FakeClock, seed_minimal

PAGE = """
query($handle: String!) {
  product(handle: $handle) {
    handle title
    variants {
      sku title
      price { amount currency }
      availability { total inStock locations { locationCode available location { name } } }
    }
    availability { sku total }
  }
  products(first: 10) { nodes { handle variants { sku } } hasNextPage }
}
"""


def _switches(on: bool) -> dict[str, Any]:
    return {"gateway": {"fast_execution": on}, "database": {"prepared_reads": on}}


@pytest.fixture
async def shops(db_url: str, clock: FakeClock) -> AsyncIterator[dict[bool, httpx.AsyncClient]]:
    options: dict[str, Any] = {"clock": clock, "dispatch": False, "load_entry_points": False,
                               "auto_migrate": True}
    async with Commerce.open(db_url, config=_switches(True), **options) as fast, \
            Commerce.open(db_url, config=_switches(False), **options) as slow:
        assert (fast.config.gateway.fast_execution, fast.db.prepared_reads) == (True, True)
        assert (slow.config.gateway.fast_execution, slow.db.prepared_reads) == (False, False)
        seeded = await seed_minimal(fast)
        await fast.stock.receive("TEE-L", "paris-1", 3, source="test")
        await fast.stock.receive("TEE-M", "paris-1", 1, source="test")
        token = seeded["channel"].public_token
        clients = {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(fast)),
                                     base_url="http://fast", headers={CHANNEL_HEADER: token}
                                     ) as clients[True], \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(slow)),
                                  base_url="http://slow", headers={CHANNEL_HEADER: token}
                                  ) as clients[False]:
            yield clients


async def answer(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_product_page_is_the_same_with_the_fast_paths_off(
        shops: dict[bool, httpx.AsyncClient]) -> None:
    _PLAIN_FIELDS.clear()  # a cache of the fast path: it fills again as fields are read
    slow = await answer(shops[False], PAGE, handle="classic-tee")
    assert _PLAIN_FIELDS == {}, "fast_execution = false: graphql-core's own execution"
    fast = await answer(shops[True], PAGE, handle="classic-tee")
    assert _PLAIN_FIELDS, "fast_execution = true reads plain fields directly"
    assert slow == fast
    assert "errors" not in fast
    variants = {v["sku"]: v for v in fast["data"]["product"]["variants"]}
    assert variants["TEE-M"]["availability"]["total"] == 11
    assert {loc["locationCode"]: loc["available"]
            for loc in variants["TEE-L"]["availability"]["locations"]} == {"wh": 0, "paris-1": 3}


async def test_errors_are_the_same_with_the_fast_paths_off(
        shops: dict[bool, httpx.AsyncClient]) -> None:
    query = '{ product(handle: "no-such-thing") { handle } missing: product(handle: "") { id } }'
    slow = await answer(shops[False], query)
    fast = await answer(shops[True], query)
    assert slow == fast
    assert [e["extensions"]["code"] for e in fast["errors"]] == ["not_found", "not_found"]
