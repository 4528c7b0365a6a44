"""Stock reads: the store locator over 2,000 stores, and bulk availability of 200 SKUs.

Untimed set-up, through the public API only (``locations.save``,
``channels.save``, ``catalog.save_products``, ``stock.set_levels``), on a fresh
SQLite file and a fresh PostgreSQL database (``omnicore_bench_*``, dropped
afterwards):

- a warehouse and ``--reads-stores`` stores (2,000) at random positions within 30 km
  of Paris (uniform over the disc, fixed seed), each with weekly opening hours
  (Mon-Sat, some also on Sunday morning), the ``pickup`` capability, Europe/Paris;
- channel ``stores`` selling from every store (buffer 0 or 1), channel ``web``
  selling from the warehouse and the first 10 stores;
- ``--reads-skus`` SKUs (200, products of 5 variants): ``LOOK-0`` is stocked in every
  store (0-12 units, a fifth of the stores at 0), every SKU in the warehouse and
  the 10 web stores.

Timed, each call alone (one task, ``time.perf_counter`` around the ``await``),
after ``--reads-warmup`` untimed calls:

- ``nearby(["LOOK-0"], near=<random point within 10 km of Paris>, channel="stores",
  radius_km=R, limit=10)`` for R = 25 (the default) and 5 km;
- for comparison, the locator alone: ``omnicore.stock.nearby`` given the
  channel's code in a read transaction (radius 25 km), i.e. ``nearby`` without
  ``channels.get_channel`` building the 2,000-location ``Channel`` first;
- ``availability_many(<all SKUs>, channel="web")``; and, for comparison, the
  same call on the 2,000-store channel (fewer calls: it builds 200 x 2,000
  per-location answers).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.report import Report, Table, percentile, run_alone, verdict
from bench.stock_holds import add_postgres_url, database, postgres_problem

NAME = "stock_reads"
TARGET_NEARBY_P50_MS = 20.0
TARGET_AVAILABILITY_P50_MS = 30.0
PARIS = (48.8566, 2.3522)
KM_PER_DEGREE = 111.32
STORES_RADIUS_KM = 30.0
QUERY_RADIUS_KM = 10.0
WEB_STORES = 10
LOOK_SKU = "LOOK-0"
SIZES = ["XS", "S", "M", "L", "XL"]
CALL_TIMEOUT_S = 60.0
SEED = 20260302


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--reads-stores", dest="reads_stores", type=int, default=2000,
                       help="stores around Paris (2000)")
    group.add_argument("--reads-skus", dest="reads_skus", type=int, default=200,
                       help="SKUs asked of availability_many (200)")
    group.add_argument("--reads-calls", dest="read_calls", type=int, default=200,
                       help="timed calls per figure (200)")
    group.add_argument("--reads-warmup", dest="read_warmup", type=int, default=10,
                       help="untimed calls first (10)")
    group.add_argument("--reads-wide-calls", dest="wide_calls", type=int, default=10,
                       help="timed calls of availability_many on the 2,000-store channel (10)")
    group.add_argument("--reads-backends", dest="read_backends", default="sqlite,postgresql",
                       help="databases to run (sqlite,postgresql)")
    add_postgres_url(group)


# -- set-up (untimed) ------------------------------------------------------------------------


def _around(rng: random.Random, center: tuple[float, float], radius_km: float) -> dict[str, float]:
    """A point uniform over the disc of ``radius_km`` around ``center``."""
    distance = radius_km * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    lat = center[0] + distance * math.cos(bearing) / KM_PER_DEGREE
    lng = center[1] + distance * math.sin(bearing) / (
        KM_PER_DEGREE * math.cos(math.radians(center[0])))
    return {"lat": round(lat, 6), "lng": round(lng, 6)}


def _hours(rng: random.Random) -> dict[str, Any]:
    opens, closes = rng.choice([("09:00", "19:00"), ("10:00", "19:30"), ("10:00", "20:00")])
    weekly: dict[str, list[dict[str, str]]] = {
        day: [{"open": opens, "close": closes}] for day in ("mon", "tue", "wed", "thu", "fri",
                                                            "sat")}
    if rng.random() < 0.3:
        weekly["sun"] = [{"open": "10:00", "close": "13:00"}]
    return {"weekly": weekly}


def _store_code(i: int) -> str:
    return f"store-{i:04d}"


async def seed(url: str, stores: int, skus: int) -> list[str]:
    """Create the data described in the module docstring; returns the SKUs."""
    from omnicore import Commerce

    rng = random.Random(SEED)
    codes = [_store_code(i) for i in range(stores)]
    async with Commerce.open(url, load_entry_points=False, dispatch=False,
                             auto_migrate=True) as commerce:
        await commerce.locations.save({
            "code": "wh", "name": "Central warehouse", "kind": "warehouse",
            "address": {"line1": "5 avenue du Port", "city": "Aubervilliers",
                        "postal_code": "93300", "country": "FR"},
            "geo": {"lat": 48.91, "lng": 2.38}, "timezone": "Europe/Paris",
            "capabilities": ["ship"], "priority": 10,
        })
        for i, code in enumerate(codes):
            await commerce.locations.save({
                "code": code, "name": f"Store {i}", "kind": "store",
                "address": {"line1": f"{i + 1} rue du Commerce", "city": "Paris",
                            "postal_code": "75015", "country": "FR"},
                "geo": _around(rng, PARIS, STORES_RADIUS_KM), "timezone": "Europe/Paris",
                "hours": _hours(rng), "capabilities": ["pickup", "ship_from_store"],
                "priority": 50,
            })
        await commerce.channels.save({
            "code": "stores", "name": "Store locator", "kind": "web", "currency": "EUR",
            "locations": [{"location": code, "priority": 1, "buffer": rng.choice([0, 0, 0, 1])}
                          for code in codes],
        })
        web = codes[:WEB_STORES]
        await commerce.channels.save({
            "code": "web", "name": "Web shop", "kind": "web", "currency": "EUR",
            "locations": [{"location": "wh", "priority": 0}]
            + [{"location": code, "priority": 1} for code in web],
        })
        all_skus = [LOOK_SKU] + [f"SKU-{i // 5:03d}-{SIZES[i % 5]}" for i in range(1, skus)]
        products = [{"handle": "look", "title": "Look", "variants": [
            {"sku": LOOK_SKU, "title": "One size"}]}]
        for start in range(1, skus, 5):
            products.append({
                "handle": f"product-{start // 5:03d}", "title": f"Product {start // 5}",
                "variants": [{"sku": sku, "title": sku.rsplit("-", 1)[1]}
                             for sku in all_skus[start:start + 5]],
            })
        await commerce.catalog.save_products(products)
        levels: list[dict[str, Any]] = [
            {"sku": LOOK_SKU, "location": code,
             "on_hand": 0 if rng.random() < 0.2 else rng.randint(1, 12),
             "safety_stock": rng.choice([0, 0, 1])}
            for code in codes
        ]
        levels += [{"sku": sku, "location": code, "on_hand": rng.randint(0, 50)}
                   for sku in all_skus[1:] for code in ["wh", *web]]
        levels.append({"sku": LOOK_SKU, "location": "wh", "on_hand": 500})
        for start in range(0, len(levels), 2000):
            await commerce.stock.set_levels(levels[start:start + 2000], source="bench")
    return all_skus


# -- timing ----------------------------------------------------------------------------------


async def timed_calls(call: Callable[[], Awaitable[Any]], calls: int,
                      warmup: int) -> tuple[list[float], float, Any]:
    """Milliseconds of each of ``calls`` sequential calls (each bounded), this process's
    CPU milliseconds per call, and the last answer."""
    answer = None
    for _ in range(warmup):
        answer = await asyncio.wait_for(call(), CALL_TIMEOUT_S)
    times = []
    cpu = time.process_time()
    for _ in range(calls):
        started = time.perf_counter()
        answer = await asyncio.wait_for(call(), CALL_TIMEOUT_S)
        times.append((time.perf_counter() - started) * 1000)
    return times, (time.process_time() - cpu) * 1000 / max(1, calls), answer


async def _measure(url: str, backend: str, skus: list[str],
                   options: argparse.Namespace) -> list[list[Any]]:
    from omnicore import Commerce

    rows: list[list[Any]] = []
    label = "SQLite file" if backend == "sqlite" else "PostgreSQL"
    async with Commerce.open(url, load_entry_points=False, dispatch=False,
                             auto_migrate=False) as commerce:
        for radius in (25.0, 5.0):
            rng = random.Random(SEED + int(radius))
            found: list[int] = []

            async def locate(radius: float = radius, rng: random.Random = rng,
                             found: list[int] = found) -> Any:
                answer = await commerce.stock.nearby(
                    [LOOK_SKU], near=_around(rng, PARIS, QUERY_RADIUS_KM), channel="stores",
                    radius_km=radius, limit=10)
                found.append(len(answer))
                return answer

            times, cpu, _ = await timed_calls(locate, options.read_calls, options.read_warmup)
            p50 = statistics.median(times)
            target = "—"
            if radius == 25.0:
                target = (f"p50 < {TARGET_NEARBY_P50_MS:.0f} ms"
                          + (f": {verdict(p50 < TARGET_NEARBY_P50_MS)}"
                             if backend == "sqlite" else " (SQLite)"))
            stores = options.reads_stores
            rows.append([label, f"nearby 1 SKU, {stores:,} stores, radius {radius:g} km, "
                         f"limit 10 (avg {statistics.mean(found):.1f} answers)",
                         len(times), p50, percentile(times, 0.99), cpu, target])

        # For comparison: the locator alone, given the channel's code, in a read
        # transaction — what ``stock.nearby`` costs without loading the whole
        # ``Channel`` (``channels.get_channel``) first.
        from omnicore.network import GeoPoint
        from omnicore.stock._locator import nearby as locator_nearby
        from omnicore.store.uow import Tx

        rng = random.Random(SEED + 25)

        async def alone() -> Any:
            point = GeoPoint(**_around(rng, PARIS, QUERY_RADIUS_KM))
            async with commerce.db.read() as conn:
                return await locator_nearby(Tx(conn, commerce.clock()), "stores", [LOOK_SKU],
                                            point, radius_km=25.0, limit=10, require_all=False)

        times, cpu, _ = await timed_calls(alone, options.read_calls, options.read_warmup)
        rows.append([label, "comparison: the locator alone (`stock_locator.nearby` given the "
                     "channel code, no `get_channel`), radius 25 km, limit 10",
                     len(times), statistics.median(times), percentile(times, 0.99), cpu, "—"])

        async def web() -> Any:
            return await commerce.stock.availability_many(skus, channel="web")

        times, cpu, answer = await timed_calls(web, options.read_calls, options.read_warmup)
        p50 = statistics.median(times)
        total = sum(a.total for a in answer.values())
        rows.append([label, f"availability_many {len(skus)} SKUs, channel web "
                     f"({1 + WEB_STORES} locations; Σ total {total:,})",
                     len(times), p50, percentile(times, 0.99), cpu,
                     f"p50 < {TARGET_AVAILABILITY_P50_MS:.0f} ms: "
                     f"{verdict(p50 < TARGET_AVAILABILITY_P50_MS)}"])

        async def wide() -> Any:
            return await commerce.stock.availability_many(skus, channel="stores")

        times, cpu, _ = await timed_calls(wide, options.wide_calls, min(1, options.read_warmup))
        stores = options.reads_stores
        rows.append([label, f"availability_many {len(skus)} SKUs, channel stores "
                     f"({stores:,} locations: {len(skus) * stores:,} answers)",
                     len(times), statistics.median(times), percentile(times, 0.99), cpu, "—"])
    return rows


# -- the benchmark ---------------------------------------------------------------------------


def run(options: argparse.Namespace) -> Report:
    backends = [b.strip() for b in options.read_backends.split(",") if b.strip()]
    report = Report(NAME, params={
        "stores": options.reads_stores, "skus": options.reads_skus, "calls": options.read_calls,
        "warmup": options.read_warmup, "wide_calls": options.wide_calls, "backends": backends,
    })
    table = Table("Stock reads (one call at a time)",
                  ["database", "call", "calls", "p50 ms", "p99 ms", "client CPU ms/call",
                   "target"])
    if "postgresql" in backends:
        problem = postgres_problem(options.postgres_url)
        if problem:
            report.notes.append(f"PostgreSQL skipped: {problem}")
            backends.remove("postgresql")
    for backend in backends:
        async def one(backend: str = backend) -> tuple[list[list[Any]], float]:
            async with database(backend, options.postgres_url, "reads") as url:
                print(f"  stock_reads: seeding {backend} …", file=sys.stderr, flush=True)
                started = time.perf_counter()
                skus = await seed(url, options.reads_stores, options.reads_skus)
                seeded = time.perf_counter() - started
                print(f"  stock_reads: measuring {backend} …", file=sys.stderr, flush=True)
                return await _measure(url, backend, skus, options), seeded

        rows, seeded = asyncio.run(one())
        for row in rows:
            table.add(*row)
        report.notes.append(f"{backend}: set-up through the public API took {seeded:.1f} s "
                            "(untimed).")
    report.tables.append(table)
    report.notes.append(
        "p50 / p99 of single sequential calls (latency, not throughput), after untimed warm-up "
        "calls; shopper positions are random within 10 km of Paris, stores within 30 km. "
        "client CPU = this process's CPU time per call (Python, SQLAlchemy, driver; with "
        "SQLite also the database engine, which runs in the process).")
    return report


def main(argv: list[str] | None = None) -> int:
    return run_alone(NAME, __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
