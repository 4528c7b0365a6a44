"""``PreparedSelect``: the hottest reads on the driver itself, with SQLAlchemy's answers.

On a SQLite file (inline reads, shared or not), on PostgreSQL (asyncpg in a shared
read; SQLAlchemy elsewhere) and in write transactions (SQLAlchemy). Every answer is
compared with the same statement run through SQLAlchemy on the same connection.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    select,
)
from sqlalchemy.exc import DBAPIError

from omnicore.store.database import Database
from omnicore.store.prepared import PreparedSelect
from omnicore.store.reads import InlineReadConnection, SharedReadConnection
from omnicore.store.types import UTCDateTime
from omnicore.testing import counting_statements

metadata = MetaData()
items = Table(
    "prepared_items", metadata,
    Column("id", Integer, primary_key=True),
    Column("sku", String(20), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
ROWS = [{"id": i, "sku": f"SKU-{i % 7}", "quantity": i, "expires_at": T0 + dt.timedelta(
    microseconds=i)} for i in range(1, 41)]

# a list, a datetime bound through UTCDateTime, and a constant of the statement (0)
BY_SKUS = select(
    items.c.sku,
    func.coalesce(func.sum(items.c.quantity), 0).label("live"),
).where(
    items.c.sku.in_(bindparam("skus", expanding=True, type_=String())),
    items.c.expires_at > bindparam("now", type_=UTCDateTime),
).group_by(items.c.sku).order_by(items.c.sku)
PREPARED = PreparedSelect(BY_SKUS, lists=("skus",))


class _Commerce:
    """What ``counting_statements`` reads of a ``Commerce``."""

    def __init__(self, db: Database) -> None:
        self.db = db


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    async with database.transaction() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(items.insert(), ROWS)
    yield database
    await database.dispose()


async def through_sqlalchemy(conn: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in (await conn.execute(BY_SKUS, params)).all()]


@pytest.mark.parametrize("count", [1, 2, 3, 5, 7, 9])
async def test_rows_are_sqlalchemys_for_every_list_length(db: Database, count: int) -> None:
    params = {"skus": [f"SKU-{i}" for i in range(count)] + ["NONE"],
              "now": T0 + dt.timedelta(microseconds=20)}
    async with db.shared_reads(), db.read() as conn:
        expected = await through_sqlalchemy(conn, params)
        assert await PREPARED.rows(conn, params) == expected
    async with db.read() as conn:  # not shared: inline on SQLite, SQLAlchemy on PostgreSQL
        assert await PREPARED.rows(conn, params) == expected
    assert expected  # the comparison compared rows
    assert all(isinstance(row, tuple) for row in expected)


async def test_the_datetime_is_bound_as_sqlalchemy_binds_it(db: Database) -> None:
    """An expiry one microsecond either side of ``now`` counts, or does not."""
    params = {"skus": ["SKU-3"], "now": ROWS[2]["expires_at"]}  # SKU-3: ids 3, 10, 17, 24…
    async with db.shared_reads(), db.read() as conn:
        assert await PREPARED.rows(conn, params) == [("SKU-3", sum(
            r["quantity"] for r in ROWS if r["sku"] == "SKU-3" and r["id"] > 3))]
        params["now"] = ROWS[2]["expires_at"] - dt.timedelta(microseconds=1)
        assert await PREPARED.rows(conn, params) == [("SKU-3", sum(
            r["quantity"] for r in ROWS if r["sku"] == "SKU-3"))]


async def test_the_driver_runs_it_where_it_can(db: Database) -> None:
    """Inline SQLite reads and shared PostgreSQL reads answer on the driver."""
    params = {"skus": ["SKU-1"], "now": T0}
    async with db.shared_reads(), db.read() as conn:
        assert isinstance(conn, SharedReadConnection)
        on_driver = await conn.prepared_rows(PREPARED, PREPARED.prepare_params(params))
        assert on_driver == await through_sqlalchemy(conn, params)
    if db.is_sqlite:
        async with db.read() as conn:
            assert isinstance(conn, InlineReadConnection)
            assert await conn.prepared_rows(
                PREPARED, PREPARED.prepare_params(params)) == on_driver


async def test_a_write_transaction_reads_its_own_writes_through_sqlalchemy(
        db: Database) -> None:
    """Outside a read (here a write transaction) the statement runs on the caller's
    connection as SQLAlchemy runs it, so it sees what the transaction wrote."""
    async with db.transaction() as conn:
        assert not hasattr(conn, "prepared_rows")
        await conn.execute(items.insert(), [{"id": 100, "sku": "NEW", "quantity": 5,
                                             "expires_at": T0 + dt.timedelta(days=1)}])
        assert await PREPARED.rows(conn, {"skus": ["NEW"], "now": T0}) == [("NEW", 5)]
    async with db.read() as reader:
        assert await PREPARED.rows(reader, {"skus": ["NEW"], "now": T0}) == [("NEW", 5)]


async def test_each_statement_reaches_the_engines_listeners(db: Database) -> None:
    params = {"skus": ["SKU-1", "SKU-2", "SKU-3"], "now": T0}
    with counting_statements(_Commerce(db)) as seen:  # type: ignore[arg-type]
        async with db.shared_reads(), db.read() as conn:
            await PREPARED.rows(conn, params)
            await PREPARED.rows(conn, params)
    selects = [s for s in seen if "prepared_items" in s]
    assert len(selects) == 2
    assert "IN (" in selects[0]  # the driver's SQL, its list padded to 4
    assert selects[0].count("?") + selects[0].count("$") >= 5


async def test_lists_are_padded_to_a_power_of_two(db: Database) -> None:
    prepared = PreparedSelect(BY_SKUS, lists=("skus",))
    async with db.shared_reads(), db.read() as conn:
        for count in (1, 2, 3, 4, 5, 8):
            await prepared.rows(conn, {"skus": ["SKU-1"] * count, "now": T0})
    assert prepared.prepare_params({"skus": ["a", "b", "c"], "now": T0})["skus"] == [
        "a", "b", "c", "c"]
    assert sorted(size for _, (size,) in prepared._forms) == [1, 2, 4, 8]


async def test_an_empty_list_is_refused(db: Database) -> None:
    async with db.shared_reads(), db.read() as conn:
        with pytest.raises(ValueError, match="skus: at least one value"):
            await PREPARED.rows(conn, {"skus": [], "now": T0})


async def test_a_driver_error_is_sqlalchemys_error(db: Database) -> None:
    missing = Table("prepared_missing", MetaData(), Column("id", Integer))
    prepared = PreparedSelect(select(missing.c.id).where(missing.c.id == bindparam("id")))
    async with db.shared_reads(), db.read() as conn:
        with pytest.raises(DBAPIError, match="prepared_missing"):
            await prepared.rows(conn, {"id": 1})


async def test_columns_that_need_converting_are_refused(db: Database) -> None:
    prepared = PreparedSelect(select(items.c.expires_at))
    async with db.shared_reads(), db.read() as conn:
        with pytest.raises(TypeError, match="convert nothing"):
            await prepared.rows(conn, {})


# -- [database] prepared_reads = false: the slow twin ---------------------------------------


@pytest.fixture
async def plain_db(db_url: str, db: Database) -> AsyncIterator[Database]:
    """The same database, with prepared reads switched off."""
    database = Database(db_url, prepared_reads=False)
    yield database
    await database.dispose()


async def test_switched_off_every_read_goes_through_sqlalchemy(
        db: Database, plain_db: Database) -> None:
    params = {"skus": ["SKU-1", "SKU-2", "SKU-3"], "now": T0}
    on, off = (PreparedSelect(BY_SKUS, lists=("skus",)) for _ in range(2))
    async with db.shared_reads(), db.read() as conn:
        expected = await on.rows(conn, params)
    assert on._forms, "switched on, a shared read compiles the statement for the driver"
    with counting_statements(_Commerce(plain_db)) as seen:  # type: ignore[arg-type]
        async with plain_db.shared_reads(), plain_db.read() as conn:
            assert await conn.prepared_rows(off, off.prepare_params(params)) is None
            assert await off.rows(conn, params) == expected
        async with plain_db.read() as conn:  # inline on SQLite, a connection of its own else
            if plain_db.is_sqlite:
                assert isinstance(conn, InlineReadConnection)
                assert await conn.prepared_rows(off, off.prepare_params(params)) is None
            assert await off.rows(conn, params) == expected
    assert off._forms == {}, "switched off, nothing is compiled for the driver"
    selects = [s for s in seen if "prepared_items" in s]
    assert len(selects) == 2 and all("POSTCOMPILE" not in s for s in selects)


# -- the SQLAlchemy internals the prepared reads stand on ------------------------------------


def test_the_sqlalchemy_internals_of_prepared_reads_are_there() -> None:
    """``PreparedSelect._compile`` reads these; should an upgrade of SQLAlchemy change
    them, this test names what changed (and ``[database] prepared_reads = false`` keeps
    the shop running until ``omnicore.store.prepared`` is adapted)."""
    import sqlalchemy
    from sqlalchemy.dialects.postgresql import asyncpg
    from sqlalchemy.dialects.sqlite import pysqlite

    problems = []
    for dialect in (pysqlite.dialect(), asyncpg.dialect()):  # the drivers prepared reads use
        compiled = BY_SKUS.params(skus=["a", "b"], now=T0).compile(
            dialect=dialect, compile_kwargs={"render_postcompile": True})
        order = getattr(compiled, "positiontup", None)
        binds = getattr(compiled, "binds", None)
        if not isinstance(order, list) or not isinstance(binds, dict):
            problems.append(f"{dialect.name}: SQLCompiler.positiontup (a list) and .binds "
                            "(a dict) are gone")
            continue
        if [p for p in order if p.startswith("skus")] != ["skus_1", "skus_2"]:
            problems.append(f"{dialect.name}: an expanded list is no longer named "
                            f"skus_1, skus_2 in positiontup: {order}")
        skus = binds.get("skus")
        if skus is None or getattr(skus, "expanding", None) is not True:
            problems.append(f"{dialect.name}: binds['skus'].expanding is not True")
        constants = [b for k, b in binds.items() if k not in ("skus", "now")]
        if not constants or not all(hasattr(b, "effective_value") for b in constants):
            problems.append(f"{dialect.name}: BindParameter.effective_value is gone")
        if not hasattr(compiled, "string"):
            problems.append(f"{dialect.name}: SQLCompiler.string is gone")
    if not hasattr(sqlalchemy.Connection, "dispatch"):
        problems.append("Connection.dispatch (the events, before_cursor_execute) is gone")
    assert not problems, (
        f"SQLAlchemy {sqlalchemy.__version__} changed what omnicore.store.prepared relies on: "
        + "; ".join(problems) + ". Set [database] prepared_reads = false and adapt "
        "PreparedSelect, or keep SQLAlchemy within the range pinned in pyproject.toml.")


async def test_the_engines_dispatch_before_cursor_execute(db: Database) -> None:
    async with db.transaction() as conn:
        assert hasattr(conn.sync_connection.dispatch, "before_cursor_execute"), (
            "SQLAlchemy's Connection.dispatch.before_cursor_execute is gone: "
            "omnicore.store.prepared.before_cursor_execute calls it")
