"""The unit of work: one transaction, and the events it emits written with it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from omnicore.events import PendingEvent
from omnicore.store.database import Database
from omnicore.store.tables import outbox_deliveries, outbox_events

Clock = Callable[[], dt.datetime]


class Tx:
    """What a service sees of a transaction: the connection, the clock, ``emit``."""

    def __init__(self, conn: AsyncConnection, now: dt.datetime) -> None:
        self.conn = conn
        self.now = now
        self.events: list[PendingEvent] = []

    def emit(self, topic: str, payload: dict[str, Any]) -> None:
        """Queue an event; it is written to the outbox when the transaction commits."""
        self.events.append(PendingEvent(topic, payload))


async def write_events(
    conn: AsyncConnection,
    events: Sequence[PendingEvent],
    consumers: Sequence[str],
    now: dt.datetime,
) -> None:
    """Insert events and one pending delivery per consumer, on ``conn``'s transaction."""
    if not events:
        return
    rows = [
        {
            "topic": e.topic,
            "payload": json.dumps(e.payload, separators=(",", ":")),
            "created_at": now,
        }
        for e in events
    ]
    if conn.dialect.name == "sqlite":
        # SQLAlchemy cannot batch an ordered RETURNING on SQLite (one INSERT per event);
        # the write lock (BEGIN IMMEDIATE) makes the newest len(rows) ids ours, in order.
        await conn.execute(insert(outbox_events), rows)
        newest = await conn.execute(
            select(outbox_events.c.id).order_by(outbox_events.c.id.desc()).limit(len(rows))
        )
        ids = sorted(newest.scalars())
    else:
        result = await conn.execute(
            insert(outbox_events).returning(outbox_events.c.id, sort_by_parameter_order=True), rows
        )
        ids = [row[0] for row in result]
    if consumers:
        await conn.execute(
            insert(outbox_deliveries),
            [
                {
                    "event_id": event_id,
                    "consumer": consumer,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for event_id in ids
                for consumer in consumers
            ],
        )


class UnitOfWork:
    """Opens transactions for the services of one ``Commerce``."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        consumers: Callable[[], Sequence[str]],
        on_commit: Callable[[], None],
    ) -> None:
        self.db = db
        self.clock = clock
        self._consumers = consumers
        self._on_commit = on_commit

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[Tx]:
        async with self.db.transaction() as conn:
            tx = Tx(conn, self.clock())
            yield tx
            await write_events(conn, tx.events, self._consumers(), tx.now)
        if tx.events:
            self._on_commit()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """A read-only transaction (emitting in it is an error)."""
        async with self.db.read() as conn:
            tx = Tx(conn, self.clock())
            yield tx
            if tx.events:
                raise RuntimeError("events emitted in a read-only transaction")
