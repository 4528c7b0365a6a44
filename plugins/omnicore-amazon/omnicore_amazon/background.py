"""The background sync of one plugin instance: stock pushes, feed reports, orders.

It runs in the processes that deliver events (``background = "events"``: it starts
with the first delivered event, so a web process with ``[outbox] in_process =
false`` never runs it), at start-up (``"always"``), or never (``"off"``: then
``omnicore amazon sync`` from cron does the same work).

* A recorded stock change wakes it; it waits ``coalesce_seconds`` so that the rest
  of the burst is recorded too, then flushes every pending quantity (patches or one
  feed). Pending quantities left by a failure or a crash are flushed on the next
  round, every ``feed_poll_seconds``.
* Feeds Amazon is processing are looked at every ``feed_poll_seconds``.
* Orders are imported every ``orders_poll_seconds`` (0: never here).

A failure (Amazon down, rate limited) is logged and recorded for ``status``; the
next round tries again — nothing is lost, the quantities wait in ``amazon_stock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from omnicore_amazon.errors import scrub

if TYPE_CHECKING:
    from omnicore_amazon.plugin import Runtime

__all__ = ["BackgroundSync"]

log = logging.getLogger("omnicore_amazon")


class BackgroundSync:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_orders = 0.0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="omnicore-amazon-sync")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        failures = 0
        while True:
            delay = self.settings.feed_poll_seconds * min(2 ** failures, 32)
            woken = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
                woken = True
            try:
                await self.round(coalesce=woken)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                message = scrub(str(exc), self.settings.secrets())
                log.warning("Amazon background sync failed (retrying): %s", message)

    async def round(self, *, coalesce: bool = False) -> None:
        """One round: flush pending quantities, read finished feeds, import orders if due."""
        runtime = self.runtime
        if coalesce:
            self._wake.clear()
            await asyncio.sleep(self.settings.coalesce_seconds)
            self._wake.clear()  # what arrived while waiting goes in this flush
        try:
            if await runtime.stock.count_pending():
                flushed = await runtime.stock.flush()
                await runtime.store.record_run("stock", flushed.as_dict())
            if await runtime.stock.in_flight():
                polled = await runtime.stock.poll()
                if polled.finished:
                    await runtime.store.record_run("feeds", polled.as_dict())
        except Exception as exc:
            await runtime.store.record_run("stock", {}, scrub(str(exc), self.settings.secrets()))
            raise
        interval = self.settings.orders_poll_seconds
        if interval and time.monotonic() >= self._next_orders:
            self._next_orders = time.monotonic() + interval
            try:
                result = await runtime.orders.sync()
            except Exception as exc:
                await runtime.store.record_run("orders", {},
                                               scrub(str(exc), self.settings.secrets()))
                raise
            await runtime.store.record_run("orders", result.as_dict())
