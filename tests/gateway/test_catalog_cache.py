"""The gateway's CatalogCache and the catalog revision it is exact to.

On a SQLite file and on PostgreSQL, with ``RequestContext`` objects standing for
requests (a new context: a new request). Statements are counted with
``counting_statements``; ``hits``/``misses`` are the cache's own counters.
"""

from __future__ import annotations

from typing import Any

import pytest

from omnicore import Commerce
from omnicore.errors import Conflict, Forbidden, NotFound
from omnicore.gateway import loaders
from omnicore.gateway.catalog_cache import REVISION, CatalogCache
from omnicore.gateway.context import RequestContext
from omnicore.testing import counting_statements, seed_minimal

SKUS = ["TEE-M", "TEE-L"]


@pytest.fixture
async def shop(commerce: Commerce) -> Commerce:
    await seed_minimal(commerce)
    return commerce


async def request(commerce: Commerce, cache: CatalogCache) -> RequestContext:
    """A new request of the web channel."""
    return RequestContext(commerce=commerce, channel=await commerce.channels.get("web"),
                          catalog_cache=cache)


async def prices(cache: CatalogCache, context: RequestContext,
                 skus: list[str] = SKUS) -> dict[str, str]:
    found = await cache.prices_for(context, skus, currency="EUR", channel="web")
    return {sku: str(price.amount.amount) for sku, price in found.items()}


def count(statements: list[str], table: str) -> int:
    return sum(f"FROM {table}" in statement for statement in statements)


async def test_a_second_request_is_served_from_memory(shop: Commerce) -> None:
    cache = CatalogCache()
    first = await request(shop, cache)
    with counting_statements(shop) as statements:
        product = await cache.product(first, handle="classic-tee")
        assert await prices(cache, first) == {"TEE-M": "19.90", "TEE-L": "19.90"}
    assert (cache.hits, cache.misses) == (0, 3)  # a product and two prices
    assert count(statements, "products") == 1 and count(statements, "prices") == 1
    assert cache.revision == await shop.catalog.revision() > 0

    assert await cache.product(first, handle="classic-tee") is product  # same request
    assert (cache.hits, cache.misses) == (1, 3)

    second = await request(shop, cache)
    with counting_statements(shop) as statements:
        assert await cache.product(second, handle="classic-tee") is product
        assert await prices(cache, second) == {"TEE-M": "19.90", "TEE-L": "19.90"}
        assert await cache.product(second, sku="TEE-L") == product  # another key: a miss
    assert (cache.hits, cache.misses) == (4, 4)
    assert count(statements, "counters") == 1  # the revision, once for the request
    assert count(statements, "prices") == 0
    assert count(statements, "products") == 1  # the SKU lookup only


async def test_a_catalog_write_moves_the_revision_and_the_next_request_sees_it(
        shop: Commerce) -> None:
    cache = CatalogCache()
    assert await prices(cache, await request(shop, cache)) == {
        "TEE-M": "19.90", "TEE-L": "19.90"}
    product = await cache.product(await request(shop, cache), handle="classic-tee")
    before = await shop.catalog.revision()
    assert cache.revision == before

    await shop.catalog.set_prices(
        [{"sku": "TEE-M", "amount": {"amount": "15.00", "currency": "EUR"}, "channel": "web"}])
    assert await shop.catalog.revision() == before + 1
    misses = cache.misses
    context = await request(shop, cache)
    assert await prices(cache, context) == {"TEE-M": "15.00", "TEE-L": "19.90"}
    assert cache.misses == misses + 2 and cache.revision == before + 1
    assert context.loaders[REVISION] == before + 1

    await shop.catalog.save_product({"handle": "classic-tee", "title": "Classic tee, v2",
                                     "variants": [{"sku": "TEE-M"}, {"sku": "TEE-L"}]})
    assert await shop.catalog.revision() == before + 2
    renamed = await cache.product(await request(shop, cache), handle="classic-tee")
    assert renamed is not product and renamed.title == "Classic tee, v2"


