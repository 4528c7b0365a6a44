"""Read connections: inline SQLite reads, ``shared_reads()``, ``db.read()`` and ``uow.read()``.

On a SQLite file and on PostgreSQL. A table of its own (``probe``) keeps these
tests independent of the schema; ``uow.read()`` is tested through a ``Commerce``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, inspect, text

from omnicore import Commerce
from omnicore.store.database import Database
from omnicore.store.reads import InlineReadConnection, SharedReadConnection

SELECT_NOTES = text("SELECT note FROM probe ORDER BY id")
SELECT_NOTE = text("SELECT note FROM probe WHERE id = :id")
INSERT = text("INSERT INTO probe (id, note) VALUES (:id, :note)")


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    async with database.transaction() as conn:
        await conn.execute(text(
            "CREATE TABLE probe (id INTEGER PRIMARY KEY, note VARCHAR(40) NOT NULL)"))
        await conn.execute(INSERT, [{"id": 1, "note": "one"}, {"id": 2, "note": "two"}])
    yield database
    await database.dispose()


@contextmanager
def recording(engine: Engine) -> Iterator[list[str]]:
    """The statements run on ``engine`` inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def notes(db: Database) -> list[str]:
    async with db.read() as conn:
        return list((await conn.execute(SELECT_NOTES)).scalars())


def read_pool_checked_out(db: Database) -> int:
    """Connections checked out of the pool reads come from (inline on a SQLite file)."""
    if db.inline_reads is not None:
        return db.inline_reads.pool.checkedout()  # type: ignore[attr-defined,no-any-return]
    return db.engine.pool.checkedout()  # type: ignore[attr-defined,no-any-return]


# -- inline SQLite reads -------------------------------------------------------------------


async def test_sqlite_file_reads_run_inline_and_writes_on_the_async_engine(
        sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        assert db.inline_reads is not None
        assert db.sync_engines() == [db.engine.sync_engine, db.inline_reads]
        async with db.transaction() as conn:
            await conn.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY, note TEXT)"))

        with recording(db.inline_reads) as inline, recording(db.engine.sync_engine) as writes:
            async with db.read() as conn:
                assert isinstance(conn, InlineReadConnection)
                assert conn.dialect.name == "sqlite"
                assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
                assert db.inline_reads.pool.checkedout() == 1  # type: ignore[attr-defined]
                assert (await conn.execute(SELECT_NOTES)).all() == []
        assert inline == ["BEGIN", str(SELECT_NOTES)]  # deferred: no write lock
        assert writes == []
        assert db.inline_reads.pool.checkedout() == 0  # type: ignore[attr-defined]

        with recording(db.inline_reads) as inline, recording(db.engine.sync_engine) as writes:
            async with db.transaction() as conn:
                await conn.execute(INSERT, {"id": 1, "note": "one"})
        assert inline == []
        assert len(writes) == 2 and writes[0] == "BEGIN IMMEDIATE"
        assert writes[1].startswith("INSERT INTO probe")

        with recording(db.inline_reads) as inline, recording(db.engine.sync_engine) as writes:
            assert await notes(db) == ["one"]
        assert len(inline) == 2 and writes == []
    finally:
        await db.dispose()


