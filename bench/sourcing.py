"""Sourcing a 20-line order: the default strategy over 200 / 2,000 / 20,000 locations.

**Pure** (no database): ``default_plan(request)`` with the candidates already in
memory, as ``omnicore.sourcing.load_candidates`` returns them. ``--sourcing-sizes``
networks (200, 2,000, 20,000 candidates) at random positions within 50 km of
Paris (uniform over the disc, fixed seed): 2 % warehouses (``ship``, at least 2),
the rest stores (``pickup``, and ``ship_from_store`` for 70 % of them). The order
has 20 lines of 20 SKUs in four groups: ``home`` (SHIP, 8 lines), ``office``
(SHIP, 5 lines), ``relay`` (RELAY, 4 lines) and ``collect`` (PICKUP, 3 lines, at
the store nearest to Paris). Two stock scenarios:

- ``typical``: a warehouse holds each SKU with probability 0.9 (10-60 units), a
  store with probability 0.3 (1-5 units) — a single warehouse usually covers a group;
- ``scarce``: as ``typical``, but no warehouse has the first SKU of each ship group,
  so each such group needs a store: the exact pair search runs.

Timed, each call alone (``time.perf_counter``), after ``--sourcing-warmup`` untimed
calls: ``--sourcing-calls`` calls (a tenth of them, at least 20, at 20,000).

**With the database**: a SQLite file seeded through the public API
(``locations.save``, ``channels.save``, ``catalog.save_products``,
``stock.set_levels``) with the 2,000-location ``typical`` network and one channel
selling from all of them. Timed: a read transaction running ``load_candidates``
for the order's 20 SKUs (the channel already loaded, as checkout has it), then
``default_plan``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import random
import statistics
import sys
import time
from typing import Any

from bench.report import Report, Table, percentile, run_alone, verdict
from bench.stock_holds import database

NAME = "sourcing"
TARGET_P50_MS = 10.0
TARGET_SIZE = 2000
PARIS = (48.8566, 2.3522)
KM_PER_DEGREE = 111.32
RADIUS_KM = 50.0
SEED = 20261130
SKUS = [f"SKU-{i:02d}" for i in range(20)]
GROUPS = [("home", "ship", 8), ("office", "ship", 5), ("relay", "relay", 4),
          ("collect", "pickup", 3)]
CALL_TIMEOUT_S = 60.0


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--sourcing-sizes", default="200,2000,20000",
                       help="numbers of candidate locations (200,2000,20000)")
    group.add_argument("--sourcing-calls", type=int, default=300,
                       help="timed default_plan calls per row (300; a tenth at ≥ 20,000)")
    group.add_argument("--sourcing-db-calls", type=int, default=100,
                       help="timed load_candidates + plan calls on SQLite (100)")
    group.add_argument("--sourcing-warmup", type=int, default=5,
                       help="untimed calls first (5)")
    group.add_argument("--sourcing-no-db", action="store_true",
                       help="skip the SQLite figure (its set-up takes a minute)")


# -- the synthetic network -------------------------------------------------------------------


def _around(rng: random.Random, radius_km: float) -> tuple[float, float]:
    distance = radius_km * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    lat = PARIS[0] + distance * math.cos(bearing) / KM_PER_DEGREE
    lng = PARIS[1] + distance * math.sin(bearing) / (
        KM_PER_DEGREE * math.cos(math.radians(PARIS[0])))
    return round(lat, 6), round(lng, 6)


def _scarce_skus() -> set[str]:
    """The first SKU of each ship / relay group."""
    found, start = set(), 0
    for _, kind, count in GROUPS:
        if kind != "pickup":
            found.add(SKUS[start])
        start += count
    return found


def network(size: int, scenario: str) -> list[dict[str, Any]]:
    """``size`` locations: code, kind, lat, lng, capabilities, stock (SKU → units)."""
    rng = random.Random(SEED + size)
    warehouses = max(2, size // 50)
    scarce = _scarce_skus() if scenario == "scarce" else set()
    found = []
    for i in range(size):
        lat, lng = _around(rng, RADIUS_KM)
        if i < warehouses:
            stock = {s: rng.randint(10, 60) for s in SKUS
                     if rng.random() < 0.9 and s not in scarce}
            found.append({"code": f"wh-{i:03d}", "kind": "warehouse", "lat": lat, "lng": lng,
                          "capabilities": ["ship"], "stock": stock})
        else:
            stock = {s: rng.randint(1, 5) for s in SKUS if rng.random() < 0.3}
            caps = ["pickup", "ship_from_store"] if rng.random() < 0.7 else ["pickup"]
            found.append({"code": f"store-{i:05d}", "kind": "store", "lat": lat, "lng": lng,
                          "capabilities": caps, "stock": stock})
    return found


def request(candidates: Any, now: dt.datetime) -> Any:
    """The 20-line order over ``candidates``; pickup at the store nearest to Paris."""
    from omnicore.network import GeoPoint, LocationKind, distance_km
    from omnicore.sourcing import GroupKind, SourcingGroup, SourcingLine, SourcingRequest

    rng = random.Random(SEED)
    paris = GeoPoint(*PARIS)
    stores = [c for c in candidates if c.kind is LocationKind.STORE]
    pickup = min(stores, key=lambda c: distance_km(paris, c.geo))
    groups, lines, start = [], [], 0
    for key, kind, count in GROUPS:
        if kind == "pickup":
            groups.append(SourcingGroup(key, GroupKind.PICKUP, pickup.geo, pickup.location))
        else:
            lat, lng = _around(rng, 15.0)
            groups.append(SourcingGroup(key, GroupKind(kind), GeoPoint(lat, lng)))
        for sku in SKUS[start:start + count]:
            lines.append(SourcingLine(f"line-{len(lines)}", sku, rng.randint(1, 2), key))
        start += count
    return SourcingRequest("web", lines, groups, candidates, now, dt.timedelta(hours=4))


def candidates_of(locations: list[dict[str, Any]]) -> tuple[Any, ...]:
    from omnicore.network import Capability, GeoPoint, LocationKind
    from omnicore.sourcing import Candidate

    return tuple(
        Candidate(loc["code"], LocationKind(loc["kind"]), GeoPoint(loc["lat"], loc["lng"]),
                  rank, frozenset(Capability(c) for c in loc["capabilities"]), loc["stock"])
        for rank, loc in enumerate(locations)
    )


# -- timing ----------------------------------------------------------------------------------


def _stats(times: list[float]) -> list[Any]:
    return [len(times), statistics.median(times), percentile(times, 0.99)]


def _describe(plan: Any) -> str:
    how = "greedy" if any("greedily" in s for s in plan.explanation) else "exact"
    transfers = sum(1 for a in plan.assignments if a.transfer_to)
    return f"{plan.shipments} shipments, {transfers} transfers, {how}"


def pure(size: int, scenario: str, calls: int, warmup: int) -> tuple[list[Any], str]:
    from omnicore.sourcing._service import check_plan
    from omnicore.sourcing._strategy import default_plan

    req = request(candidates_of(network(size, scenario)), dt.datetime.now(dt.UTC))
    for _ in range(warmup):
        plan = default_plan(req)
    times = []
    cpu = time.process_time()
    for _ in range(calls):
        started = time.perf_counter()
        plan = default_plan(req)
        times.append((time.perf_counter() - started) * 1000)
    cpu_ms = (time.process_time() - cpu) * 1000 / calls
    check_plan(req, plan, plugin="bench")
    return [*_stats(times), cpu_ms], _describe(plan)


async def seed(url: str, locations: list[dict[str, Any]]) -> None:
    from omnicore import Commerce

    async with Commerce.open(url, load_entry_points=False, dispatch=False,
                             auto_migrate=True) as commerce:
        for loc in locations:
            await commerce.locations.save({
                "code": loc["code"], "name": loc["code"], "kind": loc["kind"],
                "address": {"line1": "1 rue du Commerce", "city": "Paris",
                            "postal_code": "75015", "country": "FR"},
                "geo": {"lat": loc["lat"], "lng": loc["lng"]}, "timezone": "Europe/Paris",
                "capabilities": loc["capabilities"],
            })
        await commerce.channels.save({
            "code": "web", "name": "Web shop", "kind": "web", "currency": "EUR",
            "locations": [{"location": loc["code"], "priority": rank}
                          for rank, loc in enumerate(locations)],
        })
        await commerce.catalog.save_products([
            {"handle": "bench", "title": "Bench", "variants": [{"sku": s} for s in SKUS]}])
        levels = [{"sku": sku, "location": loc["code"], "on_hand": units}
                  for loc in locations for sku, units in loc["stock"].items()]
        for start in range(0, len(levels), 2000):
            await commerce.stock.set_levels(levels[start:start + 2000], source="bench")


async def with_database(options: argparse.Namespace) -> tuple[list[Any], list[Any], str]:
    from omnicore import Commerce
    from omnicore.network import get_channel
    from omnicore.sourcing import load_candidates
    from omnicore.sourcing._strategy import default_plan

    locations = network(TARGET_SIZE, "typical")
    async with database("sqlite", "", "sourcing") as url:
        print(f"  sourcing: seeding {TARGET_SIZE:,} locations …", file=sys.stderr, flush=True)
        await seed(url, locations)
        async with Commerce.open(url, load_entry_points=False, dispatch=False) as commerce:
            async with commerce.uow.read() as tx:
                channel = await get_channel(tx, "web")
            load_ms, total_ms, load_cpu, total_cpu = [], [], [], []
            plan = None
            for call in range(options.sourcing_warmup + options.sourcing_db_calls):
                started, cpu = time.perf_counter(), time.process_time()
                async with commerce.uow.read() as tx:
                    found = await asyncio.wait_for(
                        load_candidates(tx, channel, SKUS), CALL_TIMEOUT_S)
                loaded, loaded_cpu = time.perf_counter(), time.process_time()
                plan = default_plan(request(found, commerce.clock()))
                done, done_cpu = time.perf_counter(), time.process_time()
                if call >= options.sourcing_warmup:
                    load_ms.append((loaded - started) * 1000)
                    total_ms.append((done - started) * 1000)
                    load_cpu.append((loaded_cpu - cpu) * 1000)
                    total_cpu.append((done_cpu - cpu) * 1000)
    return ([*_stats(load_ms), statistics.mean(load_cpu)],
            [*_stats(total_ms), statistics.mean(total_cpu)], _describe(plan))


def run(options: argparse.Namespace) -> Report:
    report = Report(NAME, params={k: v for k, v in vars(options).items()
                                  if k.startswith("sourcing_")})
    table = Table("Sourcing a 20-line order (3 ship/relay groups + 1 pickup), ms per call",
                  ["what", "candidates", "scenario", "calls", "p50 ms", "p99 ms",
                   "CPU ms/call", "plan", "target"])
    sizes = [int(s) for s in options.sourcing_sizes.split(",") if s.strip()]
    for scenario in ("typical", "scarce"):
        for size in sizes:
            print(f"  sourcing: default_plan, {size:,} candidates, {scenario} …",
                  file=sys.stderr, flush=True)
            calls = options.sourcing_calls if size < 20_000 else max(
                20, options.sourcing_calls // 10)
            row, plan = pure(size, scenario, calls, options.sourcing_warmup)
            target = "—"
            if size == TARGET_SIZE:
                target = f"p50 < {TARGET_P50_MS:.0f} ms: {verdict(row[1] < TARGET_P50_MS)}"
            table.add("`default_plan` (pure)", size, scenario, *row, plan, target)
    if not options.sourcing_no_db:
        load, total, plan = asyncio.run(with_database(options))
        table.add("`load_candidates` (SQLite file)", TARGET_SIZE, "typical", *load, "—", "—")
        table.add("`load_candidates` + `default_plan`", TARGET_SIZE, "typical", *total, plan,
                  "—")
    report.tables.append(table)
    report.notes.append(
        "single sequential calls after untimed warm-up; CPU = this process's CPU time per "
        "call (time.process_time), less sensitive to the machine's load than the wall clock.")
    return report


def main(argv: list[str] | None = None) -> int:
    return run_alone(NAME, __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