async def test_a_failed_catalog_write_does_not_move_the_revision(shop: Commerce) -> None:
    """The bump is in the write's transaction: a write rolled back leaves it as it was."""
    before = await shop.catalog.revision()
    with pytest.raises(NotFound):  # all or none: the second SKU does not exist
        await shop.catalog.set_prices([
            {"sku": "TEE-M", "amount": {"amount": "1.00", "currency": "EUR"}},
            {"sku": "NO-SUCH", "amount": {"amount": "1.00", "currency": "EUR"}}])
    with pytest.raises(Conflict):  # TEE-M belongs to classic-tee
        await shop.catalog.save_products([
            {"handle": "mug", "title": "Mug", "variants": [{"sku": "MUG-1"}]},
            {"handle": "other-tee", "title": "Other", "variants": [{"sku": "TEE-M"}]}])
    assert await shop.catalog.revision() == before
    assert await prices(CatalogCache(), await request(shop, CatalogCache()), ["TEE-M"]) == {
        "TEE-M": "19.90"}

    await shop.catalog.save_products([
        {"handle": "mug", "title": "Mug", "variants": [{"sku": "MUG-1"}]},
        {"handle": "cap", "title": "Cap", "variants": [{"sku": "CAP-1"}]}])
    assert await shop.catalog.revision() > before


async def test_a_request_older_than_the_cache_reads_the_database_and_stores_nothing(
        shop: Commerce) -> None:
    cache = CatalogCache()
    old = await request(shop, cache)
    assert await cache.product(old, handle="classic-tee")
    old_revision = old.loaders[REVISION]

    await shop.catalog.set_prices([{"sku": "TEE-M", "amount": {"amount": "12.00",
                                                               "currency": "EUR"}}])
    new = await request(shop, cache)
    fresh = await cache.product(new, handle="classic-tee")
    assert await prices(cache, new, ["TEE-M"]) == {"TEE-M": "12.00"}
    assert cache.revision == old_revision + 1

    # request A began before the write (it read the old revision) and asks only now
    late = await request(shop, cache)
    late.loaders[REVISION] = old_revision
    hits, misses = cache.hits, cache.misses
    with counting_statements(shop) as statements:
        product = await cache.product(late, handle="classic-tee")
        assert await prices(cache, late) == {"TEE-M": "12.00", "TEE-L": "19.90"}
        assert await cache.product(late, sku="TEE-L") == product
    assert product is not fresh and product == fresh  # read again, not the cached object
    assert cache.hits == hits and cache.misses == misses + 4
    assert count(statements, "counters") == 0  # the request's own revision is used
    assert count(statements, "products") == 2 and count(statements, "prices") == 1
    assert cache.revision == old_revision + 1  # neither emptied nor moved back

    # nothing it read was stored: a current request still misses what only it asked for
    current = await request(shop, cache)
    hits, misses = cache.hits, cache.misses
    with counting_statements(shop) as statements:
        assert await cache.product(current, handle="classic-tee") is fresh  # kept
        assert await cache.product(current, sku="TEE-L") == fresh
        assert await prices(cache, current) == {"TEE-M": "12.00", "TEE-L": "19.90"}
    assert cache.hits == hits + 2  # the handle and TEE-M, stored by the current request
    assert cache.misses == misses + 2  # the SKU key and TEE-L, asked only by the late one
    assert count(statements, "products") == 1 and count(statements, "prices") == 1


async def test_the_revision_is_read_once_per_request(shop: Commerce) -> None:
    cache = CatalogCache()
    for _ in range(2):  # a request of misses, then a request of hits
        context = await request(shop, cache)
        with counting_statements(shop) as statements:
            await cache.product(context, handle="classic-tee")
            await prices(cache, context)
            await cache.product(context, sku="TEE-M")
            await prices(cache, context, ["TEE-L"])
        assert count(statements, "counters") == 1, statements
    assert (cache.hits, cache.misses) == (1 + 5, 4)


