"""Pricing a 50-line cart with 20 active promotions: the pure engine and the service.

Untimed set-up, through the public API only, on a fresh SQLite file (and, with
``--pricing-backends sqlite,postgresql``, a fresh PostgreSQL database
``omnicore_bench_*``, dropped afterwards): a channel ``web`` (EUR), 50
products of one variant each in 5 families with default prices (a tenth of
them overridden for ``web``), and 20 live promotions of every kind — line
``percent_off`` on some SKUs or families, ``fixed_off`` per unit and on the
order, ``buy_x_get_y``, ``spend_threshold``, ``free_shipping`` — two of them
unlocked by a code the cart carries, a few not stackable, priorities mixed.

Timed, each call alone (``time.perf_counter`` around it), after ``--pricing-warmup``
untimed calls:

- ``price_lines(lines, promotions, …)``: the pure engine, the 50 priced lines
  and the 20 promotions already in memory (``--pricing-pure-calls`` calls);
- ``await commerce.pricing.price(channel=…, currency="EUR", lines=[50 x (key, sku,
  quantity)], codes=[2 codes], customer_id=…, shipping=…)``: the service — one
  read transaction loading the channel, 50 prices, the families, the automatic
  promotions and the codes' promotions, then the engine, then the (absent)
  plugin hooks (``--pricing-calls`` calls).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Any

from bench.report import Report, Table, percentile, run_alone, verdict
from bench.stock_holds import add_postgres_url, database, postgres_problem

NAME = "pricing"
TARGET_PURE_P50_MS = 5.0
LINES = 50
FAMILIES = ["tees", "caps", "socks", "bags", "shoes"]
CODES = ["WELCOME10", "SHIP-FREE"]
CALL_TIMEOUT_S = 60.0


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--pricing-pure-calls", type=int, default=1000,
                       help="timed price_lines calls (1000)")
    group.add_argument("--pricing-calls", type=int, default=300,
                       help="timed commerce.pricing.price calls per database (300)")
    group.add_argument("--pricing-warmup", type=int, default=20,
                       help="untimed calls first (20)")
    group.add_argument("--pricing-backends", default="sqlite",
                       help="databases for the service figure (sqlite; add ,postgresql)")
    add_postgres_url(group)


def _sku(i: int) -> str:
    return f"SKU-{i:03d}"


def promotions() -> list[dict[str, Any]]:
    """20 promotions, every kind, live now on every channel."""
    found: list[dict[str, Any]] = []
    for i in range(6):
        found.append({"name": f"pct-{i}", "kind": "percent_off", "percent": str(5 + i),
                      "skus": [_sku(j) for j in range(i, LINES, 6)], "priority": 10 + i})
    for i, family in enumerate(FAMILIES):
        found.append({"name": f"family-{family}", "kind": "percent_off", "percent": "15",
                      "families": [family], "priority": 20 + i, "stackable": i % 2 == 0})
    found += [
        {"name": "unit-1", "kind": "fixed_off", "amounts": {"EUR": "1.00"},
         "skus": [_sku(j) for j in range(0, LINES, 7)], "priority": 30},
        {"name": "b2g1-tees", "kind": "buy_x_get_y", "buy": 2, "get": 1,
         "families": ["tees"], "priority": 5},
        {"name": "b1g1-half", "kind": "buy_x_get_y", "buy": 1, "get": 1, "percent": "50",
         "families": ["socks"], "priority": 6},
        {"name": "order-5", "kind": "fixed_off", "target": "order",
         "amounts": {"EUR": "5.00"}, "priority": 40},
        {"name": "spend-200", "kind": "spend_threshold", "thresholds": {"EUR": "200.00"},
         "percent": "10", "priority": 41},
        {"name": "spend-500", "kind": "spend_threshold", "thresholds": {"EUR": "500.00"},
         "amounts": {"EUR": "25.00"}, "priority": 42, "stackable": False},
        {"name": "welcome", "kind": "percent_off", "target": "order", "percent": "10",
         "automatic": False, "codes": [CODES[0]], "priority": 39},
        {"name": "ship-50", "kind": "free_shipping", "thresholds": {"EUR": "50.00"}},
        {"name": "ship-code", "kind": "free_shipping", "automatic": False,
         "codes": [CODES[1]], "priority": 1},
    ]
    assert len(found) == 20
    return found


async def seed(url: str) -> None:
    from omnicore import Commerce

    async with Commerce.open(url, load_entry_points=False, dispatch=False,
                             auto_migrate=True) as commerce:
        await commerce.locations.save({
            "code": "wh", "name": "Warehouse", "kind": "warehouse",
            "address": {"line1": "1 rue", "city": "Paris", "postal_code": "75001",
                        "country": "FR"},
            "geo": {"lat": 48.86, "lng": 2.34}, "timezone": "Europe/Paris",
            "capabilities": ["ship"]})
        await commerce.channels.save({"code": "web", "name": "Web", "kind": "web",
                                      "currency": "EUR", "locations": [{"location": "wh"}]})
        await commerce.catalog.save_products([
            {"handle": f"product-{i}", "title": f"Product {i}",
             "family": _family(_sku(i)), "variants": [{"sku": _sku(i)}]}
            for i in range(LINES)])
        prices = [{"sku": _sku(i), "amount": {"amount": f"{5 + (i * 37) % 90}.{i % 100:02d}",
                                               "currency": "EUR"}} for i in range(LINES)]
        prices += [{"sku": _sku(i), "channel": "web",
                    "amount": {"amount": f"{4 + (i * 37) % 90}.99", "currency": "EUR"}}
                   for i in range(0, LINES, 10)]
        await commerce.catalog.set_prices(prices)
        for promotion in promotions():
            await commerce.promotions.create(promotion)


def _family(sku: str) -> str:
    return FAMILIES[int(sku.split("-")[1]) % len(FAMILIES)]


def cart() -> list[tuple[str, str, int]]:
    return [(f"line-{i}", _sku(i), 1 + i % 4) for i in range(LINES)]


def _row(timings: Timings) -> list[Any]:
    wall, cpu = timings
    return [len(wall), statistics.median(wall), percentile(wall, 0.99), statistics.mean(wall),
            statistics.median(cpu)]


Timings = tuple[list[float], list[float]]  # wall-clock ms, this process's CPU ms


async def _measure(url: str, options: argparse.Namespace) -> tuple[Timings, Timings,
                                                                   dict[str, Any]]:
    from omnicore import Commerce, Money
    from omnicore.pricing import PricingLine, price_lines

    async with Commerce.open(url, load_entry_points=False, dispatch=False) as commerce:
        shipping = Money("4.90", "EUR")

        async def service() -> Any:
            return await asyncio.wait_for(commerce.pricing.price(
                channel="web", currency="EUR", lines=cart(), codes=CODES,
                customer_id="cus_bench", shipping=shipping), CALL_TIMEOUT_S)

        for _ in range(options.pricing_warmup):
            totals = await service()
        service_ms: list[float] = []
        service_cpu: list[float] = []
        for _ in range(options.pricing_calls):
            started, cpu = time.perf_counter(), time.process_time()
            totals = await service()
            service_ms.append((time.perf_counter() - started) * 1000)
            service_cpu.append((time.process_time() - cpu) * 1000)

        found = await commerce.promotions.applicable(channel="web", codes=CODES,
                                                     customer_id="cus_bench")
        lines = [PricingLine(e.key, e.sku, e.quantity, e.unit_price, _family(e.sku))
                 for e in totals.lines]
        now = commerce.clock()

    def pure() -> Any:
        return price_lines(lines, found, currency="EUR", codes=CODES, channel="web",
                           customer_id="cus_bench", shipping=shipping, now=now)

    for _ in range(options.pricing_warmup):
        pure()
    pure_ms: list[float] = []
    pure_cpu: list[float] = []
    for _ in range(options.pricing_pure_calls):
        started, cpu = time.perf_counter(), time.process_time()
        answer = pure()
        pure_ms.append((time.perf_counter() - started) * 1000)
        pure_cpu.append((time.process_time() - cpu) * 1000)
    assert answer.total == totals.total, (answer.total, totals.total)
    facts = {
        "promotions": len(found), "explanations": len(answer.explanations),
        "not_applied": len(answer.not_applied), "subtotal": str(answer.subtotal),
        "total": str(answer.total),
    }
    return (pure_ms, pure_cpu), (service_ms, service_cpu), facts


def run(options: argparse.Namespace) -> Report:
    report = Report(NAME, params={k: v for k, v in vars(options).items()
                                  if k.startswith("pricing_")})
    table = Table(f"Pricing a {LINES}-line cart with 20 active promotions (ms per call)",
                  ["what", "database", "calls", "p50 ms", "p99 ms", "mean ms", "CPU p50 ms",
                   "target"])
    backends = [b.strip() for b in options.pricing_backends.split(",") if b.strip()]
    pure_row: list[Any] | None = None
    for backend in backends:
        if backend == "postgresql":
            problem = postgres_problem(options.postgres_url)
            if problem:
                report.notes.append(f"postgresql skipped: {problem}")
                continue

        async def one(backend: str = backend) -> tuple[Timings, Timings, dict[str, Any]]:
            async with database(backend, options.postgres_url, "pricing") as url:
                await seed(url)
                return await _measure(url, options)

        print(f"  pricing: {backend} …", file=sys.stderr, flush=True)
        pure, service, facts = asyncio.run(one())
        label = "SQLite file" if backend == "sqlite" else "PostgreSQL"
        if pure_row is None:
            p50 = statistics.median(pure[0])
            pure_row = ["`price_lines` (pure)", "—", *_row(pure),
                        f"p50 < {TARGET_PURE_P50_MS:.0f} ms: {verdict(p50 < TARGET_PURE_P50_MS)}"]
            table.add(*pure_row)
            report.notes.append(
                f"the cart: {LINES} lines, {facts['promotions']} promotions applicable (18 "
                f"automatic + 2 by code), {facts['explanations']} explanations, "
                f"{facts['not_applied']} not applied; subtotal {facts['subtotal']}, "
                f"total {facts['total']}.")
        table.add("`commerce.pricing.price`", label, *_row(service), "—")
    report.tables.append(table)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    report.notes.append(
        "single sequential calls (latency, not throughput), after untimed warm-up calls; "
        "CPU = this process's CPU time per call (time.process_time), less sensitive to the "
        "machine's load than the wall clock"
        + (f"; 1-minute load average at the end: {load:.1f} on {os.cpu_count()} CPUs"
           if load is not None else "") + ".")
    return report


def main(argv: list[str] | None = None) -> int:
    return run_alone(NAME, __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())

