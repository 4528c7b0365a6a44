"""Never oversell, under real concurrency: many OS processes race on one database.

Each worker (``tests/helpers/stock_race_worker.py``) is a separate Python process
with its own ``Commerce`` and connection pool. Workers report ``ready`` and block
until the test releases all of them at once, then fire their calls concurrently.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.stock_world import build_world, held_units, invariant_violations, snapshot

from omnicore import Commerce

WORKER = Path(__file__).parents[1] / "helpers" / "stock_race_worker.py"
HANG_GUARD_SECONDS = 240  # a hang (deadlock, lost lock) fails the test; not a speed limit


async def race(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Start one process per config, release them together, collect their reports."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), json.dumps(cfg),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for cfg in configs
    ]
    try:
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            for proc in procs:  # the barrier: every worker connected and waiting
                assert proc.stdout is not None
                line = await proc.stdout.readline()
                if line != b"ready\n":
                    _, err = await proc.communicate()
                    pytest.fail(f"worker failed to start: {line!r} {err.decode()[-2000:]}")
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write(b"go\n")
            await asyncio.gather(*(p.stdin.drain() for p in procs if p.stdin))
            outputs = await asyncio.gather(*(p.communicate() for p in procs))
    except TimeoutError:
        pytest.fail(f"workers still running after {HANG_GUARD_SECONDS} s: deadlock or hang")
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    reports = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-3000:]
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    return reports


def total(reports: list[dict[str, Any]]) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for report in reports:
        outcomes.update(report["outcomes"])
    return outcomes


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[tuple[str, Commerce]]:
    async with Commerce.open(postgres_url, dispatch=False, load_entry_points=False,
                             auto_migrate=True) as commerce:
        await build_world(commerce, skus=("TEE-M", "A", "B"))
        yield postgres_url, commerce


@pytest.fixture
async def sqlite_file(sqlite_url: str) -> AsyncIterator[tuple[str, Commerce]]:
    async with Commerce.open(sqlite_url, dispatch=False, load_entry_points=False,
                             auto_migrate=True) as commerce:
        await build_world(commerce, skus=("TEE-M", "A", "B"))
        yield sqlite_url, commerce


async def fifty_available(commerce: Commerce) -> None:
    """50 units for the web shop: 30 of 33 at the warehouse (3 kept back), 20 in the store."""
    await commerce.stock.receive("TEE-M", "wh", 33, source="erp")
    await commerce.stock.set_safety_stock("TEE-M", "wh", 3)
    await commerce.stock.receive("TEE-M", "paris-1", 20, source="erp")
    assert (await commerce.stock.availability("TEE-M", channel="web")).total == 50


async def check_exactly_fifty_held(commerce: Commerce, reports: list[dict[str, Any]],
                                   attempts: int) -> None:
    before_on_hand = {("TEE-M", "wh"): 33, ("TEE-M", "paris-1"): 20}
    outcomes = total(reports)
    assert [u for r in reports for u in r["unexpected"]] == []
    assert outcomes == {"hold:ok": 50, "hold:OutOfStock": attempts - 50}
    hold_ids = [h for r in reports for h in r["hold_ids"]]
    assert len(set(hold_ids)) == 50
    levels = {
        (lv.sku, lv.location): lv
        for lv in [await commerce.stock.level("TEE-M", w) for w in ("wh", "paris-1")]
    }
    assert {k: lv.on_hand for k, lv in levels.items()} == before_on_hand  # holds move nothing
    assert sum(lv.reserved for lv in levels.values()) == 50
    assert (levels[("TEE-M", "wh")].reserved, levels[("TEE-M", "paris-1")].reserved) == (30, 20)
    assert (await commerce.stock.availability("TEE-M", channel="web")).total == 0
    async with commerce.db.read() as conn:
        assert await held_units(conn, "TEE-M") == 50
        assert await invariant_violations(conn, commerce.clock()) == []
    assert sum([(await commerce.stock.get_hold(h)).quantity for h in hold_ids]) == 50


@pytest.mark.postgres
async def test_200_concurrent_holds_on_postgres_take_exactly_the_50_units(
    pg: tuple[str, Commerce], pool_size_for: Callable[[str, int, int], int],
) -> None:
    url, commerce = pg
    await fifty_available(commerce)
    reports = await race([
        {"url": url, "mode": "hold", "sku": "TEE-M", "channel": "web", "tasks": 25,
         "pool_size": pool_size_for(url, 8, 3)}
        for _ in range(8)
    ])
    await check_exactly_fifty_held(commerce, reports, attempts=200)


async def test_100_concurrent_holds_on_one_sqlite_file_take_exactly_the_50_units(
    sqlite_file: tuple[str, Commerce],
) -> None:
    url, commerce = sqlite_file
    await fifty_available(commerce)
    reports = await race([
        {"url": url, "mode": "hold", "sku": "TEE-M", "channel": "web", "tasks": 25}
        for _ in range(4)
    ])
    await check_exactly_fifty_held(commerce, reports, attempts=100)


@pytest.mark.postgres
async def test_opposite_order_holds_counts_and_releases_never_deadlock(
    pg: tuple[str, Commerce], pool_size_for: Callable[[str, int, int], int],
) -> None:
    """hold(A)+hold(B) against hold(B)+hold(A), with counts that revoke holds, releases,
    consumes, sweeps and 1-second holds expiring, from many processes at once: every call
    ends (no deadlock error, no hang) and §4's invariant holds afterwards."""
    url, commerce = pg
    places = ["wh", "paris-1"]
    for sku in ("A", "B"):
        for where in places:
            await commerce.stock.receive(sku, where, 10, source="erp")
    reports = await race([
        {"url": url, "mode": "mixed", "skus": ["A", "B"], "locations": places, "tasks": 4,
         "rounds": 6, "seed": n, "pool_size": pool_size_for(url, 4, 3)}
        for n in range(4)
    ])
    outcomes = total(reports)
    assert [u for r in reports for u in r["unexpected"]] == []
    # The race did exercise every path, with real contention.
    for call in ("hold", "count", "release", "consume", "sweep", "receive"):
        assert outcomes[f"{call}:ok"] > 0, outcomes
    assert outcomes["hold:OutOfStock"] > 0, outcomes
    async with commerce.db.read() as conn:
        assert await invariant_violations(conn, dt.datetime.now(dt.UTC)) == []
    # Everything the workers did is in the ledger; sweeping afterwards keeps it consistent.
    await commerce.stock.sweep()
    async with commerce.db.read() as conn:
        assert await invariant_violations(conn, dt.datetime.now(dt.UTC)) == []
    snap = await snapshot(commerce)
    assert all(on_hand >= 0 for _, _, on_hand, _, _ in snap["levels"])
