"""The connector's own state: a few ``amazon_*`` tables on omnicore's database.

omnicore's migrations know nothing of them: the plugin declares them with its own
SQLAlchemy ``MetaData`` and creates what is missing at start-up (``create_all``
with ``checkfirst``), on the engine of ``commerce.db`` — so they live in the same
SQLite file or PostgreSQL database, are backed up with it, and are shared by every
process of a deployment. The plugin never touches omnicore's tables.

| table              | one row per                                                      |
|--------------------|------------------------------------------------------------------|
| ``amazon_listings``| SKU pushed: product type, status, issues, attributes Amazon took  |
| ``amazon_stock``   | SKU: quantity wanted (newest event), submitted, accepted         |
| ``amazon_feeds``   | JSON_LISTINGS_FEED submitted: status, messages, report summary   |
| ``amazon_orders``  | Amazon order seen: what the import did                           |
| ``amazon_shipments``| fulfilment confirmed (or refused) at Amazon                     |
| ``amazon_state``   | key → JSON: order cursor, last syncs, last errors                |
| ``amazon_leases``  | a job only one process runs at a time (the stock flush)          |

Times are ISO 8601 text in UTC (from ``commerce.clock``), which sorts as time does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["StateStore", "feeds", "kv", "leases", "listings", "metadata", "orders",
           "shipments", "stock"]

metadata = MetaData()

listings = Table(
    "amazon_listings", metadata,
    Column("sku", String(200), primary_key=True),
    Column("handle", String(200)),
    Column("product_type", String(80)),
    #: ACCEPTED / INVALID (Amazon's submission status) or ERROR (the call was refused)
    Column("status", String(20), nullable=False),
    #: a put was accepted once: later changes are patches
    Column("listed", Boolean, nullable=False, default=False),
    Column("submission_id", String(100)),
    Column("attributes", JSON),
    Column("issues", JSON),
    Column("updated_at", String(40)),
)

stock = Table(
    "amazon_stock", metadata,
    Column("sku", String(200), primary_key=True),
    Column("desired", Integer, nullable=False),
    Column("desired_event", BigInteger, nullable=False),
    #: the quantity last submitted (patch or feed) and its event
    Column("submitted", Integer),
    Column("submitted_event", BigInteger, nullable=False, default=0),
    #: the quantity Amazon last accepted and its event
    Column("sent", Integer),
    Column("sent_event", BigInteger, nullable=False, default=0),
    Column("feed_id", String(64)),
    Column("error", Text),
    Column("changed_at", String(40)),
)

feeds = Table(
    "amazon_feeds", metadata,
    Column("feed_id", String(64), primary_key=True),
    Column("document_id", String(200)),
    Column("status", String(20), nullable=False),
    #: [[message_id, sku, quantity, event_id], …]
    Column("messages", JSON, nullable=False),
    Column("created_at", String(40)),
    Column("checked_at", String(40)),
    Column("done_at", String(40)),
    Column("summary", JSON),
    Column("error", Text),
)

orders = Table(
    "amazon_orders", metadata,
    Column("amazon_order_id", String(64), primary_key=True),
    Column("order_id", String(64)),
    Column("marketplace_id", String(20)),
    Column("amazon_status", String(30)),
    #: imported / cancelled / waiting / skipped / failed
    Column("state", String(20), nullable=False),
    Column("note", Text),
    Column("last_updated", String(40)),
    Column("updated_at", String(40)),
)

shipments = Table(
    "amazon_shipments", metadata,
    Column("fulfilment_id", String(64), primary_key=True),
    Column("amazon_order_id", String(64)),
    Column("package_reference", String(20)),
    Column("status", String(20), nullable=False),
    Column("error", Text),
    Column("updated_at", String(40)),
)

kv = Table(
    "amazon_state", metadata,
    Column("key", String(100), primary_key=True),
    Column("value", JSON),
)

leases = Table(
    "amazon_leases", metadata,
    Column("name", String(100), primary_key=True),
    Column("until", String(40), nullable=False),
    Column("holder", String(64)),
)


def _insert(conn: AsyncConnection, table: Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_update`` on both."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


class StateStore:
    """Reads and writes the ``amazon_*`` tables through ``commerce.db``.

    ``db`` is duck-typed: ``transaction()`` and ``read()`` async context managers
    yielding SQLAlchemy ``AsyncConnection``s, and an ``engine``.
    """

    def __init__(self, db: Any, clock: Callable[[], dt.datetime]) -> None:
        self._db = db
        self._clock = clock

    def now(self) -> dt.datetime:
        return self._clock().astimezone(dt.UTC)

    def stamp(self, moment: dt.datetime | None = None) -> str:
        return (moment or self.now()).astimezone(dt.UTC).isoformat()

    async def create(self) -> None:
        """Create the missing tables (idempotent; safe when two processes start at once)."""
        for attempt in range(3):
            try:
                async with self._db.transaction() as conn:
                    await conn.run_sync(metadata.create_all, checkfirst=True)
                return
            except (IntegrityError, DBAPIError):
                if attempt == 2:  # another process kept creating the same table
                    raise

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self._db.transaction() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self._db.read() as conn:
            yield conn

    async def upsert(self, conn: AsyncConnection, table: Table, row: Mapping[str, Any],
                     keys: Sequence[str], update_columns: Sequence[str] | None = None,
                     newer: str | None = None) -> None:
        """Insert ``row``, or update ``update_columns`` of the existing one — only if its
        ``newer`` column is smaller than the new row's, when ``newer`` is given (one
        statement: two writers cannot apply an older value over a newer one)."""
        statement = _insert(conn, table).values(**row)
        columns = [c for c in (update_columns or row) if c not in keys]
        if columns:
            statement = statement.on_conflict_do_update(
                index_elements=list(keys), set_={c: statement.excluded[c] for c in columns},
                where=(table.c[newer] < statement.excluded[newer]) if newer else None)
        else:
            statement = statement.on_conflict_do_nothing(index_elements=list(keys))
        await conn.execute(statement)

    # -- key → JSON ------------------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        async with self.read() as conn:
            found = (await conn.execute(select(kv.c.value).where(kv.c.key == key))).first()
        return default if found is None else found[0]

    async def put(self, key: str, value: Any) -> None:
        async with self.write() as conn:
            await self.upsert(conn, kv, {"key": key, "value": value}, ["key"])

    async def record_run(self, job: str, summary: Mapping[str, Any],
                         error: str | None = None) -> None:
        """Remember the last run of ``job`` (listings, stock, orders) for ``status``."""
        await self.put(f"last_run.{job}", {"at": self.stamp(), "summary": dict(summary),
                                           "error": error})

    # -- leases ----------------------------------------------------------------------------

    async def lease(self, name: str, seconds: float, holder: str) -> bool:
        """Take the lease ``name`` for ``seconds`` unless someone else holds it."""
        now = self.now()
        until = self.stamp(now + dt.timedelta(seconds=seconds))
        async with self.write() as conn:
            await self.upsert(conn, leases, {"name": name, "until": "", "holder": None},
                              ["name"], update_columns=[])
            taken = await conn.execute(
                update(leases)
                .where(leases.c.name == name,
                       (leases.c.until < self.stamp(now)) | (leases.c.holder == holder))
                .values(until=until, holder=holder))
            return bool(taken.rowcount)

    async def release(self, name: str, holder: str) -> None:
        async with self.write() as conn:
            await conn.execute(update(leases).where(leases.c.name == name,
                                                    leases.c.holder == holder)
                               .values(until="", holder=None))