@pytest.fixture(params=["sqlite-memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def no_file_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite-memory":
        return "sqlite+aiosqlite:///:memory:"
    return str(request.getfixturevalue("postgres_url"))


async def test_no_inline_engine_without_a_sqlite_file(no_file_url: str) -> None:
    db = Database(no_file_url)
    try:
        assert db.inline_reads is None
        assert db.sync_engines() == [db.engine.sync_engine]
        with recording(db.engine.sync_engine) as statements:
            async with db.read() as conn:
                assert not isinstance(conn, InlineReadConnection)
                assert (await conn.execute(text("SELECT 7"))).scalar() == 7
        assert statements[-1] == "SELECT 7"
        # PostgreSQL reads in autocommit: no BEGIN; SQLite in memory: a deferred one
        assert statements[:-1] == (["BEGIN"] if db.is_sqlite else [])
        if not db.is_sqlite:  # (SQLite in memory: NullPool, nothing is kept)
            assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await db.dispose()


async def test_a_reader_does_not_wait_for_a_writer_nor_see_its_uncommitted_rows(
        db: Database) -> None:
    async with db.transaction() as conn:
        if db.is_sqlite:
            # a page cache too small for the write: it spills to the file, which, out of WAL
            # mode, takes the lock that keeps readers out until the commit
            await conn.execute(text("PRAGMA cache_size=2"))
        await conn.execute(INSERT, {"id": 3, "note": "three"})
        await conn.execute(INSERT, [{"id": 100 + i, "note": f"{i:040d}"} for i in range(2000)])
        # the writer holds the write lock (BEGIN IMMEDIATE on SQLite) and has not committed:
        # a read on the same event loop completes at once (it would fail with "database is
        # locked" after the busy timeout if it waited) and sees the committed rows only
        assert await notes(db) == ["one", "two"]
        assert (await conn.execute(SELECT_NOTES)).scalars().all()[:3] == ["one", "two", "three"]
    assert (await notes(db))[:3] == ["one", "two", "three"]


async def test_a_rolled_back_write_is_never_seen(db: Database) -> None:
    with pytest.raises(LookupError):
        async with db.transaction() as conn:
            await conn.execute(INSERT, {"id": 3, "note": "three"})
            raise LookupError("give up")
    assert await notes(db) == ["one", "two"]


# -- shared reads ---------------------------------------------------------------------------


async def test_concurrent_reads_of_a_shared_scope_use_one_connection(db: Database) -> None:
    connections: list[Any] = []

    async def read_note(row_id: int) -> str:
        async with db.read() as conn:
            connections.append(conn)
            note: str = (await conn.execute(SELECT_NOTE, {"id": row_id})).scalar_one()
            return note

    events: list[str] = []

    def before(*_: Any) -> None:
        events.append("before")

    def after(*_: Any) -> None:
        events.append("after")

    engines = db.sync_engines()
    async with db.shared_reads():
        shared = db.shared_connection()
        assert isinstance(shared, SharedReadConnection)
        for engine in engines:
            event.listen(engine, "before_cursor_execute", before)
            event.listen(engine, "after_cursor_execute", after)
        try:
            found = await asyncio.gather(*(read_note(1 + i % 2) for i in range(10)))
        finally:
            for engine in engines:
                event.remove(engine, "before_cursor_execute", before)
                event.remove(engine, "after_cursor_execute", after)
        # the scope's lock runs one statement at a time on the connection: one ends before
        # the next starts (SQLAlchemy's connections are not for concurrent statements)
        assert events == ["before", "after"] * 10
        assert found == ["one", "two"] * 5
        assert len(connections) == 10 and all(conn is shared for conn in connections)
        assert read_pool_checked_out(db) == 1
    assert db.shared_connection() is None
    assert read_pool_checked_out(db) == 0

    connections.clear()
    assert list(await asyncio.gather(read_note(1), read_note(2))) == ["one", "two"]
    assert connections[0] is not connections[1]
    assert not any(isinstance(conn, SharedReadConnection) for conn in connections)


async def test_separate_reads_outside_a_scope_have_their_own_connections(
        db: Database) -> None:
    async with db.read() as first, db.read() as second:
        assert first is not second
        assert read_pool_checked_out(db) == 2
        assert (await first.execute(SELECT_NOTE, {"id": 1})).scalar() == "one"
        assert (await second.execute(SELECT_NOTE, {"id": 2})).scalar() == "two"
    assert read_pool_checked_out(db) == 0


async def test_a_shared_scope_is_one_snapshot_on_sqlite_and_autocommit_on_postgres(
        db: Database) -> None:
    async with db.shared_reads():
        assert await notes(db) == ["one", "two"]  # the first read (SQLite: takes the snapshot)
        async with db.transaction() as conn:  # a writer commits meanwhile
            await conn.execute(INSERT, {"id": 3, "note": "three"})
        later = await notes(db)
        if db.is_sqlite:
            assert later == ["one", "two"]  # one read transaction: the scope's snapshot
        else:
            assert later == ["one", "two", "three"]  # each statement sees what is committed
    assert await notes(db) == ["one", "two", "three"]  # after the scope: its own read


async def test_a_nested_scope_reuses_the_outer_one_and_the_scope_is_reset(
        db: Database) -> None:
    assert db.shared_connection() is None
    async with db.shared_reads():
        outer: Any = db.shared_connection()
        assert outer is not None
        async with db.shared_reads():
            assert db.shared_connection() is outer
            async with db.read() as conn:
                assert conn is outer
            assert read_pool_checked_out(db) == 1  # the inner scope opened no connection
        assert db.shared_connection() is outer  # leaving the inner scope keeps the outer's
        async with db.read() as conn:
            assert conn is outer
    assert db.shared_connection() is None
    async with db.read() as conn:
        assert conn is not outer
        assert not isinstance(conn, SharedReadConnection)
        assert (await conn.execute(SELECT_NOTE, {"id": 2})).scalar() == "two"
    assert read_pool_checked_out(db) == 0


async def test_an_error_in_a_shared_scope_propagates_and_releases_the_connection(
        db: Database) -> None:
    error = LookupError("in the scope")
    with pytest.raises(LookupError) as raised:
        async with db.shared_reads():
            async with db.read() as conn:
                await conn.execute(SELECT_NOTES)
            raise error
    assert raised.value is error
    assert db.shared_connection() is None
    assert read_pool_checked_out(db) == 0
    assert await notes(db) == ["one", "two"]


async def test_a_scope_is_per_task_context(db: Database) -> None:
    """A task started outside the scope does not share its connection."""
    started = asyncio.Event()
    release = asyncio.Event()
    outside: list[Any] = []

    async def reader() -> None:
        started.set()
        await release.wait()
        async with db.read() as conn:
            outside.append(conn)
            assert (await conn.execute(SELECT_NOTE, {"id": 1})).scalar() == "one"

    task = asyncio.ensure_future(reader())
    await started.wait()
    async with db.shared_reads():
        shared = db.shared_connection()
        release.set()
        await task
    assert outside and outside[0] is not shared
    assert not isinstance(outside[0], SharedReadConnection)


# -- run_sync -------------------------------------------------------------------------------


async def test_run_sync_on_read_connections(db: Database) -> None:
    def tables(connection: Connection, prefix: str) -> list[str]:
        assert isinstance(connection, Connection)  # a synchronous connection, as Alembic wants
        return [name for name in inspect(connection).get_table_names()
                if name.startswith(prefix)]

    async with db.read() as conn:
        assert await conn.run_sync(tables, "probe") == ["probe"]
    async with db.shared_reads(), db.read() as conn:
        assert isinstance(conn, SharedReadConnection)
        assert await conn.run_sync(tables, prefix="probe") == ["probe"]
        assert (await conn.execute(SELECT_NOTE, {"id": 1})).scalar() == "one"
    assert read_pool_checked_out(db) == 0


# -- uow.read() -----------------------------------------------------------------------------


async def test_emitting_in_a_read_is_an_error(commerce: Commerce) -> None:
    db = commerce.db
    with pytest.raises(RuntimeError, match="read-only"):
        async with commerce.uow.read() as tx:
            assert tx.now == commerce.clock()
            assert (await tx.conn.execute(text("SELECT 1"))).scalar() == 1
            tx.emit("product.updated", {"handle": "nope"})
    assert read_pool_checked_out(db) == 0
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM outbox_events"))).scalar() == 0

    async with commerce.uow.read() as tx:  # no event: no error
        assert (await tx.conn.execute(text("SELECT 2"))).scalar() == 2


@pytest.mark.parametrize("emit", [False, True], ids=["plain", "after-emit"])
async def test_an_error_in_a_read_propagates_unchanged_and_releases_the_connection(
        commerce: Commerce, emit: bool) -> None:
    db = commerce.db
    before = read_pool_checked_out(db)
    error = KeyError("from the reader")
    with pytest.raises(KeyError) as raised:
        async with commerce.uow.read() as tx:
            await tx.conn.execute(text("SELECT 1"))
            assert read_pool_checked_out(db) == before + 1  # the pool the read came from
            if emit:
                tx.emit("product.updated", {})  # the reader's error wins over the emit check
            raise error
    assert raised.value is error
    assert read_pool_checked_out(db) == before
    if db.inline_reads is not None:
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_failed_statement_in_a_read_releases_the_connection(db: Database) -> None:
    with pytest.raises(Exception, match=r"(?i)no_such_table|does not exist"):
        async with db.read() as conn:
            await conn.execute(text("SELECT * FROM no_such_table"))
    assert read_pool_checked_out(db) == 0
    assert await notes(db) == ["one", "two"]  # the pool's connections still work
