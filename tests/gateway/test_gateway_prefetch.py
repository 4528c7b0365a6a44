"""DataLoader ``peek`` and ``fill``, and ``prefetch_variants`` (a parent loads ahead).

The DataLoader on its own, then the request's price and availability loaders on
a SQLite file and on PostgreSQL, statements counted with ``counting_statements``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from omnicore import Commerce
from omnicore.gateway import loaders
from omnicore.gateway.catalog_cache import CatalogCache
from omnicore.gateway.context import RequestContext
from omnicore.gateway.loaders import MISSING, DataLoader
from omnicore.testing import counting_statements, seed_minimal

# -- the DataLoader -------------------------------------------------------------------------


async def test_peek_is_missing_until_loaded_then_the_value() -> None:
    release = asyncio.Event()

    async def batch(keys: list[str]) -> dict[str, int]:
        await release.wait()
        return {key: len(key) for key in keys if key != "none"}

    loader: DataLoader[str, int] = DataLoader(batch)
    assert loader.peek("abc") is MISSING  # never asked
    pending = [loader.load("abc"), loader.load("none")]
    assert loader.peek("abc") is MISSING  # asked, not loaded yet
    await asyncio.sleep(0)  # the dispatch runs: the batch waits for ``release``
    assert loader.peek("abc") is MISSING
    release.set()
    assert await asyncio.gather(*pending) == [3, None]
    assert loader.peek("abc") == 3
    assert loader.peek("none") is None  # loaded, and absent from the answer: not MISSING
    assert loader.peek("other") is MISSING


async def test_peek_after_a_failed_or_cancelled_load_is_missing() -> None:
    async def failing(keys: list[str]) -> dict[str, int]:
        raise LookupError("down")

    loader: DataLoader[str, int] = DataLoader(failing)
    with pytest.raises(LookupError):
        await loader.load("a")
    assert loader.peek("a") is MISSING

    release = asyncio.Event()
    done = asyncio.Event()

    async def slow(keys: list[str]) -> dict[str, int]:
        await release.wait()
        done.set()
        return {key: 1 for key in keys}

    loader = DataLoader(slow)
    future = loader.load("b")
    await asyncio.sleep(0)  # the batch has started
    future.cancel()
    release.set()
    await done.wait()
    await asyncio.sleep(0)  # the batch's results are set (on the keys not done)
    assert loader.peek("b") is MISSING
    assert loader.batches == 1


async def test_fill_runs_one_batch_now_and_primes_every_key() -> None:
    calls: list[list[int]] = []

    async def batch(keys: list[int]) -> dict[int, str]:
        calls.append(list(keys))
        return {key: f"v{key}" for key in keys if key != 3}

    loader: DataLoader[int, str] = DataLoader(batch)
    loader.prime(9, "primed")
    await loader.fill([1, 2, 3])
    assert calls == [[1, 2, 3]] and loader.batches == 1
    assert [loader.peek(k) for k in (1, 2, 3)] == ["v1", "v2", None]
    # loaded: no batch, no event-loop round
    assert await loader.load_many([1, 2, 3, 9]) == ["v1", "v2", None, "primed"]
    assert calls == [[1, 2, 3]] and loader.batches == 1

    await loader.fill([9])  # a primed value is kept over the batch's
    assert calls[-1] == [9] and loader.batches == 2
    assert loader.peek(9) == "primed"


# -- prefetch_variants ----------------------------------------------------------------------


@pytest.fixture
async def shop(commerce: Commerce) -> Commerce:
    await seed_minimal(commerce, on_hand=4)
    return commerce


async def request(commerce: Commerce, *, cache: CatalogCache | None = None) -> RequestContext:
    return RequestContext(commerce=commerce, channel=await commerce.channels.get("web"),
                          catalog_cache=cache)


@pytest.fixture
def asked(shop: Commerce, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The SKUs of each ``catalog.prices_for`` call the price loader makes."""
    calls: list[list[str]] = []
    prices_for = shop.catalog.prices_for

    async def spy(skus: Sequence[str], **kwargs: Any) -> Any:
        calls.append(list(skus))
        return await prices_for(skus, **kwargs)

    monkeypatch.setattr(shop.catalog, "prices_for", spy)
    return calls


