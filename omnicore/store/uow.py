"""The unit of work: one transaction, the events it emits written with it, and the one
way a transaction is run again when a concurrent one won (``retrying``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import ARRAY, Integer, String, Text, bindparam, insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnicore.events import PendingEvent
from omnicore.store.database import Database
from omnicore.store.tables import outbox_events
from omnicore.store.types import UTCDateTime

Clock = Callable[[], dt.datetime]
T = TypeVar("T")

#: How many times ``retrying`` runs a transaction before giving up: enough for a hot
#: SKU that many buyers hold at once (each rerun sees the winners' commits), few
#: enough that a caller hears "try again" in well under a second.
RETRY_ATTEMPTS = 8
#: PostgreSQL's deadlock_detected and serialization_failure: the transaction was
#: rolled back whole and may simply run again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def is_retryable(exc: BaseException) -> bool:
    """A deadlock (40P01) or a serialization failure (40001) reported by the driver."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state in RETRYABLE_SQLSTATES


async def retrying(
    attempt: Callable[[], Awaitable[T]],
    *,
    attempts: int = RETRY_ATTEMPTS,
    retry_on: tuple[type[Exception], ...] = (),
    exhausted: Callable[[Exception], Exception] | None = None,
) -> T:
    """Run ``attempt`` — one whole transaction, reads included — until it succeeds.

    It runs again, at most ``attempts`` times in all, after a PostgreSQL deadlock
    or serialization failure (``is_retryable``) and after an exception of
    ``retry_on``: a domain's "a concurrent writer won, plan again" (stock's
    ``Contention``). Other exceptions propagate at once. After the last attempt a
    database error propagates as it is; an exception of ``retry_on`` is replaced by
    ``exhausted(exc)`` when given (the caller's "try again" error), else re-raised.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for remaining in range(attempts - 1, -1, -1):
        try:
            return await attempt()
        except retry_on as exc:
            if remaining:
                continue
            if exhausted is None:
                raise
            raise exhausted(exc) from None
        except DBAPIError as exc:
            if remaining and is_retryable(exc):
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover


class Tx:
    """What a service sees of a transaction: the connection, the clock, ``emit``."""

    def __init__(self, conn: AsyncConnection, now: dt.datetime) -> None:
        self.conn = conn
        self.now = now
        self.events: list[PendingEvent] = []

    def emit(self, topic: str, payload: dict[str, Any]) -> None:
        """Queue an event; it is written to the outbox when the transaction commits."""
        self.events.append(PendingEvent(topic, payload))


# PostgreSQL: the events and their deliveries in one statement. Rows are numbered in
# the order given (events as emitted; per event, consumers as listed) and the ids follow
# that order, as sort_by_parameter_order does for SQLAlchemy's own batched inserts.
_WRITE_EVENTS_PG = text(
    """
WITH written AS (
    INSERT INTO outbox_events (topic, payload, created_at)
    SELECT e.topic, e.payload, :now
    FROM unnest(:topics, :payloads) WITH ORDINALITY AS e(topic, payload, n)
    ORDER BY e.n
    RETURNING id
)
INSERT INTO outbox_deliveries (event_id, consumer, status, attempts, next_attempt_at)
SELECT written.id, c.consumer, 'pending', 0, :now
FROM written CROSS JOIN unnest(:consumers) WITH ORDINALITY AS c(consumer, n)
ORDER BY written.id, c.n
"""
).bindparams(
    bindparam("now", type_=UTCDateTime),
    bindparam("topics", type_=ARRAY(String)),
    bindparam("payloads", type_=ARRAY(Text)),
    bindparam("consumers", type_=ARRAY(String)),
)

# SQLite: the write lock (BEGIN IMMEDIATE) makes the newest ``count`` events ours.
_WRITE_DELIVERIES_SQLITE = text(
    """
INSERT INTO outbox_deliveries (event_id, consumer, status, attempts, next_attempt_at)
SELECT e.id, c.value, 'pending', 0, :now
FROM (SELECT id FROM outbox_events ORDER BY id DESC LIMIT :count) AS e, json_each(:consumers) AS c
ORDER BY e.id, c.key
"""
).bindparams(bindparam("now", type_=UTCDateTime), bindparam("count", type_=Integer))

_INSERT_EVENTS = insert(outbox_events)


async def write_events(
    conn: AsyncConnection,
    events: Sequence[PendingEvent],
    consumers: Sequence[str],
    now: dt.datetime,
) -> None:
    """Insert events and one pending delivery per consumer, on ``conn``'s transaction.

    One statement on PostgreSQL; on SQLite one for the events and, with consumers, one
    for their deliveries.
    """
    if not events:
        return
    payloads = [json.dumps(e.payload, separators=(",", ":")) for e in events]
    if conn.dialect.name == "postgresql":
        await conn.execute(
            _WRITE_EVENTS_PG,
            {
                "now": now,
                "topics": [e.topic for e in events],
                "payloads": payloads,
                "consumers": list(consumers),
            },
        )
        return
    await conn.execute(
        _INSERT_EVENTS,
        [
            {"topic": e.topic, "payload": payload, "created_at": now}
            for e, payload in zip(events, payloads, strict=True)
        ],
    )
    if consumers:
        await conn.execute(
            _WRITE_DELIVERIES_SQLITE,
            {"now": now, "count": len(events), "consumers": json.dumps(list(consumers))},
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
            if tx.events:
                await write_events(conn, tx.events, self._consumers(), tx.now)
        if tx.events:
            self._on_commit()

    async def run(
        self,
        work: Callable[[Tx], Awaitable[T]],
        *,
        attempts: int = RETRY_ATTEMPTS,
        retry_on: tuple[type[Exception], ...] = (),
        exhausted: Callable[[Exception], Exception] | None = None,
    ) -> T:
        """``work`` in a transaction of its own, run again as ``retrying`` says."""

        async def attempt() -> T:
            async with self() as tx:
                return await work(tx)

        return await retrying(attempt, attempts=attempts, retry_on=retry_on,
                              exhausted=exhausted)

    def read(self) -> ReadTx:
        """A read-only transaction (emitting in it is an error)."""
        return ReadTx(self.db, self.clock)


class ReadTx:
    """``async with uow.read() as tx``: a class, not a generator, as it runs on every read."""

    __slots__ = ("_clock", "_scope", "_tx")

    def __init__(self, db: Database, clock: Clock) -> None:
        self._scope = db.read()
        self._clock = clock
        self._tx: Tx | None = None

    async def __aenter__(self) -> Tx:
        conn = await self._scope.__aenter__()
        self._tx = Tx(conn, self._clock())
        return self._tx

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> bool | None:
        result = await self._scope.__aexit__(kind, error, trace)
        if kind is None and self._tx is not None and self._tx.events:
            raise RuntimeError("events emitted in a read-only transaction")
        return result
