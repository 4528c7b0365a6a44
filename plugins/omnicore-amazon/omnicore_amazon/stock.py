"""Merchant-fulfilled quantities: what the Amazon channel may sell, pushed to Amazon.

**Recording.** Each ``stock.changed`` event carries, per channel, the new available
total. ``record`` writes the Amazon channel's total to ``amazon_stock`` — newest
event wins (a retried older event changes nothing) — in the plugin's own table,
*before* the event is acknowledged: an acknowledged change is never lost.

**Coalescing.** A SKU is *pending* while its newest event is newer than what was last
submitted. ``flush`` sends every pending SKU at once: fewer than ``feed_threshold``
as ``patchListingsItem`` calls, more as JSON_LISTINGS_FEED documents of up to
``feed_max_messages`` (25,000) PATCH messages each — so a burst of changes (a
delivery received, a stock count) becomes one feed, whatever the number of events.
A SKU whose pending quantity is the one already submitted is settled without a call.

**Urgent.** A change that leaves the channel at ``urgent_threshold`` (0: sold out) or
below does not wait: ``push_now`` patches it from the event handler itself, so a
SKU sold out in a store stops selling on Amazon within the dispatch cycle that
delivers the event. If Amazon cannot be reached the handler raises and the outbox
retries the event.

**Feeds.** ``poll`` reads each submitted feed's status and, when it is done, its
processing report: accepted messages become the quantity Amazon has; messages with
errors are kept as issues of their SKU (``omnicore amazon status``); a feed that
failed (``FATAL``/``CANCELLED``) makes its SKUs pending again. A feed that finishes
after a newer quantity was submitted (an urgent patch, a later feed) may have
overwritten it at Amazon: that SKU is made pending again, so the newest quantity
is re-asserted.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import select, update

from omnicore_amazon.errors import SpApiError
from omnicore_amazon.feeds import FINISHED, FeedsApi, stock_message
from omnicore_amazon.listing_attributes import availability_value
from omnicore_amazon.state import feeds, listings, stock

if TYPE_CHECKING:
    from omnicore import Commerce, Event
    from omnicore_amazon.client import SpApiClient
    from omnicore_amazon.settings import AmazonSettings
    from omnicore_amazon.state import StateStore

__all__ = ["FlushResult", "PollResult", "StockSync"]

log = logging.getLogger("omnicore_amazon")
FLUSH_LEASE = "stock-flush"
FLUSH_LEASE_SECONDS = 900.0


@attrs.define
class FlushResult:
    patched: int = 0
    feeds: list[str] = attrs.field(factory=list)
    messages: int = 0
    settled: int = 0
    failed: int = 0
    busy: bool = False

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.define
class PollResult:
    finished: list[str] = attrs.field(factory=list)
    waiting: int = 0
    accepted: int = 0
    rejected: int = 0
    requeued: int = 0

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class StockSync:
    def __init__(self, commerce: Commerce, settings: AmazonSettings, client: SpApiClient,
                 store: StateStore) -> None:
        self.commerce = commerce
        self.settings = settings
        self.client = client
        self.store = store
        self.feeds = FeedsApi(client, settings.seller_id, settings.marketplace_ids,
                              settings.issue_locale)
        self.holder = secrets.token_hex(8)

    # -- recording ---------------------------------------------------------------------------

    async def record(self, event: Event) -> bool:
        """Remember the channel's new total for the event's SKU; True when it is urgent."""
        entry = next((c for c in event.payload.get("channels") or []
                      if c.get("channel") == self.settings.channel), None)
        if entry is None:
            return False
        sku, available = str(event.payload["sku"]), max(0, int(entry["available"]))
        async with self.store.write() as conn:
            # an older event (a retry delivered late) changes nothing: newest event wins
            await self.store.upsert(conn, stock, {
                "sku": sku, "desired": available, "desired_event": event.id,
                "submitted_event": 0, "sent_event": 0, "changed_at": self.store.stamp()},
                ["sku"], update_columns=["desired", "desired_event", "changed_at"],
                newer="desired_event")
            desired = (await conn.execute(select(stock.c.desired)
                                          .where(stock.c.sku == sku))).scalar_one()
        return bool(desired <= self.settings.urgent_threshold)

    async def enqueue_all(self) -> int:
        """Make every listed SKU pending with the channel's availability now (a full resync)."""
        async with self.store.read() as conn:
            skus = list((await conn.execute(
                select(listings.c.sku).where(listings.c.listed.is_(True)))).scalars())
        if not skus:
            return 0
        found = await self.commerce.stock.availability_many(skus, channel=self.settings.channel)
        async with self.store.write() as conn:
            for sku in skus:
                await self.store.upsert(conn, stock, {
                    "sku": sku, "desired": found[sku].total, "desired_event": 0,
                    "submitted": None, "submitted_event": -1, "sent_event": 0,
                    "changed_at": self.store.stamp()},
                    ["sku"], update_columns=["desired", "submitted", "changed_at"])
                await conn.execute(update(stock).where(stock.c.sku == sku).values(
                    submitted_event=stock.c.desired_event - 1))
        return len(skus)

    # -- what is pending -----------------------------------------------------------------------

    async def pending(self, skus: Sequence[str] | None = None) -> list[Any]:
        """Listed SKUs whose newest quantity was not submitted yet (with their product type)."""
        query = (select(stock, listings.c.product_type)
                 .join(listings, listings.c.sku == stock.c.sku)
                 .where(listings.c.listed.is_(True),
                        stock.c.desired_event > stock.c.submitted_event)
                 .order_by(stock.c.sku))
        if skus is not None:
            query = query.where(stock.c.sku.in_(list(skus)))
        async with self.store.read() as conn:
            return list((await conn.execute(query)).all())

    async def count_pending(self) -> int:
        return len(await self.pending())

    async def _settle_unchanged(self, rows: list[Any]) -> tuple[list[Any], int]:
        """Rows whose quantity is the one already submitted need no call: mark them."""
        send: list[Any] = []
        same: list[Any] = []
        for row in rows:
            (same if row.submitted is not None and row.submitted == row.desired else send
             ).append(row)
        if same:
            async with self.store.write() as conn:
                for row in same:
                    await conn.execute(update(stock).where(
                        stock.c.sku == row.sku, stock.c.submitted_event < row.desired_event)
                        .values(submitted_event=row.desired_event))
        return send, len(same)

    # -- pushing -------------------------------------------------------------------------------

    async def push_now(self, sku: str, *, max_wait: float | None = None) -> str:
        """Patch ``sku``'s quantity at once if it is pending: patched, settled, idle, invalid."""
        rows, settled = await self._settle_unchanged(await self.pending([sku]))
        if not rows:
            return "settled" if settled else "idle"
        return await self._patch(rows[0], max_wait=max_wait)

    async def _patch(self, row: Any, *, max_wait: float | None) -> str:
        from urllib.parse import quote

        path = f"/listings/2021-08-01/items/{self.settings.seller_id}/{quote(row.sku, safe='')}"
        body = {"productType": row.product_type, "patches": [{
            "op": "replace", "path": "/attributes/fulfillment_availability",
            "value": availability_value(row.desired)}]}
        try:
            answer = await self.client.call(
                "patchListingsItem", "PATCH", path, json=body, max_wait=max_wait,
                params=self.settings.patch_params())
        except SpApiError as exc:
            if exc.retryable:
                raise
            await self._refused(row, [{"code": e.code, "message": e.message,
                                       "severity": "ERROR"} for e in exc.errors]
                                or [{"code": "Error", "message": str(exc), "severity": "ERROR"}])
            return "invalid"
        answer = answer or {}
        issues = [i for i in answer.get("issues") or [] if isinstance(i, dict)]
        if answer.get("status") != "ACCEPTED":
            await self._refused(row, issues)
            return "invalid"
        async with self.store.write() as conn:
            # conditional: another process may have submitted a newer quantity meanwhile
            await conn.execute(update(stock).where(
                stock.c.sku == row.sku, stock.c.submitted_event <= row.desired_event)
                .values(submitted=row.desired, submitted_event=row.desired_event, error=None))
            await conn.execute(update(stock).where(
                stock.c.sku == row.sku, stock.c.sent_event <= row.desired_event)
                .values(sent=row.desired, sent_event=row.desired_event))
        return "patched"

    async def _refused(self, row: Any, issues: list[dict[str, Any]]) -> None:
        """Amazon refused the quantity: keep the issues; do not retry until the next change."""
        text = "; ".join(f"{i.get('code')}: {i.get('message')}" for i in issues)[:2000]
        async with self.store.write() as conn:
            await conn.execute(update(stock).where(
                stock.c.sku == row.sku, stock.c.submitted_event <= row.desired_event)
                .values(submitted=row.desired, submitted_event=row.desired_event, error=text))
            await conn.execute(update(listings).where(listings.c.sku == row.sku).values(
                issues=issues, updated_at=self.store.stamp()))
        log.warning("Amazon refused the quantity of %s: %s", row.sku, text)

    async def flush(self, *, max_wait: float | None = None) -> FlushResult:
        """Send every pending quantity: patches for a few SKUs, feeds for more."""
        result = FlushResult()
        if not await self.store.lease(FLUSH_LEASE, FLUSH_LEASE_SECONDS, self.holder):
            result.busy = True  # another process is flushing: it sends these too
            return result
        try:
            rows, result.settled = await self._settle_unchanged(await self.pending())
            if len(rows) < self.settings.feed_threshold:
                for row in rows:
                    outcome = await self._patch(row, max_wait=max_wait)
                    result.patched += outcome == "patched"
                    result.failed += outcome == "invalid"
            else:
                size = self.settings.feed_max_messages
                for start in range(0, len(rows), size):
                    chunk = rows[start : start + size]
                    result.feeds.append(await self._submit(chunk, max_wait=max_wait))
                    result.messages += len(chunk)
        finally:
            await self.store.release(FLUSH_LEASE, self.holder)
        return result

    async def _submit(self, rows: list[Any], *, max_wait: float | None) -> str:
        messages = [stock_message(index, row.sku, row.product_type, row.desired)
                    for index, row in enumerate(rows, start=1)]
        feed_id, document_id = await self.feeds.submit(messages, max_wait=max_wait)
        async with self.store.write() as conn:
            await conn.execute(feeds.insert().values(
                feed_id=feed_id, document_id=document_id, status="IN_QUEUE",
                messages=[[index, row.sku, row.desired, row.desired_event]
                          for index, row in enumerate(rows, start=1)],
                created_at=self.store.stamp()))
            for row in rows:
                await conn.execute(update(stock).where(
                    stock.c.sku == row.sku, stock.c.submitted_event < row.desired_event)
                    .values(submitted=row.desired, submitted_event=row.desired_event,
                            feed_id=feed_id))
        log.info("submitted feed %s with %d quantities", feed_id, len(rows))
        return feed_id

    # -- feeds' outcome ------------------------------------------------------------------------

    async def in_flight(self) -> list[Any]:
        async with self.store.read() as conn:
            return list((await conn.execute(
                select(feeds).where(feeds.c.status.not_in(FINISHED))
                .order_by(feeds.c.created_at))).all())

    async def poll(self, *, max_wait: float | None = None) -> PollResult:
        """Look at every feed Amazon is processing; apply the reports of those done."""
        result = PollResult()
        for feed in await self.in_flight():
            answer = await self.feeds.status(feed.feed_id, max_wait=max_wait)
            status = str(answer.get("processingStatus"))
            if status not in FINISHED:
                result.waiting += 1
                async with self.store.write() as conn:
                    await conn.execute(update(feeds).where(feeds.c.feed_id == feed.feed_id)
                                       .values(status=status, checked_at=self.store.stamp()))
                continue
            report = None
            if answer.get("resultFeedDocumentId"):
                report = await self.feeds.report(str(answer["resultFeedDocumentId"]),
                                                 max_wait=max_wait)
            await self._apply(feed, status, report, result)
            result.finished.append(feed.feed_id)
        for row in await self.pending():
            if row.desired <= self.settings.urgent_threshold:
                await self.push_now(row.sku, max_wait=max_wait)  # re-assert a sold-out SKU
        return result

    async def _apply(self, feed: Any, status: str, report: Any, result: PollResult) -> None:
        done = status == "DONE" and report is not None
        async with self.store.write() as conn:
            for message_id, sku, quantity, event_id in feed.messages:
                row = (await conn.execute(select(stock).where(stock.c.sku == sku))).first()
                if row is None:
                    continue
                values: dict[str, Any] = {}
                if row.feed_id == feed.feed_id:
                    values["feed_id"] = None
                errors = report.errors_of(message_id) if report is not None else []
                if not done:
                    result.requeued += 1
                    if row.submitted_event == event_id:  # nothing newer went: send again
                        values.update(submitted=row.sent, submitted_event=row.sent_event)
                elif errors:
                    result.rejected += 1
                    text = "; ".join(f"{i.get('code')}: {i.get('message')}" for i in errors)
                    values["error"] = text[:2000]
                    await conn.execute(update(listings).where(listings.c.sku == sku)
                                       .values(issues=errors, updated_at=self.store.stamp()))
                else:
                    result.accepted += 1
                    if event_id >= row.sent_event:
                        values.update(sent=quantity, sent_event=event_id, error=None)
                    if row.submitted_event > event_id:
                        # something newer was submitted before this feed finished, and this
                        # older quantity may have landed after it: re-assert the newest one
                        values.update(submitted=quantity, submitted_event=event_id)
                if values:
                    await conn.execute(update(stock).where(stock.c.sku == sku).values(**values))
            summary = dict(report.summary) if report is not None else {}
            if report is not None and report.feed_issues:
                summary["feed_issues"] = report.feed_issues
            await conn.execute(update(feeds).where(feeds.c.feed_id == feed.feed_id).values(
                status=status, done_at=self.store.stamp(), checked_at=self.store.stamp(),
                summary=summary, error=None if done else f"feed ended {status}"))
        log.info("feed %s %s: %s", feed.feed_id, status, summary)

    async def feed_rows(self, limit: int = 10) -> list[Any]:
        async with self.store.read() as conn:
            return list((await conn.execute(
                select(feeds).order_by(feeds.c.created_at.desc()).limit(limit))).all())

    async def quantity(self, sku: str) -> Any:
        async with self.store.read() as conn:
            return (await conn.execute(select(stock).where(stock.c.sku == sku))).first()