def reads(statements: list[str], what: str) -> int:
    return sum(what in statement for statement in statements)


PRICES, STOCK = "FROM prices", "JOIN stock_levels"


async def test_prefetch_prices_only(shop: Commerce, asked: list[list[str]]) -> None:
    context = await request(shop)
    assert loaders.peek(context, "price", "TEE-M") is MISSING
    with counting_statements(shop) as statements:
        await loaders.prefetch_variants(context, ["TEE-M", "TEE-L", "TEE-M"],
                                        prices=True, stock=False)
    assert reads(statements, PRICES) == 1 and reads(statements, STOCK) == 0
    assert asked == [["TEE-M", "TEE-L"]]  # each SKU once
    assert context.loaders["loaders.price"].batches == 1
    assert "loaders.availability" not in context.loaders  # not even made
    price = loaders.peek(context, "price", "TEE-M")
    assert price is not MISSING and str(price.amount.amount) == "19.90"
    assert loaders.peek(context, "availability", "TEE-M") is MISSING

    with counting_statements(shop) as statements:  # loaded already: nothing read again
        await loaders.prefetch_variants(context, ["TEE-L", "TEE-M"], prices=True, stock=False)
        assert await loaders.price(context, "TEE-L") is loaders.peek(context, "price", "TEE-L")
    assert statements == []
    assert context.loaders["loaders.price"].batches == 1


async def test_prefetch_stock_only(shop: Commerce) -> None:
    context = await request(shop)
    with counting_statements(shop) as statements:
        await loaders.prefetch_variants(context, ["TEE-M", "TEE-L"], prices=False, stock=True)
    assert reads(statements, STOCK) == 1 and reads(statements, PRICES) == 0
    assert "loaders.price" not in context.loaders
    assert context.loaders["loaders.availability"].batches == 1
    stock = loaders.peek(context, "availability", "TEE-M")
    assert stock is not MISSING and (stock.sku, stock.total) == ("TEE-M", 4)
    assert loaders.peek(context, "availability", "TEE-L").total == 0
    assert loaders.peek(context, "price", "TEE-M") is MISSING
    # availability is what the service answers
    assert stock == (await shop.stock.availability_many(["TEE-M"], channel="web"))["TEE-M"]


async def test_prefetch_both_reads_only_what_is_missing(
        shop: Commerce, asked: list[list[str]]) -> None:
    context = await request(shop)
    assert await loaders.price(context, "TEE-M") is not None  # loaded by a resolver before
    with counting_statements(shop) as statements:
        await loaders.prefetch_variants(context, ["TEE-M", "TEE-L", "NO-SUCH"],
                                        prices=True, stock=True)
    assert reads(statements, PRICES) == 1 and reads(statements, STOCK) == 1
    assert asked == [["TEE-M"], ["TEE-L", "NO-SUCH"]]
    assert context.loaders["loaders.price"].batches == 2
    assert loaders.peek(context, "price", "NO-SUCH") is None  # no price: None, not MISSING
    assert loaders.peek(context, "availability", "NO-SUCH").total == 0

    with counting_statements(shop) as statements:
        await loaders.prefetch_variants(context, ["TEE-L", "NO-SUCH"], prices=True, stock=True)
        await loaders.prefetch_variants(context, [], prices=True, stock=True)
    assert statements == []


async def test_prefetch_of_prices_goes_through_the_catalog_cache(shop: Commerce) -> None:
    cache = CatalogCache()
    await loaders.prefetch_variants(await request(shop, cache=cache), ["TEE-M", "TEE-L"],
                                    prices=True, stock=False)
    assert cache.misses == 2
    context = await request(shop, cache=cache)
    with counting_statements(shop) as statements:
        await loaders.prefetch_variants(context, ["TEE-M", "TEE-L"], prices=True, stock=False)
    assert cache.hits == 2 and reads(statements, PRICES) == 0
    assert str(loaders.peek(context, "price", "TEE-L").amount.amount) == "19.90"
