"""Shared fixtures: a real SQLite file and a real PostgreSQL database per test.

PostgreSQL comes from ``OMNICORE_TEST_POSTGRES_URL``; without it, a local server
at 127.0.0.1:5432 is used if it answers. When the variable is set (as CI sets it)
and the server does not answer, PostgreSQL tests fail instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.engine import make_url

from omnicore.testing import FakeClock

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def _admin_dsn() -> tuple[str | None, bool]:
    explicit = os.environ.get("OMNICORE_TEST_POSTGRES_URL")
    return (explicit or LOCAL_POSTGRES), bool(explicit)


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
def postgres_admin() -> str:
    """The maintenance DSN; skips (locally) or fails (when required) if unreachable."""
    dsn, required = _admin_dsn()
    try:
        asyncio.run(_pg_execute(dsn, "SELECT 1"))
    except Exception as exc:
        if required:
            pytest.fail(f"PostgreSQL at OMNICORE_TEST_POSTGRES_URL is unreachable: {exc}")
        pytest.skip(f"no local PostgreSQL ({exc}); set OMNICORE_TEST_POSTGRES_URL")
    return dsn


@pytest.fixture(scope="session")
def postgres_template(postgres_admin: str) -> Iterator[str]:
    """A database migrated once, cloned for each test."""
    from omnicore.store.database import Database
    from omnicore.store.migrate import upgrade

    name = f"omnicore_tpl_{uuid.uuid4().hex[:8]}"
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
    name = f"omnicore_t_{uuid.uuid4().hex[:10]}"
    await _pg_execute(postgres_admin, f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    yield _with_database(postgres_admin, name)
    await _pg_execute(postgres_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def empty_postgres_url(postgres_admin: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database with no schema at all."""
    name = f"omnicore_e_{uuid.uuid4().hex[:10]}"
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
