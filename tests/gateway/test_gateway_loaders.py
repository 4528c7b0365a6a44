"""DataLoaders and the catalog cache: the SQL statements of a catalog query.

On a SQLite file and on PostgreSQL: a channel selling from 10 stores, products
of 5 variants with prices and stock everywhere; the statements one request
runs are counted with SQLAlchemy's ``before_cursor_execute`` event. The count
does not grow with the number of products; with the catalog cache, a page
read again runs no product or price statement, yet sees every catalog change
at once — made in this process or by another ``Commerce`` on the database.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from omnicore import Commerce
from omnicore.gateway import create_app, loaders
from omnicore.gateway.app import CHANNEL_HEADER
from omnicore.gateway.context import RequestContext
from omnicore.gateway.loaders import DataLoader
from omnicore.stock import LevelInput
from omnicore.testing import counting_statements, paris_address

STORES = [f"store-{i}" for i in range(10)]
SIZES = ("XS", "S", "M", "L", "XL")
LISTING = """
query($n: Int!) {
  products(first: $n) {
    nodes {
      handle
      variants {
        sku
        price { amount currency }
        availability { total locations { locationCode available location { name } } }
      }
      availability { sku total }
    }
  }
}
"""


async def _seed(commerce: Commerce, products: int) -> None:
    for index, code in enumerate(STORES):
        await commerce.locations.save({
            "code": code, "name": f"Store {index}", "kind": "store",
            "address": paris_address(f"{index + 1} rue de Rivoli"),
            "geo": {"lat": 48.85 + index / 100, "lng": 2.35}, "timezone": "Europe/Paris",
            "capabilities": ["pickup"],
        })
    await commerce.channels.save({
        "code": "web", "name": "Web", "kind": "web", "currency": "EUR",
        "locations": [{"location": code, "priority": i, "buffer": i % 2}
                      for i, code in enumerate(STORES)],
    })
    await commerce.catalog.save_products([
        {"handle": f"p-{p:03d}", "title": f"Product {p}",
         "variants": [{"sku": f"P{p:03d}-{size}", "title": size} for size in SIZES]}
        for p in range(products)])
    skus = [f"P{p:03d}-{size}" for p in range(products) for size in SIZES]
    prices: list[dict[str, Any]] = [
        {"sku": sku, "amount": {"amount": "10.00", "currency": "EUR"}} for sku in skus]
    prices += [{"sku": sku, "amount": {"amount": "9.00", "currency": "EUR"}, "channel": "web"}
               for sku in skus[::3]]
    await commerce.catalog.set_prices(prices)
    await commerce.stock.set_levels(
        [LevelInput(sku, store, (i + s) % 7, safety_stock=s % 2)
         for i, sku in enumerate(skus) for s, store in enumerate(STORES)], source="test")


counting = counting_statements


def selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


@pytest.fixture(params=[False, True], ids=["no-cache", "catalog-cache"])
async def shop(db_url: str, request: pytest.FixtureRequest) -> Any:
    # 50 products with stock per location cost ~14,000: above the default max_cost
    gateway = {"max_cost": 20_000, "catalog_cache": request.param}
    async with Commerce.open(db_url, dispatch=False, load_entry_points=False, auto_migrate=True,
                             config={"gateway": gateway}) as commerce:
        await _seed(commerce, 50)
        token = (await commerce.channels.get("web")).public_token
        transport = httpx.ASGITransport(app=create_app(commerce))
        async with httpx.AsyncClient(transport=transport, base_url="http://shop",
                                     headers={CHANNEL_HEADER: token or ""}) as client:
            yield commerce, client


async def listing(client: httpx.AsyncClient, n: int) -> list[dict[str, Any]]:
    response = await client.post("/graphql", json={"query": LISTING, "variables": {"n": n}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    nodes: list[dict[str, Any]] = body["data"]["products"]["nodes"]
    assert len(nodes) == n
    return nodes


async def test_statements_do_not_grow_with_the_number_of_products(shop: Any) -> None:
    commerce, client = shop
    await listing(client, 1)  # warm: the first request may read what later ones reuse
    counts = {}
    for n in (1, 10, 50):
        with counting(commerce) as statements:
            await listing(client, n)
        counts[n] = len(statements)
    if not commerce.config.gateway.catalog_cache:
        assert counts[1] == counts[10] == counts[50], counts
    else:  # the warm-up cached the first product's prices: n = 1 skips the price read
        assert counts[1] <= counts[10] == counts[50], counts
    # channel token (2), [catalog revision], products + variants (2), prices, availability
    # (active locations and levels: 1), locations: 7-8 SELECTs, one BEGIN on SQLite, when
    # this was written
    assert counts[50] <= 10, counts


async def test_a_query_reads_in_one_transaction(shop: Any) -> None:
    commerce, client = shop
    with counting(commerce) as statements:
        await listing(client, 10)
    begins = [s for s in statements if s.strip().upper().startswith("BEGIN")]
    assert len(begins) == (1 if commerce.db.is_sqlite else 0), statements


CATALOG_READS = ("FROM products", "FROM variants", "FROM prices")


PRODUCT_PAGE = ('query($h: String!) { product(handle: $h) { title variants { sku '
                'price { amount } availability { total } } } }')


@pytest.mark.parametrize("shop", [True], ids=["catalog-cache"], indirect=True)
async def test_the_catalog_cache_serves_a_page_again_and_sees_every_change(
        shop: Any, db_url: str) -> None:
    commerce, client = shop
    page = {"query": PRODUCT_PAGE, "variables": {"h": "p-001"}}
    shown = (await client.post("/graphql", json=page)).json()["data"]["product"]
    with counting(commerce) as statements:
        again = (await client.post("/graphql", json=page)).json()["data"]["product"]
    assert again == shown
    # the product, its variants and prices from memory; the revision and the stock live
    assert not [s for s in statements if any(t in s for t in CATALOG_READS)], statements
    assert sum("FROM counters" in s for s in statements) == 1
    assert sum("JOIN stock_levels" in s for s in statements) == 1  # active locations + levels

    first = await listing(client, 10)
    with counting(commerce) as statements:
        again = await listing(client, 10)
    assert again == first
    catalog_reads = [s for s in statements if any(t in s for t in CATALOG_READS)]
    # the page itself (products + variants) is a search: read each time; prices are cached
    assert not any("FROM prices" in s for s in catalog_reads), catalog_reads
    assert any("FROM counters" in s for s in statements)  # the revision, once
    assert sum("FROM counters" in s for s in statements) == 1

    # a price changed in this process: the next request sees it
    sku = first[0]["variants"][0]["sku"]
    await commerce.catalog.set_prices(
        [{"sku": sku, "amount": {"amount": "7.50", "currency": "EUR"}, "channel": "web"}])
    changed = await listing(client, 10)
    assert changed[0]["variants"][0]["price"]["amount"] == "7.50"

    # a price changed by another process (its own Commerce, its own engine)
    async with Commerce.open(db_url, dispatch=False, load_entry_points=False) as other:
        await other.catalog.set_prices(
            [{"sku": sku, "amount": {"amount": "6.25", "currency": "EUR"}, "channel": "web"}])
        await other.catalog.save_product(
            {"handle": "p-000", "title": "Renamed elsewhere",
             "variants": [{"sku": f"P000-{size}", "title": size} for size in SIZES]})
    changed = await listing(client, 10)
    assert changed[0]["variants"][0]["price"]["amount"] == "6.25"
    page = {"query": PRODUCT_PAGE, "variables": {"h": "p-000"}}
    renamed = (await client.post("/graphql", json=page)).json()["data"]["product"]
    assert renamed["title"] == "Renamed elsewhere"
    assert renamed["variants"][0]["price"]["amount"] == "6.25"


async def test_loaded_values_are_the_services_values(shop: Any) -> None:
    commerce, client = shop
    nodes = await listing(client, 12)
    skus = [v["sku"] for node in nodes for v in node["variants"]]
    prices = await commerce.catalog.prices_for(skus, currency="EUR", channel="web")
    stock = await commerce.stock.availability_many(skus, channel="web")
    names = {loc.code: loc.name for loc in await commerce.locations.list()}
    for node in nodes:
        for variant in node["variants"]:
            sku = variant["sku"]
            assert variant["price"] == {"amount": str(prices[sku].amount.amount),
                                        "currency": "EUR"}
            assert variant["availability"]["total"] == stock[sku].total
            assert [(e["locationCode"], e["available"], e["location"]["name"])
                    for e in variant["availability"]["locations"]] == [
                (e.location, e.available, names[e.location]) for e in stock[sku].locations]
        assert [a["total"] for a in node["availability"]] == [
            v["availability"]["total"] for v in node["variants"]]
    assert {v["price"]["amount"] for n in nodes for v in n["variants"]} == {"9.00", "10.00"}


async def test_loaders_of_a_request_batch_and_cache(shop: Any) -> None:
    commerce, _ = shop
    context = RequestContext(commerce=commerce, channel=await commerce.channels.get("web"))
    skus = ["P000-S", "P001-M", "P002-L", "P000-S"]
    with counting(commerce) as statements:
        found = await asyncio.gather(*(loaders.price(context, sku) for sku in skus))
    assert [p.sku if p else None for p in found] == skus
    assert len(selects(statements)) == 1  # one prices_for for the four (three distinct) SKUs
    with counting(commerce) as statements:
        again = await loaders.price(context, "P001-M")
        missing = await loaders.price(context, "NO-SUCH-SKU")
    assert again is found[1] and missing is None
    assert len(selects(statements)) == 1  # the cached SKU was not read again
    stock = await asyncio.gather(*(loaders.availability(context, sku) for sku in skus[:3]))
    assert [s.sku for s in stock] == skus[:3]
    assert context.loaders["loaders.availability"].batches == 1
    assert (await loaders.location(context, "store-3")).name == "Store 3"  # type: ignore[union-attr]
    assert await loaders.location(context, "nowhere") is None


# -- the DataLoader itself -------------------------------------------------------------------


async def test_keys_of_one_round_make_one_batch() -> None:
    calls: list[list[int]] = []

    async def batch(keys: list[int]) -> dict[int, str]:
        calls.append(keys)
        await asyncio.sleep(0)
        return {k: str(k) for k in keys if k != 3}

    loader: DataLoader[int, str] = DataLoader(batch)

    async def nested(key: int) -> str | None:
        await asyncio.sleep(0)  # asks one round later: a batch of its own
        return await loader.load(key)

    first = await asyncio.gather(loader.load(1), loader.load(2), loader.load(1), loader.load(3))
    assert first == ["1", "2", "1", None] and calls == [[1, 2, 3]]
    second = await asyncio.gather(loader.load(2), nested(4), nested(5))
    assert second == ["2", "4", "5"] and calls == [[1, 2, 3], [4, 5]]
    assert await loader.load_many([1, 4, 6]) == ["1", "4", "6"]
    assert calls[-1] == [6] and loader.batches == 3
    loader.prime(7, "seven")
    assert await loader.load(7) == "seven" and loader.batches == 3


async def test_a_failed_batch_fails_each_of_its_keys() -> None:
    async def batch(keys: list[str]) -> dict[str, int]:
        raise LookupError(f"cannot load {keys}")

    loader: DataLoader[str, int] = DataLoader(batch)
    results = await asyncio.gather(loader.load("a"), loader.load("b"), return_exceptions=True)
    assert [type(r) for r in results] == [LookupError, LookupError]
    assert "['a', 'b']" in str(results[0])


async def test_max_batch_splits_a_round() -> None:
    sizes: list[int] = []

    async def batch(keys: list[int]) -> dict[int, int]:
        sizes.append(len(keys))
        return {k: k * k for k in keys}

    loader: DataLoader[int, int] = DataLoader(batch, max_batch=4)
    assert await loader.load_many(range(10)) == [k * k for k in range(10)]
    assert sizes == [4, 4, 2]
