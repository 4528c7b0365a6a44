"""Carts under concurrency: several processes (``Commerce`` instances) on one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers.cart_world import build_world, held
from helpers.stock_world import invariant_violations

from omnicore import Commerce
from omnicore.carts import Cart
from omnicore.carts import _transaction as cart_transaction
from omnicore.errors import Conflict, OutOfStock
from omnicore.testing import FakeClock


@pytest.fixture
async def pair(db_url: str, clock: FakeClock) -> AsyncIterator[tuple[Commerce, Commerce]]:
    first = await Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False)
    second = await Commerce.open(db_url, clock=clock, dispatch=False, load_entry_points=False)
    await build_world(first)
    yield first, second
    await first.close()
    await second.close()


@pytest.mark.postgres
async def test_both_transactions_read_the_version_before_either_writes(
    postgres_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A barrier holds both changes inside their transactions until both are there: the
    conditional UPDATE, re-checked under the row lock, must let exactly one through."""
    first = await Commerce.open(postgres_url, clock=clock, dispatch=False,
                                load_entry_points=False)
    second = await Commerce.open(postgres_url, clock=clock, dispatch=False,
                                 load_entry_points=False)
    try:
        await build_world(first)
        cart = await first.carts.create("web")
        barrier = asyncio.Barrier(2)
        real = cart_transaction.claim

        async def claim(*args: Any, **kwargs: Any) -> Any:
            await asyncio.wait_for(barrier.wait(), timeout=20)
            return await real(*args, **kwargs)

        monkeypatch.setattr(cart_transaction, "claim", claim)
        results = await asyncio.gather(
            first.carts.add_lines(cart.id, [{"sku": "TEE-M", "quantity": 2}], version=1),
            second.carts.add_lines(cart.id, [{"sku": "TEE-L", "quantity": 3}], version=1),
            return_exceptions=True,
        )
        won = [r for r in results if isinstance(r, Cart)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1 and len(lost) == 1, results
        assert isinstance(lost[0], Conflict) and lost[0].field == "version"
        final = await first.carts.get(cart.id)
        assert final.version == 2 and final.lines == won[0].lines
        sku = final.lines[0].sku
        other = "TEE-L" if sku == "TEE-M" else "TEE-M"
        assert await held(first, sku, "wh") == final.lines[0].quantity
        assert await held(first, other, "wh") == 0  # the loser's hold rolled back with it
    finally:
        await first.close()
        await second.close()


async def test_carts_racing_for_the_last_units_never_oversell(
    pair: tuple[Commerce, Commerce], clock: FakeClock
) -> None:
    first, second = pair
    shoppers = [await (first if i % 2 else second).carts.create("web") for i in range(10)]
    results = await asyncio.gather(*(
        (first if i % 2 else second).carts.add_lines(
            cart.id, [{"sku": "TEE-M", "quantity": 2}, {"sku": "TEE-L", "quantity": 1}],
            version=1)
        for i, cart in enumerate(shoppers)
    ), return_exceptions=True)
    won = [r for r in results if isinstance(r, Cart)]
    refused = [r for r in results if isinstance(r, OutOfStock)]
    # The web sells 13 TEE-M (wh + paris-1) and 6 TEE-L: 6 carts get both.
    assert (len(won), len(refused)) == (6, 4), results
    assert all(line.held for cart in won for line in cart.lines)
    for cart, result in zip(shoppers, results, strict=True):
        if isinstance(result, OutOfStock):
            assert (await first.carts.get(cart.id)).lines == []
    assert (await first.stock.availability("TEE-L", channel="web")).total == 0
    async with first.db.read() as conn:
        assert await invariant_violations(conn, clock.now) == []


async def test_two_anonymous_carts_signing_in_at_once_end_as_one(
    pair: tuple[Commerce, Commerce]
) -> None:
    first, second = pair
    jean = await first.customers.create(email="jean@example.com")
    laptop = await first.carts.create("web")
    laptop = await first.carts.add_lines(laptop.id, [{"sku": "TEE-M", "quantity": 1}],
                                         version=1)
    phone = await second.carts.create("app")
    phone = await second.carts.add_lines(phone.id, [{"sku": "TEE-M", "quantity": 2}], version=1)
    results = await asyncio.gather(
        first.carts.attach_customer(laptop.id, jean.id, version=2),
        second.carts.attach_customer(phone.id, jean.id, version=2),
    )
    # The first to commit is attached; the other merges into it.
    assert results[0].id == results[1].id and results[0].id in (laptop.id, phone.id)
    survivor = await first.carts.open_cart_for(jean.id)
    assert survivor is not None and survivor.lines[0].quantity == 3
    assert (await first.carts.get(laptop.id)).id == (await first.carts.get(phone.id)).id
