"""Identities stay unique, and merges stay sane, when several processes race.

Two ``Commerce`` instances (two engines, two connection pools) share one
database, as two gateway processes would. On PostgreSQL a barrier makes both
transactions pass the "is this e-mail taken?" check before either inserts, so
the UNIQUE constraint — not luck — has to decide.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import func, select

from omnicore import Commerce, Conflict
from omnicore.customers import Customer, CustomerMerge
from omnicore.customers import _identity as customer_identity
from omnicore.store.tables import customer_identities, customers


async def open_pair(url: str) -> tuple[Commerce, Commerce]:
    first = await Commerce.open(url, dispatch=False, load_entry_points=False, auto_migrate=True)
    second = await Commerce.open(url, dispatch=False, load_entry_points=False, auto_migrate=True)
    return first, second


@pytest.fixture
async def pair(db_url: str) -> AsyncIterator[tuple[Commerce, Commerce]]:
    first, second = await open_pair(db_url)
    yield first, second
    await first.close()
    await second.close()


@pytest.fixture
async def pg_pair(postgres_url: str) -> AsyncIterator[tuple[Commerce, Commerce]]:
    first, second = await open_pair(postgres_url)
    yield first, second
    await first.close()
    await second.close()


@pytest.fixture
def both_check_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold every identity check until two transactions have made it (PostgreSQL only:
    SQLite's write lock would keep the second transaction from even starting)."""
    barrier = asyncio.Barrier(2)
    real = customer_identity.owner_of

    async def owner_of(*args: Any) -> str | None:
        found = await real(*args)
        await asyncio.wait_for(barrier.wait(), timeout=20)
        return found

    monkeypatch.setattr(customer_identity, "owner_of", owner_of)


async def count(commerce: Commerce, table: Any) -> int:
    async with commerce.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


def split(results: Sequence[Any]) -> tuple[list[Customer], list[BaseException]]:
    won = [r for r in results if isinstance(r, Customer)]
    lost = [r for r in results if isinstance(r, BaseException)]
    return won, lost


async def test_two_signups_with_one_email_make_one_customer(
    pair: tuple[Commerce, Commerce]
) -> None:
    first, second = pair
    for round_ in range(6):
        results = await asyncio.gather(
            first.customers.create(email=f"racer{round_}@example.com"),
            second.customers.create(email=f"Racer{round_}@Example.com"),
            return_exceptions=True,
        )
        won, lost = split(results)
        assert len(won) == 1 and len(lost) == 1, results
        assert isinstance(lost[0], Conflict) and lost[0].field == "email"
    assert await count(first, customers) == 6
    assert await count(first, customer_identities) == 6


@pytest.mark.postgres
@pytest.mark.usefixtures("both_check_first")
async def test_the_unique_constraint_decides_when_both_checks_passed(
    pg_pair: tuple[Commerce, Commerce]
) -> None:
    first, second = pg_pair
    results = await asyncio.gather(
        first.customers.create(email="same@example.com", first_name="One"),
        second.customers.create(email="same@example.com", first_name="Two"),
        return_exceptions=True,
    )
    won, lost = split(results)
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], Conflict) and lost[0].field == "email"
    assert await count(first, customers) == 1  # the loser's profile row was rolled back
    assert (await first.customers.find("email", "same@example.com")).id == won[0].id


@pytest.mark.postgres
@pytest.mark.usefixtures("both_check_first")
async def test_racing_imports_of_one_buyer_find_one_customer(
    pg_pair: tuple[Commerce, Commerce]
) -> None:
    first, second = pg_pair
    results = await asyncio.gather(
        first.customers.find_or_create_by_identity("external", "BUYER-1", source="amazon"),
        second.customers.find_or_create_by_identity("external", "BUYER-1", source="amazon"),
    )
    assert results[0].id == results[1].id  # the loser retried and found the winner's
    assert await count(first, customers) == 1


async def test_crossing_merges_do_not_both_win(pair: tuple[Commerce, Commerce]) -> None:
    first, second = pair
    for round_ in range(4):
        a = await first.customers.create(email=f"a{round_}@example.com")
        b = await first.customers.create(email=f"b{round_}@example.com")
        results = await asyncio.gather(
            first.customers.merge(a.id, b.id, actor="job-1"),
            second.customers.merge(b.id, a.id, actor="job-2"),
            return_exceptions=True,
        )
        done = [r for r in results if isinstance(r, CustomerMerge)]
        refused = [r for r in results if isinstance(r, Conflict)]
        assert len(done) == 1 and len(refused) == 1, results
        survivor = done[0].survivor_id
        assert (await second.customers.get(a.id)).id == survivor
        assert (await second.customers.get(b.id)).id == survivor
        assert len((await second.customers.get(survivor)).identities) == 2
