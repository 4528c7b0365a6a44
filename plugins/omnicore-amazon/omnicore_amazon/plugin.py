"""``AmazonPlugin``: the hooks, and the ``Runtime`` one started plugin works with.

Events it consumes (every other topic is acknowledged at once):

* ``stock.changed``: the Amazon channel's total is recorded; a sold-out SKU is
  patched at once, other changes are coalesced by the background flush;
* ``channel.updated`` of the Amazon channel (a buffer, a location): every listed
  SKU's quantity is read again and pushed;
* ``product.created`` / ``product.updated``: put (a new SKU) or patch (changed
  attributes) of the product's variants;
* ``prices.updated``: patch of ``purchasable_offer`` for the SKUs whose price for
  the channel changed;
* ``fulfilment.shipped`` of an Amazon order: ``confirmShipment`` with the carrier
  and the tracking number.

A handler raises only what a retry may cure (Amazon unreachable, throttled, the
database): the outbox then retries the event with back-off, so an outage of hours
delays the sync and loses nothing. What Amazon refuses for good (an invalid
listing) is recorded for ``omnicore amazon status`` and the event acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import click
import httpx

from omnicore import NotFound, PluginError, hookimpl
from omnicore_amazon.background import BackgroundSync
from omnicore_amazon.client import SpApiClient
from omnicore_amazon.listings import ListingSync
from omnicore_amazon.orders import OrderSync
from omnicore_amazon.settings import AmazonSettings
from omnicore_amazon.state import StateStore
from omnicore_amazon.stock import StockSync

if TYPE_CHECKING:
    from omnicore import Commerce, Event

__all__ = ["AmazonPlugin", "Runtime"]

log = logging.getLogger("omnicore_amazon")
PRODUCT_TOPICS = frozenset({"product.created", "product.updated"})


class Runtime:
    """Everything a started plugin uses: client, state, and the three syncs."""

    def __init__(self, commerce: Commerce, settings: AmazonSettings, client: SpApiClient
                 ) -> None:
        self.commerce = commerce
        self.settings = settings
        self.client = client
        self.store = StateStore(commerce.db, commerce.clock)
        self.listings = ListingSync(commerce, settings, client, self.store)
        self.stock = StockSync(commerce, settings, client, self.store)
        self.orders = OrderSync(commerce, settings, client, self.store)
        self.background = BackgroundSync(self)

    async def channel_ready(self) -> bool:
        """Whether the configured channel exists (logged once when it does not)."""
        try:
            await self.commerce.channels.get(self.settings.channel)
        except NotFound:
            log.warning("channel %r does not exist: the Amazon sync waits for it "
                        "(plugins.amazon.channel)", self.settings.channel)
            return False
        return True


class AmazonPlugin:
    """The ``amazon`` plugin. ``sleep``, ``clock``, ``jitter`` and ``transport`` are for
    tests (no real waiting, a fixed jitter, an httpx transport of one's own)."""

    name = "amazon"

    def __init__(self, *, sleep: Callable[[float], Awaitable[None]] | None = None,
                 clock: Callable[[], float] | None = None,
                 jitter: Callable[[], float] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._transport = transport
        self.runtime: Runtime | None = None

    @hookimpl
    def register_settings(self) -> type[Any]:
        return AmazonSettings

    @hookimpl
    async def startup(self, commerce: Commerce, settings: AmazonSettings) -> None:
        client = SpApiClient(settings, sleep=self._sleep, clock=self._clock,
                             jitter=self._jitter, transport=self._transport)
        runtime = Runtime(commerce, settings, client)
        try:
            await runtime.store.create()
        except Exception:
            await client.aclose()
            raise
        self.runtime = runtime
        if settings.background == "always":
            runtime.background.start()
        log.info("Amazon connector ready: seller %s, marketplaces %s (%s%s), channel %s",
                 settings.seller_id, ",".join(settings.marketplace_ids), settings.api_region,
                 ", sandbox" if settings.sandbox else "", settings.channel)

    @hookimpl
    async def shutdown(self) -> None:
        if self.runtime is not None:
            await self.runtime.background.stop()
            await self.runtime.client.aclose()
            self.runtime = None

    def started(self) -> Runtime:
        if self.runtime is None:
            raise PluginError("the Amazon connector is used before it started", plugin=self.name)
        return self.runtime

    @hookimpl
    async def on_event(self, event: Event) -> None:
        runtime = self.runtime
        if runtime is None:
            raise PluginError("not started in this process", plugin=self.name)
        settings = runtime.settings
        if settings.background == "events":
            runtime.background.start()
        wait = settings.max_rate_wait_seconds
        topic, payload = event.topic, event.payload
        if topic == "stock.changed":
            if await runtime.stock.record(event):
                await runtime.stock.push_now(str(payload["sku"]), max_wait=wait)
            else:
                runtime.background.wake()
        elif topic == "channel.updated" and payload.get("code") == settings.channel:
            if await runtime.stock.enqueue_all():
                runtime.background.wake()
        elif topic in PRODUCT_TOPICS:
            if settings.product_type(payload.get("family")) and await runtime.channel_ready():
                await runtime.listings.push_handles([str(payload["handle"])], max_wait=wait)
        elif topic == "prices.updated":
            skus = [str(p["sku"]) for p in payload.get("prices") or []
                    if p.get("channel") in (None, settings.channel)]
            if skus and await runtime.channel_ready():
                await runtime.listings.push_skus(list(dict.fromkeys(skus)), max_wait=wait)
        elif topic == "fulfilment.shipped" and payload.get("channel") == settings.channel:
            await runtime.orders.confirm_shipment(event, max_wait=wait)

    @hookimpl
    def register_routes(self, commerce: Commerce) -> list[Any]:
        """``GET /admin/amazon/status``: last syncs, pending pushes, listing issues (staff)."""
        from omnicore_amazon.admin_route import status_route

        return [status_route(commerce, self)]

    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        from omnicore_amazon.cli import amazon

        cli.add_command(amazon)
