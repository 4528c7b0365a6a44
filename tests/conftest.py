"""Shared fixtures: a real SQLite file and a real PostgreSQL database per test.

PostgreSQL comes from ``OMNICORE_TEST_POSTGRES_URL``; without it, a local server
at 127.0.0.1:5432 is used if it answers. When the variable is set (as CI sets it)
and the server does not answer, PostgreSQL tests fail instead of skipping.

The server may be shared with other clients, so the suite is polite:

- every database it creates is named ``omnicore_<kind>_<run>_<random>``
  (``tpl`` the migrated template, ``t`` a test's copy of it, ``e`` an empty one),
  and when the session ends every database of this run that is left — a test
  whose teardown failed, a fixture interrupted — is dropped;
- tests that open many connections size their pools from the connections the
  server has free when the session starts (``pool_size_for``), so the suite
  passes on a server with ``max_connections = 100`` of which half are taken.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from helpers.hook_coverage import plugin_hooks_exercised  # noqa: F401  (autouse fixture)
from sqlalchemy.engine import make_url

from omnicore.testing import FakeClock

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
T = TypeVar("T")
#: this run's mark in the names of the databases it creates
RUN_ID = uuid.uuid4().hex[:8]
#: connections left to other clients (and to psql) beyond those in use at start
SPARE_CONNECTIONS = 10


def database_name(kind: str) -> str:
    """A name for a database of this run: ``omnicore_<kind>_<run>_<random>``."""
    return f"omnicore_{kind}_{RUN_ID}_{uuid.uuid4().hex[:8]}"


def _admin_dsn() -> tuple[str | None, bool]:
    explicit = os.environ.get("OMNICORE_TEST_POSTGRES_URL")
    return (explicit or LOCAL_POSTGRES), bool(explicit)


def _run_in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on a loop of its own, even from inside a running loop
    (a session fixture first requested by an async test)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _pg_fetch(dsn: str, query: str) -> list[tuple[object, ...]]:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return [tuple(row) for row in await conn.fetch(query)]
    finally:
        await conn.close()


async def _drop_run_databases(dsn: str) -> list[str]:
    """Drop every database this run created that still exists; returns their names."""
    left = await _pg_fetch(
        dsn, "SELECT datname FROM pg_database WHERE datname LIKE 'omnicore\\_%' "
             f"AND datname LIKE '%\\_{RUN_ID}\\_%'")
    names = [str(row[0]) for row in left]
    for name in names:
        await _pg_execute(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return names


async def _pg_execute(dsn: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _with_database(dsn: str, name: str) -> str:
    return make_url(dsn).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[str]:
    """The maintenance DSN; skips (locally) or fails (when required) if unreachable.

    When the session ends, every database this run created and left is dropped.
    """
    dsn, required = _admin_dsn()
    try:
        asyncio.run(_pg_execute(dsn, "SELECT 1"))
    except Exception as exc:
        if required:
            pytest.fail(f"PostgreSQL at OMNICORE_TEST_POSTGRES_URL is unreachable: {exc}")
        pytest.skip(f"no local PostgreSQL ({exc}); set OMNICORE_TEST_POSTGRES_URL")
    yield dsn
    asyncio.run(_drop_run_databases(dsn))


@pytest.fixture(scope="session")
def postgres_free_connections(postgres_admin: str) -> int:
    """Connections this run may open: ``max_connections`` less the reserved ones, those
    other clients hold when the session starts, and ``SPARE_CONNECTIONS``."""
    rows = _run_in_thread(_pg_fetch(postgres_admin, (
        "SELECT current_setting('max_connections')::int, "
        "current_setting('superuser_reserved_connections')::int, "
        "(SELECT count(*) FROM pg_stat_activity)::int")))
    maximum, reserved, in_use = (int(str(v)) for v in rows[0])
    return max(maximum - reserved - in_use - SPARE_CONNECTIONS, 4)


@pytest.fixture
def pool_size_for(request: pytest.FixtureRequest) -> Callable[[str, int, int], int]:
    """``pool_size_for(url, instances, wanted)``: the ``[database] pool_size`` for each of
    ``instances`` Commerce objects (or processes) opened at once on ``url``.

    On SQLite it is ``wanted``; on PostgreSQL it is at most ``wanted`` and small
    enough that every pool filled to its overflow (``2 x pool_size``, one more for
    a process's own connection) fits in ``postgres_free_connections``, and at least 1.
    """

    def size(url: str, instances: int, wanted: int) -> int:
        if not url.startswith("postgresql"):
            return wanted
        free = int(request.getfixturevalue("postgres_free_connections"))
        return max(1, min(wanted, (free // instances - 1) // 2))

    return size


@pytest.fixture(scope="session")
def postgres_template(postgres_admin: str) -> Iterator[str]:
    """A database migrated once, cloned for each test."""
    from omnicore.store.database import Database
    from omnicore.store.migrate import upgrade

    name = database_name("tpl")
    asyncio.run(_pg_execute(postgres_admin, f'CREATE DATABASE "{name}"'))

    async def migrate() -> None:
        db = Database(_with_database(postgres_admin, name))
        await upgrade(db)
        await db.dispose()

    asyncio.run(migrate())
    yield name
    asyncio.run(_pg_execute(postgres_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def postgres_url(postgres_admin: str, postgres_template: str) -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    name = database_name("t")
    await _pg_execute(postgres_admin, f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    yield _with_database(postgres_admin, name)
    await _pg_execute(postgres_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def empty_postgres_url(postgres_admin: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database with no schema at all."""
    name = database_name("e")
    await _pg_execute(postgres_admin, f'CREATE DATABASE "{name}"')
    yield _with_database(postgres_admin, name)
    await _pg_execute(postgres_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/omnicore.db"  # type: ignore[str-bytes-safe]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on a SQLite file and once on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def commerce(db_url: str, clock: FakeClock) -> AsyncIterator[object]:
    """A Commerce on a fresh database, no entry-point plugins, no background dispatch."""
    from omnicore import Commerce

    async with Commerce.open(
        db_url, clock=clock, dispatch=False, load_entry_points=False, auto_migrate=True,
        config={"database": {"pool_size": 5}},
    ) as instance:
        yield instance
