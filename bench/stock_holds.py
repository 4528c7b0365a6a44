"""Holds per second on ONE hot SKU, against the bare SQL floor of the same driver.

For each database (a SQLite file; a PostgreSQL database named
``omnicore_bench_*``, dropped afterwards) and each consumer setting (none, or
one no-op ``on_event`` plugin — then every event of a hold also writes a
pending outbox delivery), the bench seeds through the public API a warehouse
``wh`` (on_hand 10,000,000 of ``HOT-1``, so holds never run out), a store and a
channel ``web`` selling from both. Then, per concurrency (1, 16, 64 asyncio
tasks in this one process; ``[database] pool_size`` = the concurrency), after
an untimed warm-up that fills the connection pool:

- **holds/s**: each task loops ``await commerce.stock.hold("HOT-1", 1,
  channel="web", location="wh")`` until ``--holds-seconds`` have passed or
  ``--holds-max`` holds were taken in all;
- **floor/s** (the bare SQL floor, same driver, same engine and pool — the
  ``Commerce``'s own SQLAlchemy async engine: aiosqlite or asyncpg): each task
  loops one transaction holding one conditional ``UPDATE stock_levels SET
  reserved = reserved + 1 WHERE sku=:s AND location_code=:l AND on_hand -
  safety_stock - reserved >= 1``;
- on PostgreSQL also **raw asyncpg/s**: the same statement in a transaction
  through a plain ``asyncpg`` pool of the same size, without SQLAlchemy.

The floor and hold runs alternate in ``--holds-rounds`` slices (their times and
counts summed), so a change of machine load during the run affects both alike;
``client CPU`` is this process's CPU time per operation (``time.process_time``):
what Python, SQLAlchemy and the driver spend, without the server's share.
Every run checks that ``reserved`` grew by exactly the number of successful
operations. Statements per hold are counted in a separate untimed pass (a
``before_cursor_execute`` listener; BEGIN/COMMIT of asyncpg are not cursor
executes and are not counted, SQLite's ``BEGIN IMMEDIATE`` is); round trips per
hold add the COMMIT and asyncpg's BEGIN (``begin`` / ``commit`` listeners).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.report import Report, Table, run_alone, verdict

NAME = "stock_holds"
TARGET_RATIO_PG = 0.5
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
SKU, LOCATION, STORE, CHANNEL = "HOT-1", "wh", "paris-1", "web"
ON_HAND = 10**7
WARMUP_S = 0.4
RUN_TIMEOUT_S = 300.0
FLOOR_SQL = (
    "UPDATE stock_levels SET reserved = reserved + 1 "
    "WHERE sku = :s AND location_code = :l AND on_hand - safety_stock - reserved >= 1"
)
RAW_SQL = (
    "UPDATE stock_levels SET reserved = reserved + 1 "
    "WHERE sku = $1 AND location_code = $2 AND on_hand - safety_stock - reserved >= 1"
)


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--holds-seconds", dest="hold_seconds", type=float, default=3.0,
                       help="timed seconds per run (3)")
    group.add_argument("--holds-max", dest="hold_max", type=int, default=100_000,
                       help="at most this many operations per run (100000)")
    group.add_argument("--holds-rounds", dest="hold_rounds", type=int, default=3,
                       help="floor and hold runs alternate in this many slices (3)")
    group.add_argument("--holds-concurrency", dest="hold_concurrency", default="1,16,64",
                       help="asyncio tasks per run, comma-separated (1,16,64)")
    group.add_argument("--holds-backends", dest="hold_backends", default="sqlite,postgresql",
                       help="databases to run (sqlite,postgresql)")
    group.add_argument("--holds-consumers", dest="hold_consumers", default="0,1",
                       help="no-op event consumers per setting, comma-separated (0,1)")
    add_postgres_url(group)


def add_postgres_url(group: argparse._ArgumentGroup) -> None:
    """``--postgres-url``, unless another benchmark of the same parser defined it already."""
    with suppress(argparse.ArgumentError):
        group.add_argument(
            "--postgres-url",
            default=os.environ.get("OMNICORE_TEST_POSTGRES_URL", LOCAL_POSTGRES),
            help="maintenance DSN of a PostgreSQL server (default: "
            "OMNICORE_TEST_POSTGRES_URL, else the local server)")


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


# -- databases -------------------------------------------------------------------------------


async def _pg_execute(dsn: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_plain_dsn(dsn), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _plain_dsn(url: str) -> str:
    """A libpq DSN for asyncpg (no ``+driver`` suffix)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_database(admin: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(admin).set(database=name).render_as_string(hide_password=False)


def postgres_problem(dsn: str) -> str | None:
    """Why the PostgreSQL server cannot be used, or None."""
    try:
        asyncio.run(_pg_execute(dsn, "SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@asynccontextmanager
async def database(backend: str, postgres_url: str, label: str) -> AsyncIterator[str]:
    """A fresh, empty database URL: a SQLite file, or ``omnicore_bench_<label>_*``."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="omnicore-bench-") as folder:
            yield f"sqlite+aiosqlite:///{Path(folder) / f'{label}.db'}"
        return
    name = f"omnicore_bench_{label}_{uuid.uuid4().hex[:8]}"
    await _pg_execute(postgres_url, f'CREATE DATABASE "{name}"')
    try:
        yield _pg_database(postgres_url, name)
    finally:
        await _pg_execute(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- helpers ---------------------------------------------------------------------------------


def noop_consumers(count: int) -> list[object]:
    from omnicore import hookimpl

    class Noop:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def on_event(self, event: Any) -> None:
            return None

    return [Noop("noop" if i == 0 else f"noop-{i + 1}") for i in range(count)]


async def drive(tasks: int, op: Callable[[], Awaitable[bool]], seconds: float,
                max_ops: int) -> tuple[int, int, float]:
    """Run ``op`` in ``tasks`` concurrent loops; returns (done, failed, elapsed s).

    Bounded twice: the loops stop after ``seconds`` or ``max_ops`` operations in all,
    and the whole run is cancelled after ``RUN_TIMEOUT_S``.
    """
    done = failed = 0
    stop_at = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done, failed
        while done + failed < max_ops and time.perf_counter() < stop_at:
            if await op():
                done += 1
            else:
                failed += 1

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(loop() for _ in range(tasks))), RUN_TIMEOUT_S)
    return done, failed, time.perf_counter() - started


async def _reserved(commerce: Any) -> int:
    from sqlalchemy import select

    from omnicore.store.tables import stock_levels

    async with commerce.db.read() as conn:
        return int((await conn.execute(
            select(stock_levels.c.reserved).where(
                stock_levels.c.sku == SKU, stock_levels.c.location_code == LOCATION)
        )).scalar_one())


async def seed(url: str) -> None:
    from omnicore import Commerce

    hours = {"weekly": {d: [{"open": "09:00", "close": "20:00"}]
                        for d in ("mon", "tue", "wed", "thu", "fri", "sat")}}
    async with Commerce.open(url, load_entry_points=False, dispatch=False,
                             auto_migrate=True) as commerce:
        await commerce.locations.save({
            "code": LOCATION, "name": "Central warehouse", "kind": "warehouse",
            "address": {"line1": "5 avenue du Port", "city": "Aubervilliers",
                        "postal_code": "93300", "country": "FR"},
            "geo": {"lat": 48.91, "lng": 2.38}, "timezone": "Europe/Paris",
            "capabilities": ["ship"], "priority": 10,
        })
        await commerce.locations.save({
            "code": STORE, "name": "Paris Rivoli", "kind": "store",
            "address": {"line1": "1 rue de Rivoli", "city": "Paris", "postal_code": "75001",
                        "country": "FR"},
            "geo": {"lat": 48.8606, "lng": 2.3376}, "timezone": "Europe/Paris", "hours": hours,
            "capabilities": ["pickup", "ship_from_store"], "priority": 50,
        })
        await commerce.channels.save({
            "code": CHANNEL, "name": "Web shop", "kind": "web", "currency": "EUR",
            "locations": [{"location": LOCATION, "priority": 0},
                          {"location": STORE, "priority": 1}],
        })
        await commerce.catalog.save_products([{
            "handle": "hot-tee", "title": "Hot tee", "variants": [{"sku": SKU, "title": "M"}],
        }])
        await commerce.stock.set_levels([
            {"sku": SKU, "location": LOCATION, "on_hand": ON_HAND},
            {"sku": SKU, "location": STORE, "on_hand": 100},
        ], source="bench")


# -- one configuration -----------------------------------------------------------------------


@dataclass
class Run:
    ops: int = 0
    failed: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    reserved_ok: bool = True

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        """This process's CPU time per operation (client side: Python, SQLAlchemy, driver)."""
        return self.cpu_seconds * 1000 / self.ops if self.ops else 0.0


@dataclass
class Row:
    backend: str
    consumers: int
    tasks: int
    holds: Run
    floor: Run
    raw: Run | None = None
    statements: dict[str, float] = field(default_factory=dict)


async def _slice(commerce: Any, tasks: int, op: Callable[[], Awaitable[bool]], seconds: float,
                 max_ops: int, into: Run) -> None:
    before = await _reserved(commerce)
    cpu = time.process_time()
    done, failed, elapsed = await drive(tasks, op, seconds, max_ops)
    into.cpu_seconds += time.process_time() - cpu
    into.ops += done
    into.failed += failed
    into.seconds += elapsed
    into.reserved_ok &= await _reserved(commerce) - before == done


async def _interleaved(commerce: Any, tasks: int, ops: list[Callable[[], Awaitable[bool]]],
                       options: argparse.Namespace) -> list[Run]:
    """Warm each op up, then alternate slices of them so load drifts hit all alike."""
    for op in ops:
        await drive(tasks, op, WARMUP_S, max(tasks * 4, 20))
    runs = [Run() for _ in ops]
    rounds = max(1, options.hold_rounds)
    for _ in range(rounds):
        for op, run in zip(ops, runs, strict=True):
            await _slice(commerce, tasks, op, options.hold_seconds / rounds,
                         max(1, options.hold_max // rounds), run)
    return runs


def _hold_op(commerce: Any) -> Callable[[], Awaitable[bool]]:
    from omnicore.errors import OutOfStock

    async def op() -> bool:
        try:
            await commerce.stock.hold(SKU, 1, channel=CHANNEL, location=LOCATION)
        except OutOfStock:
            return False
        return True

    return op


def _floor_op(commerce: Any) -> Callable[[], Awaitable[bool]]:
    from sqlalchemy import text

    statement = text(FLOOR_SQL)
    params = {"s": SKU, "l": LOCATION}

    async def op() -> bool:
        async with commerce.db.transaction() as conn:
            result = await conn.execute(statement, params)
        return bool(result.rowcount)

    return op


async def _raw_asyncpg(url: str, commerce: Any, tasks: int, options: argparse.Namespace) -> Run:
    import asyncpg

    pool = await asyncpg.create_pool(_plain_dsn(url), min_size=tasks, max_size=tasks)
    try:
        async def op() -> bool:
            async with pool.acquire() as conn, conn.transaction():
                status = await conn.execute(RAW_SQL, SKU, LOCATION)
            return bool(status == "UPDATE 1")

        [run] = await _interleaved(commerce, tasks, [op], options)
        return run
    finally:
        await pool.close()


async def count_statements(commerce: Any, op: Callable[[], Awaitable[bool]],
                           times: int = 50) -> tuple[float, float]:
    """Statements and round trips per call of ``op`` (untimed, one task).

    Statements are cursor executes (SQLite's ``BEGIN IMMEDIATE`` is one). Round trips
    add the transaction's COMMIT and, with asyncpg, its BEGIN (not cursor executes);
    on SQLite a "round trip" is a call into aiosqlite's thread.
    """
    from sqlalchemy import event

    counted = {"statements": 0, "trips": 0}
    sqlite = commerce.db.is_sqlite

    def on_execute(*_: Any) -> None:
        counted["statements"] += 1
        counted["trips"] += 1

    def on_begin(*_: Any) -> None:
        counted["trips"] += 0 if sqlite else 1

    def on_commit(*_: Any) -> None:
        counted["trips"] += 1

    engine = commerce.db.engine.sync_engine
    listeners = [("before_cursor_execute", on_execute), ("begin", on_begin),
                 ("commit", on_commit)]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        for _ in range(times):
            await op()
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
    return counted["statements"] / times, counted["trips"] / times


async def _run_config(url: str, backend: str, consumers: int,
                      options: argparse.Namespace) -> list[Row]:
    from omnicore import Commerce

    await seed(url)
    rows = []
    for tasks in _ints(options.hold_concurrency):
        print(f"  stock_holds: {backend}, {consumers} consumer(s), {tasks} task(s) …",
              file=sys.stderr, flush=True)
        async with Commerce.open(url, plugins=noop_consumers(consumers), load_entry_points=False,
                                 dispatch=False, auto_migrate=False,
                                 config={"database": {"pool_size": tasks}}) as commerce:
            floor, holds = await _interleaved(
                commerce, tasks, [_floor_op(commerce), _hold_op(commerce)], options)
            row = Row(backend, consumers, tasks, holds, floor)
            if tasks == 1:
                hold_counts = await count_statements(commerce, _hold_op(commerce))
                floor_counts = await count_statements(commerce, _floor_op(commerce))
                row.statements = {"hold": hold_counts[0], "floor": floor_counts[0],
                                  "hold trips": hold_counts[1], "floor trips": floor_counts[1]}
            if backend == "postgresql":
                # free the engine's connections first: 2 x 64 would pass max_connections
                await commerce.db.engine.dispose()
                row.raw = await _raw_asyncpg(url, commerce, tasks, options)
            rows.append(row)
    return rows


# -- the benchmark ---------------------------------------------------------------------------


def _label(backend: str) -> str:
    return "SQLite file" if backend == "sqlite" else "PostgreSQL"


def run(options: argparse.Namespace) -> Report:
    backends = [b.strip() for b in options.hold_backends.split(",") if b.strip()]
    report = Report(NAME, params={
        "seconds": options.hold_seconds, "max": options.hold_max, "rounds": options.hold_rounds,
        "concurrency": options.hold_concurrency, "backends": backends,
        "consumers": options.hold_consumers, "on_hand": ON_HAND,
    })
    table = Table(
        f"Holds on one hot SKU (1 unit each, on_hand {ON_HAND:,}), "
        f"{options.hold_seconds:g} s per run",
        ["database", "consumers", "tasks", "holds/s", "floor/s", "holds ÷ floor",
         "raw asyncpg/s", "client CPU ms/hold (floor)", "statements/hold (floor)",
         "round trips/hold (floor)",
         "reserved check", "target"],
    )
    if "postgresql" in backends:
        problem = postgres_problem(options.postgres_url)
        if problem:
            report.notes.append(f"PostgreSQL skipped: {problem}")
            backends.remove("postgresql")
    for backend in backends:
        for consumers in _ints(options.hold_consumers):
            async def config(backend: str = backend, consumers: int = consumers) -> list[Row]:
                async with database(backend, options.postgres_url, "holds") as url:
                    return await _run_config(url, backend, consumers, options)

            for row in asyncio.run(config()):
                ratio = row.holds.rate / row.floor.rate if row.floor.rate else 0.0
                runs = [row.holds, row.floor] + ([row.raw] if row.raw else [])
                check = "ok" if all(r.reserved_ok and not r.failed for r in runs) else "✗"
                counts = row.statements
                statements = (f"{counts['hold']:.1f} ({counts['floor']:.1f})"
                              if counts else "")
                trips = (f"{counts['hold trips']:.1f} ({counts['floor trips']:.1f})"
                         if counts else "")
                target = "—"
                if backend == "postgresql":
                    target = f"≥ 50 %: {verdict(ratio >= TARGET_RATIO_PG)}"
                table.add(_label(backend), row.consumers, row.tasks, row.holds.rate,
                          row.floor.rate, f"{ratio:.0%}",
                          row.raw.rate if row.raw else "—",
                          f"{row.holds.cpu_ms:.2f} ({row.floor.cpu_ms:.2f})", statements, trips,
                          check, target)
    report.tables.append(table)
    report.notes.append(
        "floor = one conditional UPDATE per transaction through the Commerce's own "
        "SQLAlchemy async engine (same driver, same pool: aiosqlite / asyncpg); raw asyncpg = "
        "the same UPDATE through a plain asyncpg pool. On SQLite omnicore ignores pool_size "
        "(SQLAlchemy's default pool: 5 + 10 overflow) and writers queue on BEGIN IMMEDIATE. "
        "statements/hold counts cursor executes at 1 task (asyncpg's BEGIN/COMMIT excluded, "
        "SQLite's BEGIN IMMEDIATE included); round trips/hold adds the COMMIT and asyncpg's "
        "BEGIN (on SQLite: calls into aiosqlite's thread). reserved check: reserved grew by "
        "exactly the successful operations and none failed.")
    return report


def main(argv: list[str] | None = None) -> int:
    return run_alone(NAME, __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
