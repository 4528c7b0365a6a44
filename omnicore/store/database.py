"""The database: URL normalisation, the async engine and transactions.

SQLite runs in WAL mode and every write transaction starts with
``BEGIN IMMEDIATE``: writers queue on the file lock (``busy_timeout``) instead
of failing half-way with "database is locked" when a reader upgrades.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from omnicore.errors import InvalidInput

DEFAULT_URL = "sqlite+aiosqlite:///omnicore.db"
SQLITE_BUSY_TIMEOUT_MS = 60_000


def normalise_url(raw: str | None) -> URL:
    """Accept ``postgresql://…``, ``sqlite:///file.db`` or a bare file path."""
    text = raw or DEFAULT_URL
    if "://" not in text:
        text = f"sqlite+aiosqlite:///{text}"
    try:
        url = make_url(text)
    except Exception:
        raise InvalidInput("is not a database URL", field="database.url") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        if url.drivername in ("postgresql+psycopg", "postgresql+psycopg_async"):
            return url.set(drivername="postgresql+psycopg_async")
        return url.set(drivername="postgresql+asyncpg")
    raise InvalidInput(
        f"unsupported database {backend!r} (use SQLite or PostgreSQL)", field="database.url"
    )


def describe(url: URL) -> str:
    """The URL without its password, for logs and messages."""
    return url.render_as_string(hide_password=True)


class Database:
    """One async engine and the transactions opened on it."""

    def __init__(self, url: str | None, *, pool_size: int = 10) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine: AsyncEngine = self._create_engine(pool_size)

    def _create_engine(self, pool_size: int) -> AsyncEngine:
        if not self.is_sqlite:
            # No pre-ping: it costs a round trip on every transaction. A connection that
            # died with a server restart fails one statement, and SQLAlchemy then
            # invalidates the whole pool; connections are also recycled hourly.
            return create_async_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600
            )
        database = self.url.database
        if database and database != ":memory:":
            folder = os.path.dirname(os.path.abspath(database))
            os.makedirs(folder, exist_ok=True)
        engine = create_async_engine(
            self.url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **({"poolclass": NullPool} if database in (None, "", ":memory:") else {}),
        )
        sync_engine = engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _on_begin(connection: Any) -> None:
            # Readers take no lock in WAL mode; writers queue for the lock up front.
            readonly = connection.get_execution_options().get("omnicore_readonly", False)
            connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads only.

        On SQLite, a deferred transaction: one snapshot, without the write lock. On
        PostgreSQL, no transaction at all (autocommit): each statement sees what was
        committed when it started — exactly what READ COMMITTED, omnicore's level, gives
        inside a transaction — and the BEGIN and ROLLBACK round trips are saved.
        """
        async with self.engine.connect() as conn:
            if not self.is_sqlite:
                yield await conn.execution_options(isolation_level="AUTOCOMMIT")
                return
            conn = await conn.execution_options(omnicore_readonly=True)
            async with conn.begin():
                yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({describe(self.url)!r})"
