"""The database: URL normalisation, the async engine and transactions.

SQLite runs in WAL mode and every write transaction starts with
``BEGIN IMMEDIATE``: writers queue on the file lock (``busy_timeout``) instead
of failing half-way with "database is locked" when a reader upgrades.

SQLite reads of a database file run inline, on the event loop's thread, over a
synchronous engine of their own. A statement through aiosqlite costs four
hand-offs to its thread (cursor, execute, fetch, close: ~470 µs of CPU here)
where the same statement inline costs ~100 µs (SQLAlchemy's share; sqlite3
itself ~30 µs); in
WAL mode a reader never waits for a writer, so an inline read cannot stall the
loop behind a lock. Writes keep aiosqlite: they may queue for the write lock,
and that wait must not block the loop.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, QueuePool

from omnicore.errors import DatabaseUnavailable, InvalidInput
from omnicore.store.reads import ReadScope, SharedReadConnection

DEFAULT_URL = "sqlite+aiosqlite:///omnicore.db"
SQLITE_BUSY_TIMEOUT_MS = 60_000
#: inline readers wait at most this for a lock (WAL readers take none but in recovery)
SQLITE_READ_BUSY_TIMEOUT_MS = 2_000
#: idle inline-read connections kept open (more are opened, never waited for)
SQLITE_READ_POOL_SIZE = 32


#: what a bare path (no ``scheme://``) must end with to be taken for a SQLite file
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def normalise_url(raw: str | None) -> URL:
    """Accept ``postgresql://…``, ``sqlite:///file.db`` or a bare path ending in ``.db``,
    ``.sqlite`` or ``.sqlite3``; anything else is refused (``InvalidInput`` on
    ``database.url``) rather than taken for a file name."""
    text = raw or DEFAULT_URL
    if "://" not in text:
        if not text.lower().endswith(SQLITE_SUFFIXES) or not text.strip():
            raise InvalidInput(
                f"{text!r} is neither a database URL (postgresql://user@host/db, "
                "sqlite:///file.db) nor a SQLite file path ending in .db or .sqlite",
                field="database.url")
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


#: PostgreSQL SQLSTATEs of a connection refused by the server, with what to do
_REFUSALS = {
    "3D000": "database {database!r} does not exist on {where}: create it "
             "(createdb -h {host} -p {port} {database}) or fix the URL",
    "28000": "PostgreSQL at {where} refused the role {user!r}: create the role or fix "
             "the user in the URL",
    "28P01": "PostgreSQL at {where} refused the password of {user!r}: fix the URL",
    "53300": "PostgreSQL at {where} has no connection left (too many clients): lower "
             "[database] pool_size or raise max_connections",
    "57P03": "PostgreSQL at {where} is starting up or shutting down: try again",
}


def connection_problem(exc: BaseException, url: URL) -> DatabaseUnavailable | None:
    """What went wrong opening ``url``, as a one-line ``DatabaseUnavailable`` saying what to
    do, when ``exc`` (or its cause) is a connection failure; None for anything else."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    host, port = url.host or "localhost", url.port or 5432
    facts = {"database": url.database or "", "user": url.username or "", "host": host,
             "port": port, "where": f"{host}:{port}"}
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        problem = _explain(current, url, facts)
        if problem is not None:
            return DatabaseUnavailable(problem, field="database.url")
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None


def _explain(exc: BaseException, url: URL, facts: dict[str, Any]) -> str | None:
    import socket

    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(state, str) and state in _REFUSALS:
        return _REFUSALS[state].format(**facts)
    if isinstance(exc, ModuleNotFoundError) and exc.name in ("asyncpg", "psycopg"):
        return (f"PostgreSQL support is not installed (no module {exc.name!r}): "
                "pip install 'omnicore[postgres]'")
    if isinstance(exc, socket.gaierror):
        return f"unknown host {facts['host']!r}: fix the host in the database URL"
    if isinstance(exc, ConnectionRefusedError):
        return (f"nothing answers at {facts['where']}: is PostgreSQL running at "
                f"{facts['where']}?")
    if isinstance(exc, TimeoutError):
        return f"PostgreSQL at {facts['where']} did not answer in time: is it reachable?"
    if url.get_backend_name() == "sqlite" and "unable to open database file" in str(exc):
        return (f"cannot open the SQLite file {url.database}: check the path and its "
                "permissions")
    return None


