"""Outbox throughput: events per second delivered to a no-op consumer.

For each configuration the bench creates a fresh database (a SQLite file, or a
PostgreSQL database named ``omnicore_bench_*`` dropped afterwards), registers
one no-op consumer per ``--consumers`` and pre-loads ``--events`` events,
emitted ``--emit-batch`` at a time inside ``commerce.uow()`` — so every event has
one pending delivery per consumer. Then it starts ``workers`` OS processes
(multiprocessing, *spawn*); each opens its own ``Commerce`` with
``dispatch=False`` and runs ``commerce.outbox.drain()`` until nothing is pending.
Opening is not timed: the clock starts when every worker is ready and stops
when the last worker commits its last batch. At the end the bench counts
deliveries by status: delivered must equal events x consumers, and any
delivery with ``attempts > 1`` (or any delivery handled more than once) is
reported as a duplicate.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import queue
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import Report, Table, verdict

NAME = "outbox"
TARGET_PG_4 = 2000.0
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
WORKER_TIMEOUT_S = 600.0
POLL_S = 0.02


class NoopConsumer:
    """A consumer that returns at once: what remains is the outbox's own cost."""

    def __init__(self, name: str = "noop") -> None:
        self.name = name

    # decorated lazily (see _consumers) so importing this module stays cheap
    def on_event(self, event: Any) -> None:
        return None


def _consumers(count: int) -> list[object]:
    from omnicore import hookimpl

    class Noop(NoopConsumer):
        on_event = hookimpl(NoopConsumer.on_event)

    return [Noop("noop" if i == 0 else f"noop-{i + 1}") for i in range(count)]


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--events", type=int, default=20_000, help="events to pre-load (20000)")
    group.add_argument("--outbox-consumers", dest="consumers", type=int, default=1,
                       help="no-op consumers (1)")
    group.add_argument("--outbox-emit-batch", dest="emit_batch", type=int, default=1000,
                       help="events emitted per transaction while pre-loading (1000)")
    group.add_argument("--outbox-batch-size", dest="batch_size", type=int, default=None,
                       help="[outbox] batch_size for the workers (default: omnicore's)")
    with suppress(argparse.ArgumentError):  # another benchmark may have defined it
        group.add_argument("--postgres-url",
                           default=os.environ.get("OMNICORE_TEST_POSTGRES_URL", LOCAL_POSTGRES),
                           help="maintenance DSN of a PostgreSQL server (default: "
                           "OMNICORE_TEST_POSTGRES_URL, else the local server)")
    group.add_argument("--outbox-no-analyze", dest="analyze", action="store_false",
                       help="on PostgreSQL, skip ANALYZE after pre-loading (cold planner stats)")
    group.add_argument("--outbox-setups", default="sqlite:1,sqlite:4,postgresql:1,postgresql:4",
                       help="backend:workers pairs to run (default: all four)")


# -- worker processes ------------------------------------------------------------------------


def _outbox_config(batch_size: int | None) -> dict[str, Any]:
    return {"outbox": {"batch_size": batch_size}} if batch_size else {}


def _worker(url: str, consumers: int, batch_size: int | None, ready: Any, start: Any,
            results: Any) -> None:
    """Entry point of one worker process."""
    results.put(asyncio.run(_work(url, consumers, batch_size, ready, start)))


async def _work(url: str, consumers: int, batch_size: int | None, ready: Any,
                start: Any) -> dict[str, Any]:
    from omnicore import Commerce

    commerce = await Commerce.open(url, plugins=_consumers(consumers), load_entry_points=False,
                                   dispatch=False, auto_migrate=False,
                                   config=_outbox_config(batch_size))
    try:
        await commerce.outbox.counts()  # warm the connection pool
        ready.put(os.getpid())
        if not start.wait(timeout=WORKER_TIMEOUT_S):
            return {"pid": os.getpid(), "error": "never started"}
        handled = polls = 0
        cpu = time.process_time()
        last = time.monotonic()
        deadline = last + WORKER_TIMEOUT_S
        while time.monotonic() < deadline:
            count = await commerce.outbox.drain()
            if count:
                handled += count
                last = time.monotonic()
                continue
            # nothing claimable: done, unless other workers still hold leased rows
            if not (await commerce.outbox.counts()).get("pending"):
                break
            polls += 1
            await asyncio.sleep(POLL_S)
        return {"pid": os.getpid(), "handled": handled, "polls": polls, "last": last,
                "cpu": time.process_time() - cpu}
    finally:
        await commerce.close()


