"""The outbox dispatcher: delivers committed events to plugins, at least once.

Each event has one delivery row per consumer (a plugin implementing
``on_event``). A dispatcher claims due deliveries in batches by setting a lease
(``locked_until``) inside a short transaction — on PostgreSQL with ``FOR UPDATE
SKIP LOCKED`` so several workers share the outbox without waiting on each other
or taking the same row — then calls the plugins outside any transaction, then
marks the deliveries done or schedules a retry with exponential back-off and
jitter; after ``max_attempts`` a delivery goes ``dead`` until re-driven.

A worker that dies mid-batch leaves its lease to expire; another worker then
delivers those events again (at-least-once). Nothing else delivers an event twice
to the same consumer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import and_, func, or_, select, update

from omnicore.config import OutboxConfig
from omnicore.errors import InvalidInput
from omnicore.events import Event
from omnicore.store.tables import outbox_deliveries as deliveries
from omnicore.store.tables import outbox_events as events

if TYPE_CHECKING:
    from omnicore.commerce import Commerce

__all__ = ["Delivery", "Dispatcher", "OutboxService", "backoff_delay"]

log = logging.getLogger("omnicore.outbox")
ERROR_TEXT_LIMIT = 500


def backoff_delay(attempts: int, config: OutboxConfig, rng: random.Random | None = None) -> float:
    """Seconds before the next try: ``base·2^(attempts-1)`` capped, with ±20 % jitter."""
    raw = min(config.max_delay_seconds, config.base_delay_seconds * 2 ** max(0, attempts - 1))
    jitter = (rng or random).uniform(0.8, 1.2)
    return float(min(config.max_delay_seconds, raw * jitter))


@attrs.frozen
class Delivery:
    """One event for one consumer, as the admin API shows it."""

    id: int
    event_id: int
    topic: str
    consumer: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    delivered_at: dt.datetime | None


class Dispatcher:
    """Claims and delivers outbox rows for the consumers loaded in this process."""

    def __init__(self, commerce: Commerce, config: OutboxConfig, *, worker_id: str = "") -> None:
        self.commerce = commerce
        self.config = config
        self.worker_id = worker_id
        self.wake = asyncio.Event()
        self._rng = random.Random()

    async def _claim(self, consumers: Sequence[str]) -> list[Any]:
        config = self.config
        async with self.commerce.db.transaction() as conn:
            now = self.commerce.clock()
            due = (
                select(deliveries.c.id)
                .where(
                    deliveries.c.status == "pending",
                    deliveries.c.consumer.in_(consumers),
                    deliveries.c.next_attempt_at <= now,
                    or_(deliveries.c.locked_until.is_(None), deliveries.c.locked_until < now),
                )
                .order_by(deliveries.c.id)
                .limit(config.batch_size)
                .with_for_update(skip_locked=True)
            )
            lease = now + dt.timedelta(seconds=config.lease_seconds)
            claimed = await conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(due.scalar_subquery()))
                .values(locked_until=lease)
                .returning(deliveries.c.id, deliveries.c.event_id, deliveries.c.consumer,
                           deliveries.c.attempts)
            )
            rows = sorted(claimed.all(), key=lambda r: r.id)
            if not rows:
                return []
            loaded = await conn.execute(
                select(events).where(events.c.id.in_({r.event_id for r in rows}))
            )
            by_id = {
                e.id: Event(e.id, e.topic, json.loads(e.payload), e.created_at) for e in loaded
            }
        return [(r, by_id[r.event_id]) for r in rows]

    async def run_once(self) -> int:
        """Claim one batch and deliver it; return how many deliveries were attempted."""
        consumers = self.commerce.plugins.consumers()
        if not consumers:
            return 0
        batch = await self._claim(consumers)
        if not batch:
            return 0
        done: list[int] = []
        failed: list[tuple[Any, str]] = []
        for row, event in batch:
            try:
                await self.commerce.plugins.on_event(row.consumer, event=event,
                                                     commerce=self.commerce)
            except Exception as exc:
                log.warning("delivery %s of event %s to %s failed: %s",
                            row.id, event.id, row.consumer, exc)
                failed.append((row, str(exc)[:ERROR_TEXT_LIMIT]))
            else:
                done.append(row.id)
        await self._settle(done, failed)
        return len(batch)

    async def _settle(self, done: list[int], failed: list[tuple[Any, str]]) -> None:
        async with self.commerce.db.transaction() as conn:
            now = self.commerce.clock()
            if done:
                await conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_(done), deliveries.c.status == "pending")
                    .values(status="delivered", delivered_at=now, locked_until=None,
                            attempts=deliveries.c.attempts + 1)
                )
            for row, error in failed:
                attempts = row.attempts + 1
                dead = attempts >= self.config.max_attempts
                delay = backoff_delay(attempts, self.config, self._rng)
                await conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id == row.id, deliveries.c.status == "pending")
                    .values(
                        status="dead" if dead else "pending",
                        attempts=attempts,
                        last_error=error,
                        locked_until=None,
                        next_attempt_at=now + dt.timedelta(seconds=delay),
                    )
                )

    async def drain(self, *, limit: int | None = None) -> int:
        """Deliver everything due now (for tests, scripts and ``omnicore worker --once``)."""
        total = 0
        while limit is None or total < limit:
            count = await self.run_once()
            if not count:
                break
            total += count
        return total

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; wake early when this process commits events."""
        while not stop.is_set():
            # Clear before looking, not after: a commit that lands while run_once is
            # querying must still wake the wait below, or it waits a whole poll interval.
            self.wake.clear()
            try:
                count = await self.run_once()
            except Exception:  # the database went away: wait and try again
                log.exception("outbox dispatcher iteration failed")
                count = 0
            if count:
                continue
            waits = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
            _, pending = await asyncio.wait(
                waits, timeout=self.config.poll_interval_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in pending:
                task.cancel()


class OutboxService:
    """Read and re-drive deliveries (``commerce.outbox``)."""

    def __init__(self, commerce: Commerce, dispatcher: Dispatcher) -> None:
        self._commerce = commerce
        self._dispatcher = dispatcher

    async def drain(self, *, limit: int | None = None) -> int:
        """Deliver every due event now, in this task; returns deliveries attempted."""
        return await self._dispatcher.drain(limit=limit)

    async def deliveries(
        self, *, status: str | None = None, consumer: str | None = None, limit: int = 100
    ) -> list[Delivery]:
        """Deliveries, newest first, filtered by ``status`` (pending/delivered/dead)."""
        if status not in (None, "pending", "delivered", "dead"):
            raise InvalidInput(f"unknown status {status!r}", field="status")
        query = (
            select(deliveries, events.c.topic)
            .join(events, events.c.id == deliveries.c.event_id)
            .order_by(deliveries.c.id.desc())
            .limit(limit)
        )
        if status:
            query = query.where(deliveries.c.status == status)
        if consumer:
            query = query.where(deliveries.c.consumer == consumer)
        async with self._commerce.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Delivery(r.id, r.event_id, r.topic, r.consumer, r.status, r.attempts,
                     r.next_attempt_at, r.last_error, r.delivered_at)
            for r in rows
        ]

    async def counts(self) -> dict[str, int]:
        """Number of deliveries per status."""
        async with self._commerce.db.read() as conn:
            rows = await conn.execute(
                select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
            )
            return {status: count for status, count in rows}

    async def retry(
        self, delivery_ids: Sequence[int] | None = None, *, consumer: str | None = None
    ) -> int:
        """Re-drive dead deliveries (all, by id, or of one consumer); returns how many."""
        conditions = [deliveries.c.status == "dead"]
        if delivery_ids is not None:
            conditions.append(deliveries.c.id.in_(list(delivery_ids)))
        if consumer is not None:
            conditions.append(deliveries.c.consumer == consumer)
        async with self._commerce.db.transaction() as conn:
            result = await conn.execute(
                update(deliveries)
                .where(and_(*conditions))
                .values(status="pending", attempts=0, next_attempt_at=self._commerce.clock(),
                        locked_until=None)
            )
        self._dispatcher.wake.set()
        return int(result.rowcount)  # type: ignore[attr-defined]
