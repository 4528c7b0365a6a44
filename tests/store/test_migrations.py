"""Schema migrations from an empty database, refusal of stale and newer schemas."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from omnicore import Commerce
from omnicore.errors import SchemaMismatch
from omnicore.store.database import Database
from omnicore.store.migrate import head_revision, schema_state, upgrade
from omnicore.store.tables import metadata

FUTURE_REVISION = "9999_from_the_future"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema at all: a new SQLite file or an empty PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/new.db"
    return str(request.getfixturevalue("empty_postgres_url"))


async def open_plain(url: str, **kwargs: object) -> Commerce:
    return await Commerce.open(url, dispatch=False, load_entry_points=False, **kwargs)  # type: ignore[arg-type]


async def test_refuses_empty_database_then_opens_after_upgrade(empty_url: str) -> None:
    with pytest.raises(SchemaMismatch) as info:
        await open_plain(empty_url, auto_migrate=False)
    assert "omnicore migrate" in info.value.message
    assert "has no omnicore schema" in info.value.message
    assert info.value.field == "database.url"
    assert info.value.code == "schema_mismatch"

    db = Database(empty_url)
    try:
        state = await schema_state(db)
        assert state.current is None and not state.up_to_date
        await upgrade(db)
        state = await schema_state(db)
        assert state.current == head_revision() and state.up_to_date

        # the tables the migrations build are exactly the ones the code declares
        def diff(connection: object) -> list[object]:
            return compare_metadata(MigrationContext.configure(connection), metadata)

        async with db.read() as conn:
            assert await conn.run_sync(diff) == []
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {t.name for t in metadata.sorted_tables} <= names
        await upgrade(db)  # already at head: nothing to do, no error
    finally:
        await db.dispose()

    commerce = await open_plain(empty_url, auto_migrate=False)
    try:
        await commerce.catalog.save_product(
            {"handle": "tee", "title": "Tee", "variants": [{"sku": "TEE-1"}]}
        )
        assert (await commerce.catalog.product(sku="TEE-1")).handle == "tee"
    finally:
        await commerce.close()


async def test_default_auto_migrate_is_yes_for_sqlite_no_for_postgres(empty_url: str) -> None:
    if empty_url.startswith("sqlite"):
        commerce = await open_plain(empty_url)
        await commerce.close()
    else:
        with pytest.raises(SchemaMismatch):
            await open_plain(empty_url)
        commerce = await open_plain(empty_url, config={"database": {"auto_migrate": True}})
        await commerce.close()
    db = Database(empty_url)
    try:
        assert (await schema_state(db)).current == head_revision()
    finally:
        await db.dispose()


async def test_newer_schema_is_refused_even_with_auto_migrate(empty_url: str) -> None:
    db = Database(empty_url)
    try:
        await upgrade(db)
        async with db.transaction() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"),
                               {"v": FUTURE_REVISION})
        state = await schema_state(db)
        assert state.current == FUTURE_REVISION and not state.known
        with pytest.raises(SchemaMismatch) as info:
            await upgrade(db)
        assert FUTURE_REVISION in info.value.message
    finally:
        await db.dispose()

    for auto_migrate in (True, False, None):
        with pytest.raises(SchemaMismatch) as info:
            await open_plain(empty_url, auto_migrate=auto_migrate)
        assert FUTURE_REVISION in info.value.message
        assert "upgrade omnicore" in info.value.message

    # nothing was touched: the stamp is still the newer one
    db = Database(empty_url)
    try:
        assert (await schema_state(db)).current == FUTURE_REVISION
    finally:
        await db.dispose()


async def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "shop" / "omnicore.db"
    path.parent.mkdir()  # omnicore never creates the folder itself (tests/cli/test_cli_errors.py)
    async with (
        Commerce.open(f"sqlite+aiosqlite:///{path}", dispatch=False,
                      load_entry_points=False) as commerce,
        commerce.db.read() as conn,
    ):
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        # inline readers wait 2 s at most (WAL readers take no lock but in recovery) ...
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 2_000
        async with commerce.db.transaction() as writer:  # ... writers queue for a minute
            assert (await writer.execute(text("PRAGMA busy_timeout"))).scalar() == 60_000
    # WAL is a property of the file: a plain sqlite3 connection sees it too
    with sqlite3.connect(path) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = plain.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert version == head_revision()


@pytest.mark.parametrize(
    ("raw", "driver"),
    [("postgresql://u@h/db", "postgresql+asyncpg"),
     ("postgres://u@h/db", "postgresql+asyncpg"),
     ("postgresql+psycopg://u@h/db", "postgresql+psycopg_async"),
     ("sqlite:///shop.db", "sqlite+aiosqlite"),
     ("shop.db", "sqlite+aiosqlite")],
)
def test_url_normalisation(raw: str, driver: str) -> None:
    from omnicore.store.database import normalise_url

    assert normalise_url(raw).drivername == driver


def test_unsupported_database_is_refused() -> None:
    from omnicore.errors import InvalidInput
    from omnicore.store.database import normalise_url

    with pytest.raises(InvalidInput) as info:
        normalise_url("mysql://u@h/db")
    assert info.value.field == "database.url"
