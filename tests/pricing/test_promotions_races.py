"""Usage limits hold under real concurrency: many ``Commerce`` instances redeem at once.

Each instance has its own engine and connection pool, so the database sees as
many concurrent transactions as the pools allow (PostgreSQL: row locks and
conditional UPDATEs; SQLite: the write lock). The limits must hold exactly.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import func, select

from omnicore import Commerce, Conflict
from omnicore.store.tables import promotion_codes, promotion_redemptions
from omnicore.testing import FakeClock

INSTANCES = 4
HANG_GUARD_SECONDS = 240  # a deadlock fails the test; this is not a speed limit


@pytest.fixture
async def instances(
    db_url: str, clock: FakeClock, pool_size_for: Callable[[str, int, int], int]
) -> AsyncIterator[list[Commerce]]:
    opened: list[Commerce] = []
    try:
        for _ in range(INSTANCES):
            opened.append(await Commerce.open(
                db_url, dispatch=False, load_entry_points=False, clock=clock, auto_migrate=True,
                config={"database": {"pool_size": pool_size_for(db_url, INSTANCES, 5)}}))
        yield opened
    finally:
        for commerce in opened:
            await commerce.close()


async def attempt(commerce: Commerce, promotion_id: str, code: str | None, order_ref: str,
                  customer_id: str | None = None) -> str:
    try:
        await commerce.promotions.redeem([(promotion_id, code)], order_ref=order_ref,
                                         customer_id=customer_id)
    except Conflict:
        return "conflict"
    return "ok"


async def race(instances: list[Commerce], calls: list[tuple[str, str | None, str, str | None]]
               ) -> Counter[str]:
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        outcomes = await asyncio.gather(*(
            attempt(instances[i % len(instances)], *call) for i, call in enumerate(calls)))
    return Counter(outcomes)


async def redemption_rows(commerce: Commerce, promotion_id: str) -> Counter[str | None]:
    async with commerce.db.read() as conn:
        rows = await conn.execute(
            select(promotion_redemptions.c.customer_id, func.count())
            .where(promotion_redemptions.c.promotion_id == promotion_id)
            .group_by(promotion_redemptions.c.customer_id))
        return Counter({customer: int(count) for customer, count in rows})


async def test_a_usage_limit_of_100_holds_against_200_concurrent_redemptions(
    instances: list[Commerce],
) -> None:
    promotion = await instances[0].promotions.create({
        "name": "first 100", "kind": "percent_off", "percent": "20", "usage_limit": 100})
    assert promotion.id
    outcomes = await race(instances, [(promotion.id, None, f"order-{n}", None)
                                      for n in range(200)])
    assert outcomes == {"ok": 100, "conflict": 100}
    assert (await instances[1].promotions.get(promotion.id)).times_used == 100
    assert await redemption_rows(instances[2], promotion.id) == {None: 100}


async def test_a_per_customer_limit_holds_under_concurrency(instances: list[Commerce]) -> None:
    promotion = await instances[0].promotions.create({
        "name": "five each", "kind": "percent_off", "percent": "20", "per_customer_limit": 5})
    assert promotion.id
    calls = [(promotion.id, None, f"order-{n}", f"cus_{n % 2}") for n in range(200)]
    outcomes = await race(instances, calls)
    assert outcomes == {"ok": 10, "conflict": 190}
    assert (await instances[1].promotions.get(promotion.id)).times_used == 10
    assert await redemption_rows(instances[2], promotion.id) == {"cus_0": 5, "cus_1": 5}


async def test_a_per_code_limit_holds_under_concurrency(instances: list[Commerce]) -> None:
    promotion = await instances[0].promotions.create({
        "name": "coded", "kind": "percent_off", "percent": "20", "automatic": False,
        "usage_limit": 1000})
    assert promotion.id
    await instances[0].promotions.add_codes(promotion.id, ["THIRTY"], usage_limit=30)
    outcomes = await race(instances, [(promotion.id, "THIRTY", f"order-{n}", None)
                                      for n in range(100)])
    assert outcomes == {"ok": 30, "conflict": 70}
    async with instances[3].db.read() as conn:
        used = (await conn.execute(select(promotion_codes.c.times_used)
                                   .where(promotion_codes.c.code == "THIRTY"))).scalar_one()
    assert used == 30
    assert (await instances[1].promotions.get(promotion.id)).times_used == 30


async def test_one_order_redeemed_concurrently_counts_once(instances: list[Commerce]) -> None:
    promotion = await instances[0].promotions.create({
        "name": "once", "kind": "percent_off", "percent": "20", "usage_limit": 10})
    assert promotion.id
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        results = await asyncio.gather(*(
            instances[n % INSTANCES].promotions.redeem(
                [(promotion.id, None)], order_ref="order-1", customer_id="cus_1")
            for n in range(40)))
    assert len({tuple(r) for r in results}) == 1
    assert (await instances[1].promotions.get(promotion.id)).times_used == 1
    assert await redemption_rows(instances[2], promotion.id) == {"cus_1": 1}