async def test_the_oldest_entries_go_first(shop: Commerce) -> None:
    await shop.catalog.save_products([
        {"handle": h, "title": h.title(), "variants": [{"sku": f"{h.upper()}-1"}]}
        for h in ("mug", "cap")])
    cache = CatalogCache(max_products=2, max_prices=2)
    first = await request(shop, cache)
    for handle in ("classic-tee", "mug", "cap"):
        await cache.product(first, handle=handle)
    assert await prices(cache, first, ["TEE-M", "TEE-L"]) == {
        "TEE-M": "19.90", "TEE-L": "19.90"}
    await prices(cache, first, ["MUG-1"])  # no price, remembered: pushes TEE-M out
    assert cache.misses == 6

    second = await request(shop, cache)
    with counting_statements(shop) as statements:
        for handle in ("cap", "mug"):
            await cache.product(second, handle=handle)
        assert await prices(cache, second, ["TEE-L", "MUG-1"]) == {"TEE-L": "19.90"}
    assert (cache.hits, cache.misses) == (4, 6)
    assert count(statements, "products") == 0 and count(statements, "prices") == 0

    with counting_statements(shop) as statements:
        await cache.product(second, handle="classic-tee")  # evicted: read again
        assert await prices(cache, second, ["TEE-M"]) == {"TEE-M": "19.90"}
    assert (cache.hits, cache.misses) == (4, 8)
    assert count(statements, "products") == 1 and count(statements, "prices") == 1


async def test_a_sku_without_a_price_is_remembered_as_having_none(shop: Commerce) -> None:
    await shop.catalog.save_product({"handle": "mug", "title": "Mug",
                                     "variants": [{"sku": "MUG-1"}]})
    cache = CatalogCache()
    first = await request(shop, cache)
    assert await prices(cache, first, ["MUG-1", "TEE-M"]) == {"TEE-M": "19.90"}
    assert cache.misses == 2

    second = await request(shop, cache)
    with counting_statements(shop) as statements:
        assert await prices(cache, second, ["MUG-1", "TEE-M"]) == {"TEE-M": "19.90"}
        assert await prices(cache, second, ["MUG-1"]) == {}
    assert count(statements, "prices") == 0, statements
    assert (cache.hits, cache.misses) == (3, 2)

    # a price set later moves the revision: the next request finds it
    await shop.catalog.set_prices([{"sku": "MUG-1", "amount": {"amount": "8.00",
                                                               "currency": "EUR"}}])
    assert await prices(cache, await request(shop, cache), ["MUG-1"]) == {"MUG-1": "8.00"}


async def test_prices_are_per_channel_and_currency(shop: Commerce) -> None:
    await shop.channels.save({"code": "shop-uk", "name": "UK", "kind": "web",
                              "currency": "GBP", "locations": [{"location": "wh"}]})
    await shop.catalog.set_prices([
        {"sku": "TEE-M", "amount": {"amount": "17.00", "currency": "GBP"}},
        {"sku": "TEE-M", "amount": {"amount": "18.00", "currency": "EUR"}, "channel": "web"}])
    cache = CatalogCache()
    context = await request(shop, cache)
    assert await prices(cache, context, ["TEE-M"]) == {"TEE-M": "18.00"}
    uk = await cache.prices_for(context, ["TEE-M"], currency="GBP", channel="shop-uk")
    assert uk["TEE-M"].amount.currency == "GBP"
    assert str(uk["TEE-M"].amount.amount) == "17.00"
    assert cache.misses == 2 and cache.hits == 0  # not one another's entry


async def test_an_unknown_handle_is_not_cached(shop: Commerce) -> None:
    cache = CatalogCache()
    for _ in range(2):
        context = await request(shop, cache)
        with counting_statements(shop) as statements, pytest.raises(NotFound):
            await cache.product(context, handle="later")
        assert count(statements, "products") == 1  # asked the database each time
    with pytest.raises(NotFound):
        await cache.product(context, sku="LATER-1")
    assert (cache.hits, cache.misses) == (0, 3)

    await shop.catalog.save_product({"handle": "later", "title": "Later",
                                     "variants": [{"sku": "LATER-1"}]})
    context = await request(shop, cache)
    assert (await cache.product(context, handle="later")).title == "Later"
    assert (await cache.product(context, sku="LATER-1")).handle == "later"


async def test_the_price_loader_reads_through_the_cache(shop: Commerce) -> None:
    cache = CatalogCache()
    context = RequestContext(commerce=shop, catalog_cache=cache)
    with pytest.raises(Forbidden):
        await loaders.price(context, "TEE-M")
    context = await request(shop, cache)
    found: Any = await loaders.price(context, "TEE-M")
    assert str(found.amount.amount) == "19.90"
    assert cache.misses == 1  # the loader's batch went through the cache
    assert await loaders.price(await request(shop, cache), "TEE-M") == found
    assert cache.hits == 1