# -- one configuration -----------------------------------------------------------------------


@dataclass
class Outcome:
    backend: str
    workers: int
    events: int
    consumers: int
    preload_s: float
    elapsed_s: float
    counts: dict[str, int]
    retried: int
    handled: int
    per_worker: list[int]
    worker_cpu_s: float

    @property
    def expected(self) -> int:
        return self.events * self.consumers

    @property
    def rate(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s else 0.0


async def _preload(url: str, events: int, consumers: int, emit_batch: int,
                   analyze: bool = False) -> float:
    from sqlalchemy import text

    from omnicore import Commerce

    started = time.perf_counter()
    async with Commerce.open(url, plugins=_consumers(consumers), load_entry_points=False,
                             dispatch=False, auto_migrate=True) as commerce:
        for first in range(0, events, emit_batch):
            async with commerce.uow() as tx:
                for i in range(first, min(events, first + emit_batch)):
                    tx.emit("stock.changed",
                            {"sku": f"SKU-{i % 10_000:05d}", "location": "wh", "on_hand": i % 97})
        if analyze:  # what autovacuum does within a minute of a bulk insert
            async with commerce.db.transaction() as conn:
                await conn.execute(text("ANALYZE outbox_deliveries"))
                await conn.execute(text("ANALYZE outbox_events"))
    return time.perf_counter() - started


async def _tally(url: str) -> tuple[dict[str, int], int]:
    from sqlalchemy import func, select

    from omnicore import Commerce
    from omnicore.store.tables import outbox_deliveries

    async with Commerce.open(url, load_entry_points=False, dispatch=False,
                             auto_migrate=False) as commerce:
        counts = await commerce.outbox.counts()
        async with commerce.db.read() as conn:
            retried = (await conn.execute(select(func.count()).select_from(outbox_deliveries)
                                          .where(outbox_deliveries.c.attempts > 1))).scalar_one()
    return counts, int(retried)


def _run_setup(url: str, backend: str, workers: int, options: argparse.Namespace) -> Outcome:
    analyze = options.analyze and not url.startswith("sqlite")
    preload_s = asyncio.run(
        _preload(url, options.events, options.consumers, options.emit_batch, analyze))
    context = mp.get_context("spawn")
    ready, results, start = context.Queue(), context.Queue(), context.Event()
    processes = [
        context.Process(target=_worker, name=f"outbox-worker-{i}",
                        args=(url, options.consumers, options.batch_size, ready, start, results))
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            ready.get(timeout=120)
        started = time.monotonic()
        start.set()
        outcomes = [results.get(timeout=WORKER_TIMEOUT_S + 60) for _ in processes]
    except queue.Empty:
        raise RuntimeError(f"{backend} x {workers}: a worker did not report in time") from None
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)
    errors = [o["error"] for o in outcomes if "error" in o]
    if errors:
        raise RuntimeError(f"{backend} x {workers}: {errors}")
    elapsed = max(o["last"] for o in outcomes) - started
    counts, retried = asyncio.run(_tally(url))
    handled = [o["handled"] for o in outcomes]
    return Outcome(backend, workers, options.events, options.consumers, preload_s, elapsed,
                   counts, retried, sum(handled), handled, sum(o["cpu"] for o in outcomes))


# -- databases -------------------------------------------------------------------------------


async def _pg_execute(dsn: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _pg_database(admin: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(admin).set(database=name).render_as_string(hide_password=False)


def _run_sqlite(workers: int, options: argparse.Namespace) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="omnicore-bench-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'outbox.db'}"
        return _run_setup(url, "SQLite file", workers, options)


def _run_postgres(workers: int, options: argparse.Namespace) -> Outcome:
    name = f"omnicore_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_execute(options.postgres_url, f'CREATE DATABASE "{name}"'))
    try:
        return _run_setup(_pg_database(options.postgres_url, name), "PostgreSQL", workers, options)
    finally:
        asyncio.run(_pg_execute(options.postgres_url,
                                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _postgres_reachable(dsn: str) -> str | None:
    try:
        asyncio.run(_pg_execute(dsn, "SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


# -- the benchmark ---------------------------------------------------------------------------


def _setups(text: str) -> list[tuple[str, int]]:
    setups = []
    for item in text.split(","):
        backend, _, workers = item.strip().partition(":")
        if backend not in ("sqlite", "postgresql") or not workers.isdigit():
            raise SystemExit(f"--outbox-setups: bad item {item!r} (want e.g. postgresql:4)")
        setups.append((backend, int(workers)))
    return setups


def run(options: argparse.Namespace) -> Report:
    from omnicore.config import OutboxConfig

    batch_size = options.batch_size or OutboxConfig().batch_size
    report = Report(NAME, params={
        "events": options.events, "consumers": options.consumers,
        "emit_batch": options.emit_batch, "batch_size": batch_size,
        "setups": options.outbox_setups, "postgres_analyze": options.analyze,
    })
    table = Table(
        f"Outbox delivery to a no-op consumer: {options.events:,} events x "
        f"{options.consumers} consumer(s), batch_size {batch_size}",
        ["database", "worker processes", "events/s", "deliver s", "worker CPU µs/event",
         "pre-load s", "delivered / expected", "duplicates", "per worker", "target"],
    )
    pg_problem = None
    if any(b == "postgresql" for b, _ in _setups(options.outbox_setups)):
        pg_problem = _postgres_reachable(options.postgres_url)
        if pg_problem:
            report.notes.append(f"PostgreSQL skipped: {pg_problem}")
    for backend, workers in _setups(options.outbox_setups):
        if backend == "postgresql" and pg_problem:
            continue
        print(f"  outbox: {backend} x {workers} …", flush=True, file=sys.stderr)
        outcome = (_run_sqlite if backend == "sqlite" else _run_postgres)(workers, options)
        delivered = outcome.counts.get("delivered", 0)
        duplicates = outcome.retried + max(0, outcome.handled - outcome.expected)
        others = {k: v for k, v in outcome.counts.items() if k != "delivered" and v}
        check = f"{delivered:,} / {outcome.expected:,}"
        if delivered != outcome.expected or others:
            check += f" ✗ {others}"
        target = "—"
        if backend == "postgresql" and workers == 4:
            target = f"≥ {TARGET_PG_4:,.0f}/s: {verdict(outcome.rate >= TARGET_PG_4)}"
        table.add(outcome.backend, workers, outcome.rate, outcome.elapsed_s,
                  outcome.worker_cpu_s / outcome.events * 1e6, outcome.preload_s,
                  check, duplicates, " + ".join(f"{n:,}" for n in outcome.per_worker), target)
    report.tables.append(table)
    report.notes.append(
        "events/s = events ÷ (time from the start signal to the last worker's last commit); "
        "workers are separate processes (spawn) that opened their Commerce before the clock "
        "started. worker CPU = user + system time of the worker processes (the PostgreSQL "
        "server's is not included) per event. duplicates = deliveries with attempts > 1, "
        "plus deliveries handled beyond events x consumers.")
    if options.analyze:
        report.notes.append(
            "PostgreSQL: ANALYZE runs after pre-loading (part of 'pre-load s'), as autovacuum "
            "would within a minute of a bulk insert; --outbox-no-analyze measures cold "
            "planner stats.")
    return report
