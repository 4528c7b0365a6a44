"""Read connections: inline SQLite reads, shared reads, and the ``db.read()`` scope.

``Database.read()`` is entered on every read of every service, so its scope is
a plain class rather than an ``@asynccontextmanager`` generator (each of which
costs an async generator, registered with the event loop, per read).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError

from omnicore.store.prepared import PreparedSelect, before_cursor_execute

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from sqlalchemy import Connection, RootTransaction
    from sqlalchemy.ext.asyncio import AsyncConnection

    from omnicore.store.database import Database

__all__ = ["InlineReadConnection", "ReadScope", "SharedReadConnection"]


class InlineReadConnection:
    """A synchronous SQLite connection behind the ``await conn.execute(...)`` of reads.

    The statement runs at once on the caller's thread (the event loop's) and its
    rows are read there; ``dialect`` and the rest are the connection's own. With
    ``prepared=False`` (``[database] prepared_reads = false``) a ``PreparedSelect``
    runs through SQLAlchemy like any statement.
    """

    def __init__(self, conn: Connection, *, prepared: bool = True) -> None:
        self._conn = conn
        self._prepared = prepared

    async def execute(self, statement: Any, parameters: Any = None, **kwargs: Any) -> Any:
        return self._conn.execute(statement, parameters, **kwargs)

    async def prepared_rows(self, prepared: PreparedSelect, params: Mapping[str, Any]
                            ) -> list[tuple[Any, ...]] | None:
        """``prepared``'s rows, run on the ``sqlite3`` connection itself; ``None`` when
        prepared reads are off."""
        if not self._prepared:
            return None
        conn = self._conn
        compiled = prepared.form(conn.dialect, params)
        arguments = compiled.arguments(params)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            before_cursor_execute(conn, cursor, compiled, arguments)
            rows: list[tuple[Any, ...]] = cursor.execute(compiled.sql, arguments).fetchall()
        except conn.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(compiled.sql, arguments, exc,
                                      conn.dialect.loaded_dbapi.Error) from exc
        finally:
            cursor.close()
        return rows

    async def run_sync(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``function(connection, *args, **kwargs)``, as ``AsyncConnection`` does."""
        return function(self._conn, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class SharedReadConnection:
    """One read connection shared by the concurrent readers of one scope.

    SQLAlchemy's connections take one statement at a time: a lock queues the
    statements of concurrent resolvers. ``execute`` buffers every row, so the lock
    is held for one statement only. Anything else is the connection's own.
    """

    def __init__(self, conn: AsyncConnection, *, prepared: bool = True) -> None:
        self._conn = conn
        self._prepared = prepared
        self._lock = asyncio.Lock()
        self._asyncpg: Any = None

    async def execute(self, statement: Any, parameters: Any = None, **kwargs: Any) -> Any:
        async with self._lock:
            return await self._conn.execute(statement, parameters, **kwargs)

    async def prepared_rows(self, prepared: PreparedSelect, params: Mapping[str, Any]
                            ) -> list[tuple[Any, ...]] | None:
        """``prepared``'s rows on the driver: the inline SQLite connection's, or asyncpg
        (the connection reads in autocommit); ``None`` elsewhere (SQLite in memory) and
        when prepared reads are off."""
        if not self._prepared:
            return None
        async with self._lock:
            inline = getattr(self._conn, "prepared_rows", None)
            if inline is not None:
                found: list[tuple[Any, ...]] | None = await inline(prepared, params)
                return found
            if self._conn.dialect.driver != "asyncpg":
                return None
            if self._asyncpg is None:
                self._asyncpg = (await self._conn.get_raw_connection()).driver_connection
            compiled = prepared.form(self._conn.dialect, params)
            arguments = compiled.arguments(params)
            before_cursor_execute(self._conn.sync_connection, None, compiled, arguments)
            try:
                records = await self._asyncpg.fetch(compiled.sql, *arguments)
            except Exception as exc:
                raise DBAPIError(compiled.sql, arguments, exc) from exc
            return [tuple(record) for record in records]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class ReadScope:
    """``async with db.read() as conn``: the shared connection of a ``shared_reads()``
    scope, else an inline SQLite read transaction, else an async-engine connection."""

    __slots__ = ("_async", "_db", "_inline", "_shareable")

    def __init__(self, db: Database, *, shareable: bool = True) -> None:
        self._db = db
        self._shareable = shareable
        self._inline: tuple[Connection, RootTransaction] | None = None
        self._async: AbstractAsyncContextManager[AsyncConnection] | None = None

    async def __aenter__(self) -> AsyncConnection:
        if self._shareable:
            shared = self._db.shared_connection()
            if shared is not None:
                return shared  # type: ignore[return-value]
        engine = self._db.inline_reads
        if engine is not None:
            conn = engine.connect()
            try:
                conn.execution_options(omnicore_readonly=True)
                self._inline = (conn, conn.begin())
            except BaseException:
                conn.close()
                raise
            # Duck-typed: reads use ``execute``, ``run_sync`` and ``dialect`` only.
            return InlineReadConnection(  # type: ignore[return-value]
                conn, prepared=self._db.prepared_reads)
        self._async = self._db.connect_async_for_reads()
        return await self._async.__aenter__()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> bool | None:
        if self._inline is not None:
            conn, transaction = self._inline
            self._inline = None
            try:
                transaction.rollback()  # nothing was written: the snapshot just ends
            finally:
                conn.close()
            return None
        if self._async is not None:
            scope, self._async = self._async, None
            return await scope.__aexit__(kind, error, trace)
        return None