class Database:
    """One async engine and the transactions opened on it."""

    def __init__(self, url: str | None, *, pool_size: int = 10,
                 prepared_reads: bool = True) -> None:
        self.url = normalise_url(url)
        #: ``[database] prepared_reads``: ``PreparedSelect`` statements run on the driver
        #: (``omnicore.store.prepared``); ``False``: through SQLAlchemy, as every statement
        self.prepared_reads = prepared_reads
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine: AsyncEngine = self._create_engine(pool_size)
        self.inline_reads: Engine | None = self._create_read_engine()
        self._shared: ContextVar[SharedReadConnection | None] = ContextVar(
            f"omnicore_shared_read_{id(self)}", default=None)

    def _create_engine(self, pool_size: int) -> AsyncEngine:
        if not self.is_sqlite:
            # No pre-ping: it costs a round trip on every transaction. A connection that
            # died with a server restart fails one statement, and SQLAlchemy then
            # invalidates the whole pool; connections are also recycled hourly.
            try:
                return create_async_engine(
                    self.url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600
                )
            except ModuleNotFoundError as exc:
                raise DatabaseUnavailable(
                    f"PostgreSQL support is not installed (no module {exc.name!r}): "
                    "pip install 'omnicore[postgres]'", field="database.url") from None
        database = self.url.database
        if database and database != ":memory:":
            folder = os.path.dirname(os.path.abspath(database))
            if not os.path.isdir(folder):  # never create folders behind the user's back
                raise DatabaseUnavailable(
                    f"cannot create the SQLite file {database}: the folder {folder} does not "
                    "exist (create it, or choose another path)", field="database.url")
        engine = create_async_engine(
            self.url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **({"poolclass": NullPool} if database in (None, "", ":memory:") else {}),
        )
        sync_engine = engine.sync_engine

        _prepare_sqlite(sync_engine, SQLITE_BUSY_TIMEOUT_MS)
        return engine

    def _create_read_engine(self) -> Engine | None:
        """The synchronous engine of inline SQLite reads (a database file only)."""
        if not self.is_sqlite or self.url.database in (None, "", ":memory:"):
            return None
        engine = create_engine(
            self.url.set(drivername="sqlite+pysqlite"),
            connect_args={"timeout": SQLITE_READ_BUSY_TIMEOUT_MS / 1000},
            # Never wait for a connection: a wait would block the event loop.
            poolclass=QueuePool, pool_size=SQLITE_READ_POOL_SIZE, max_overflow=-1,
        )
        _prepare_sqlite(engine, SQLITE_READ_BUSY_TIMEOUT_MS)
        return engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        async with self.engine.begin() as conn:
            yield conn

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reads only: ``async with db.read() as conn``.

        On SQLite, a deferred transaction: one snapshot, without the write lock. On
        PostgreSQL, no transaction at all (autocommit): each statement sees what was
        committed when it started — exactly what READ COMMITTED, omnicore's level, gives
        inside a transaction — and the BEGIN and ROLLBACK round trips are saved.
        Inside ``shared_reads()``, the scope's connection.
        """
        return ReadScope(self)

    def sync_engines(self) -> list[Engine]:
        """The engines statements run on (for SQLAlchemy events): the async engine's,
        and the inline SQLite reads' when there is one."""
        engines = [self.engine.sync_engine]
        if self.inline_reads is not None:
            engines.append(self.inline_reads)
        return engines

    def shared_connection(self) -> SharedReadConnection | None:
        """The connection of the ``shared_reads()`` scope the caller is in, if any."""
        return self._shared.get()

    @asynccontextmanager
    async def shared_reads(self) -> AsyncIterator[None]:
        """Within this scope (and the tasks it starts), every ``read()`` shares one
        connection — on SQLite one snapshot: a GraphQL query's resolvers make one
        read transaction instead of one each. Only for work that does not write:
        a read after a write in the same scope would not see it on SQLite.
        """
        if self._shared.get() is not None:
            yield
            return
        async with ReadScope(self, shareable=False) as conn:
            token = self._shared.set(SharedReadConnection(conn, prepared=self.prepared_reads))
            try:
                yield
            finally:
                self._shared.reset(token)

    @asynccontextmanager
    async def connect_async_for_reads(self) -> AsyncIterator[AsyncConnection]:
        """A read connection of the async engine (PostgreSQL; SQLite in memory)."""
        async with self.engine.connect() as conn:
            if not self.is_sqlite:
                yield await conn.execution_options(isolation_level="AUTOCOMMIT")
                return
            conn = await conn.execution_options(omnicore_readonly=True)
            async with conn.begin():
                yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.inline_reads is not None:
            self.inline_reads.dispose()

    def __repr__(self) -> str:
        return f"Database({describe(self.url)!r})"


def _prepare_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, the busy timeout, foreign keys, and our own BEGIN on every connection."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers take no lock in WAL mode; writers queue for the lock up front.
        readonly = connection.get_execution_options().get("omnicore_readonly", False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")
