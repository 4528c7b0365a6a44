"""Checkout: the latency of one checkout, and 64 checkouts racing for the last 20 units.

Untimed set-up through the public API on a fresh SQLite file and a fresh
PostgreSQL database ``omnicore_bench_*``: a warehouse and two ship-from-store
shops, channel ``web`` (EUR) selling from the three, 5 products with plenty of
stock, and a payment gateway ``bench`` that authorizes at once (an in-process
stand-in for a provider: the figures are omnicore's own cost, not a vendor's
latency).

Timed:

- ``await commerce.checkout(cart, payments=[{"gateway": "bench"}], idempotency_key=…)``
  of a 5-line cart shipped to an address (``--checkout-calls`` carts, each made
  and filled untimed first): claim, prepare (validation, hold refresh, delivery
  rates, pricing twice, sourcing), authorize, and the order's transaction;
- on PostgreSQL, ``--checkout-racers`` carts (64) of one unit of a SKU whose
  holds expired and whose shelf count then found only ``--checkout-units``
  units (20) check out at once from 4 ``Commerce`` instances: the wall time
  from the first call to the last answer, orders placed, refusals, and whether
  any authorization was left held without an order (double charge).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Any

from bench.report import Report, Table, percentile, run_alone
from bench.stock_holds import add_postgres_url, database, postgres_problem
from omnicore.plugins.hookspecs import hookimpl

NAME = "checkout"
SKUS = [f"CK-{i}" for i in range(5)]
HOME = {"key": "home", "kind": "ship", "method": "standard",
        "address": {"line1": "3 rue de Rivoli", "city": "Paris", "postal_code": "75004",
                    "country": "FR"}, "geo": {"lat": 48.8556, "lng": 2.3590}}
INSTANCES = 4


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--checkout-calls", type=int, default=60,
                       help="timed checkouts per database (60)")
    group.add_argument("--checkout-racers", type=int, default=64,
                       help="concurrent checkouts in the race (64)")
    group.add_argument("--checkout-units", type=int, default=20,
                       help="units left for the race (20)")
    group.add_argument("--checkout-backends", default="sqlite,postgresql",
                       help="databases (sqlite,postgresql)")
    add_postgres_url(group)


class BenchGateway:
    """Authorizes, captures, voids and refunds at once; remembers what is still held."""

    code = "bench"

    def __init__(self) -> None:
        self.held: set[str] = set()

    async def authorize(self, request: Any) -> Any:
        from omnicore.payments import GatewayResult, Outcome

        self.held.add(request.payment_id)
        return GatewayResult(Outcome.SUCCEEDED, request.amount, f"bench_{request.payment_id}")

    async def capture(self, payment: Any, amount: Any, *, idempotency_key: str) -> Any:
        from omnicore.payments import GatewayResult, Outcome

        self.held.discard(payment.payment_id)
        return GatewayResult(Outcome.SUCCEEDED, amount, payment.reference)

    async def void(self, payment: Any, *, idempotency_key: str) -> Any:
        from omnicore.payments import GatewayResult, Outcome

        self.held.discard(payment.payment_id)
        return GatewayResult(Outcome.SUCCEEDED, payment.amount, payment.reference)

    async def refund(self, payment: Any, amount: Any, *, idempotency_key: str) -> Any:
        from omnicore.payments import GatewayResult, Outcome

        return GatewayResult(Outcome.SUCCEEDED, amount, payment.reference)

    async def parse_webhook(self, headers: Any, body: bytes) -> list[Any]:
        return []


class BenchPayments:
    name = "bench-payments"

    def __init__(self, gateway: BenchGateway) -> None:
        self.gateway = gateway

    @hookimpl
    def register_payment_gateways(self, commerce: Any) -> list[Any]:
        return [self.gateway]


def _plugin(gateway: BenchGateway) -> Any:
    return BenchPayments(gateway)


def _open(url: str, gateway: BenchGateway, pool: int = 5) -> Any:
    from omnicore import Commerce

    return Commerce.open(url, load_entry_points=False, dispatch=False, auto_migrate=True,
                         plugins=[_plugin(gateway)], config={"database": {"pool_size": pool}})


async def seed(commerce: Any, units: int) -> None:
    address = {"line1": "1 rue", "city": "Paris", "postal_code": "75001", "country": "FR"}
    for code, kind, lat, caps in (("wh", "warehouse", 48.93, ["ship"]),
                                  ("shop-1", "store", 48.86, ["pickup", "ship_from_store"]),
                                  ("shop-2", "store", 48.84, ["pickup", "ship_from_store"])):
        await commerce.locations.save({"code": code, "name": code, "kind": kind,
                                       "address": address, "geo": {"lat": lat, "lng": 2.35},
                                       "timezone": "Europe/Paris", "capabilities": caps})
    await commerce.channels.save({"code": "web", "name": "Web", "kind": "web",
                                  "currency": "EUR",
                                  "locations": [{"location": c, "priority": i} for i, c in
                                                enumerate(("wh", "shop-1", "shop-2"))]})
    await commerce.catalog.save_products([
        {"handle": sku.lower(), "title": sku, "variants": [{"sku": sku}]} for sku in SKUS])
    await commerce.catalog.set_prices([
        {"sku": sku, "amount": {"amount": f"{10 + i}.90", "currency": "EUR"}}
        for i, sku in enumerate(SKUS)])
    for sku in SKUS:
        await commerce.stock.receive(sku, "wh", units, source="bench")


async def _cart(commerce: Any, lines: list[dict[str, Any]]) -> str:
    cart = await commerce.carts.create("web")
    cart = await commerce.carts.add_lines(cart.id, lines, version=cart.version)
    cart = await commerce.carts.set_delivery(cart.id, [HOME], version=cart.version)
    return str(cart.id)


async def latency(url: str, calls: int) -> tuple[list[float], list[float]]:
    gateway = BenchGateway()
    async with _open(url, gateway) as commerce:
        await seed(commerce, units=calls * 10 + 100)
        lines = [{"sku": sku, "quantity": 1 + i % 2} for i, sku in enumerate(SKUS)]
        carts = [await _cart(commerce, lines) for _ in range(calls + 5)]
        wall, cpu = [], []
        for index, cart_id in enumerate(carts):
            started, cpu_started = time.perf_counter(), time.process_time()
            await commerce.checkout(cart_id, payments=[{"gateway": "bench"}],
                                    idempotency_key=f"bench-{index}")
            if index >= 5:  # the first five warm the caches up
                wall.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
        return wall, cpu


async def race(url: str, racers: int, units: int) -> dict[str, Any]:
    from omnicore.errors import OutOfStock
    from omnicore.testing import FakeClock

    gateway, clock = BenchGateway(), FakeClock()
    from omnicore import Commerce

    shops = [await Commerce.open(url, load_entry_points=False, dispatch=False, clock=clock,
                                 auto_migrate=True, plugins=[_plugin(gateway)],
                                 config={"database": {"pool_size": 16}})
             for _ in range(INSTANCES)]
    try:
        first = shops[0]
        await seed(first, units=racers)
        carts = [await _cart(first, [{"sku": SKUS[0], "quantity": 1}]) for _ in range(racers)]
        clock.advance(hours=2)  # every cart hold expired
        await first.stock.count(SKUS[0], "wh", units, source="bench")

        async def attempt(index: int) -> str:
            try:
                await shops[index % INSTANCES].checkout(
                    carts[index], payments=[{"gateway": "bench"}], idempotency_key=f"r-{index}")
                return "order"
            except OutOfStock:
                return "out_of_stock"

        started = time.perf_counter()
        outcomes = await asyncio.gather(*(attempt(i) for i in range(racers)))
        seconds = time.perf_counter() - started
        level = await first.stock.availability(SKUS[0], channel="web")
        return {"seconds": seconds, "orders": outcomes.count("order"),
                "refused": outcomes.count("out_of_stock"), "held": len(gateway.held),
                "available": level.total}
    finally:
        for shop in shops:
            await shop.close()


def run(options: argparse.Namespace) -> Report:
    report = Report(NAME, params={k: v for k, v in vars(options).items()
                                  if k.startswith("checkout_")})
    table = Table("One checkout of a 5-line cart shipped to an address (ms per call)",
                  ["database", "calls", "p50 ms", "p99 ms", "mean ms", "CPU p50 ms"])
    backends = [b.strip() for b in options.checkout_backends.split(",") if b.strip()]
    pg_ok = True
    for backend in backends:
        if backend == "postgresql":
            problem = postgres_problem(options.postgres_url)
            if problem:
                pg_ok = False
                report.notes.append(f"postgresql skipped: {problem}")
                continue

        async def one(backend: str = backend) -> tuple[list[float], list[float]]:
            async with database(backend, options.postgres_url, "checkout") as url:
                return await latency(url, options.checkout_calls)

        print(f"  checkout: {backend} …", file=sys.stderr, flush=True)
        wall, cpu = asyncio.run(one())
        table.add("SQLite file" if backend == "sqlite" else "PostgreSQL", len(wall),
                  statistics.median(wall), percentile(wall, 0.99), statistics.mean(wall),
                  statistics.median(cpu))
    report.tables.append(table)
    if "postgresql" in backends and pg_ok:
        async def racing() -> dict[str, Any]:
            async with database("postgresql", options.postgres_url, "checkout_race") as url:
                return await race(url, options.checkout_racers, options.checkout_units)

        print("  checkout: race on postgresql …", file=sys.stderr, flush=True)
        facts = asyncio.run(racing())
        race_table = Table(
            f"{options.checkout_racers} concurrent checkouts of the last "
            f"{options.checkout_units} units, PostgreSQL, {INSTANCES} Commerce instances",
            ["orders", "refused (out of stock)", "available after", "authorizations held "
             "without an order", "wall s", "checkouts/s (all answers)"])
        race_table.add(facts["orders"], facts["refused"], facts["available"],
                       facts["held"] - facts["orders"], facts["seconds"],
                       options.checkout_racers / facts["seconds"])
        report.tables.append(race_table)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    report.notes.append(
        "sequential calls after 5 untimed ones; CPU = this process's CPU time per call"
        + (f"; 1-minute load average at the end: {load:.1f} on {os.cpu_count()} CPUs"
           if load is not None else "") + ".")
    return report


def main(argv: list[str] | None = None) -> int:
    return run_alone(NAME, __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
