"""Amazon orders into omnicore, and shipments back to Amazon.

**Import** (``sync``): every merchant-fulfilled order updated since the cursor goes
through ``commerce.orders.import_external("amazon", <AmazonOrderId>, …)`` —
idempotent by that key, so a page read twice (a crash, an overlap of the cursor)
changes nothing. The import allocates unified stock on the Amazon channel (which
lowers what every channel sees, and so what is pushed back to Amazon), records the
payment as taken by Amazon, and links the buyer to the same customer base by an
``external`` identity ``("amazon", <buyer e-mail>)`` — Amazon's stable, anonymised
address of that buyer for this seller.

| Amazon status                            | what the sync does                          |
|------------------------------------------|---------------------------------------------|
| ``PENDING``, ``PENDING_AVAILABILITY``    | waits (not paid yet; Amazon holds the units) |
| ``UNSHIPPED``, ``PARTIALLY_SHIPPED``, ``SHIPPED`` | imports it (once)                   |
| ``CANCELLED``                            | cancels the imported order: allocations released |
| ``UNFULFILLABLE``, fulfilled by Amazon   | skipped: Amazon's own stock                 |

The cursor (``LastUpdatedAfter``) moves only after a complete pass, to two minutes
before the pass started (Amazon's data is eventually consistent); an order that
cannot be imported (an unknown SKU) is recorded as ``failed`` and does not stop the
others.

**Shipment confirmation**: ``fulfilment.shipped`` of an Amazon order sends
``confirmShipment`` (Orders API v0 — the 2026-01-01 API has no such operation) with
the carrier, the tracking number and the order items of that fulfilment, once per
fulfilment.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import select

from omnicore import Conflict, InvalidInput, NotFound
from omnicore_amazon.errors import SpApiError
from omnicore_amazon.orders_api import AmazonOrder, orders_api, parse_time
from omnicore_amazon.state import orders, shipments

if TYPE_CHECKING:
    from omnicore import Commerce, Event
    from omnicore_amazon.client import SpApiClient
    from omnicore_amazon.settings import AmazonSettings
    from omnicore_amazon.state import StateStore

__all__ = ["SOURCE", "OrderSync", "OrderSyncResult"]

log = logging.getLogger("omnicore_amazon")
SOURCE = "amazon"
CURSOR = "orders.cursor"
OVERLAP = dt.timedelta(minutes=2)
SYNC_LEASE = "orders-sync"
SYNC_LEASE_SECONDS = 1800.0
IMPORTED = frozenset({"UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"})
WAITING = frozenset({"PENDING", "PENDING_AVAILABILITY"})


@attrs.define
class OrderSyncResult:
    seen: int = 0
    imported: int = 0
    cancelled: int = 0
    waiting: int = 0
    skipped: int = 0
    failed: int = 0
    unchanged: int = 0
    busy: bool = False

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _names(full: str | None) -> tuple[str | None, str | None]:
    parts = (full or "").split()
    if not parts:
        return None, None
    if len(parts) == 1:
        return None, parts[0]
    return " ".join(parts[:-1]), parts[-1]


class OrderSync:
    def __init__(self, commerce: Commerce, settings: AmazonSettings, client: SpApiClient,
                 store: StateStore) -> None:
        self.commerce = commerce
        self.settings = settings
        self.client = client
        self.store = store
        self.api = orders_api(settings.orders_api, client, settings.marketplace_ids)
        self.holder = secrets.token_hex(8)

    async def cursor(self) -> dt.datetime:
        saved = await self.store.get(CURSOR)
        if saved:
            return parse_time(saved)
        return self.store.now() - dt.timedelta(days=self.settings.orders_lookback_days)

    async def sync(self, *, since: dt.datetime | None = None,
                   progress: Callable[[AmazonOrder, str], None] | None = None
                   ) -> OrderSyncResult:
        """Import what changed at Amazon since the cursor (or ``since``: read again from
        then, to retry orders that failed), then move the cursor."""
        result = OrderSyncResult()
        if not await self.store.lease(SYNC_LEASE, SYNC_LEASE_SECONDS, self.holder):
            result.busy = True  # another process is importing: one pass at a time
            return result
        try:
            started = self.store.now()
            since = since or await self.cursor()
            async for order in self.api.changed_since(since):
                result.seen += 1
                outcome = await self.apply(order)
                setattr(result, outcome, getattr(result, outcome) + 1)
                if progress is not None:
                    progress(order, outcome)
            await self.store.put(CURSOR, self.store.stamp(max(since, started - OVERLAP)))
        finally:
            await self.store.release(SYNC_LEASE, self.holder)
        return result

    async def apply(self, order: AmazonOrder) -> str:
        """Bring one Amazon order into omnicore; returns what was done."""
        async with self.store.read() as conn:
            known = (await conn.execute(select(orders).where(
                orders.c.amazon_order_id == order.order_id))).first()
        if order.fulfilled_by != "MERCHANT" or order.status == "UNFULFILLABLE":
            return await self._note(order, known, "skipped", "fulfilled by Amazon")
        if order.status == "CANCELLED":
            return await self._cancel(order, known)
        if order.status in WAITING:
            return await self._note(order, known, "waiting", "not paid yet")
        if known is not None and known.state in ("imported", "cancelled"):
            await self._note(order, known, known.state, known.note)
            return "unchanged"
        try:
            imported = await self.commerce.orders.import_external(
                SOURCE, order.order_id, **self._import_arguments(order))
        except (InvalidInput, NotFound) as exc:  # an unknown SKU, a bad address …
            log.warning("Amazon order %s not imported: %s", order.order_id, exc)
            return await self._note(order, known, "failed", str(exc))
        oversold = imported.details.get("oversold")
        note = f"oversold: {oversold}" if oversold else None
        await self._note(order, known, "imported", note, order_id=imported.id)
        return "imported"

    def _import_arguments(self, order: AmazonOrder) -> dict[str, Any]:
        lines = []
        for item in order.items:
            if item.quantity <= 0:
                continue
            discount = min(item.discount, item.unit_price * item.quantity)
            line: dict[str, Any] = {"sku": item.sku, "quantity": item.quantity,
                                    "unit_price": str(item.unit_price),
                                    "external_line_id": item.order_item_id}
            if discount > 0:
                line["discount"] = str(discount)
            if item.title:
                line["title"] = item.title[:500]
            lines.append(line)
        customer = None
        if order.buyer_email:
            first, last = _names(order.buyer_name)
            customer = {"external_id": order.buyer_email.strip().lower(),
                        "first_name": first, "last_name": last}
        arguments: dict[str, Any] = {
            "channel": self.settings.channel, "lines": lines, "placed_at": order.created_at,
            "customer": customer, "shipping": str(order.shipping), "actor": SOURCE,
            "attributes": {"marketplace_id": order.marketplace_id,
                           "amazon_status": order.status,
                           "amazon_total": str(order.total) if order.total is not None
                           else None},
        }
        if order.currency:
            arguments["currency"] = order.currency
        if order.address:
            arguments["shipping_address"] = order.address
        if order.service_level:
            arguments["shipping_method"] = order.service_level.lower()[:64]
        return arguments

    async def _cancel(self, order: AmazonOrder, known: Any) -> str:
        if known is None or known.order_id is None:
            return await self._note(order, known, "skipped", "cancelled before it was imported")
        if known.state == "cancelled":
            return "unchanged"
        try:
            await self.commerce.orders.cancel_external(SOURCE, order.order_id,
                                                       reason="cancelled on Amazon")
        except Conflict as exc:  # the goods have left: a return, not a cancellation
            return await self._note(order, known, "failed", f"cannot cancel: {exc}")
        await self._note(order, known, "cancelled", None, order_id=known.order_id)
        return "cancelled"

    async def _note(self, order: AmazonOrder, known: Any, state: str, note: str | None, *,
                    order_id: str | None = None) -> str:
        async with self.store.write() as conn:
            await self.store.upsert(conn, orders, {
                "amazon_order_id": order.order_id,
                "order_id": order_id or (known.order_id if known is not None else None),
                "marketplace_id": order.marketplace_id, "amazon_status": order.status,
                "state": state, "note": note, "last_updated": self.store.stamp(
                    order.last_updated), "updated_at": self.store.stamp()},
                ["amazon_order_id"])
        return state

    async def failures(self, limit: int = 20) -> list[Any]:
        async with self.store.read() as conn:
            return list((await conn.execute(
                select(orders).where(orders.c.state == "failed")
                .order_by(orders.c.updated_at.desc()).limit(limit))).all())

    # -- shipment confirmation -----------------------------------------------------------------

    async def confirm_shipment(self, event: Event, *, max_wait: float | None = None) -> str:
        """``fulfilment.shipped`` of an Amazon order → ``confirmShipment`` (once)."""
        payload = event.payload
        if payload.get("channel") != self.settings.channel:
            return "ignored"
        fulfilment_id = str(payload["fulfilment_id"])
        async with self.store.read() as conn:
            done = (await conn.execute(select(shipments).where(
                shipments.c.fulfilment_id == fulfilment_id))).first()
        if done is not None and done.status == "confirmed":
            return "already confirmed"
        order = await self.commerce.orders.get(str(payload["order_id"]))
        if order.source != SOURCE or not order.external_id:
            return "ignored"
        imported = order.details.get("imported") or {}
        item_ids: Mapping[str, str] = imported.get("external_line_ids") or {}
        marketplace = ((order.details.get("attributes") or {}).get("marketplace_id")
                       or self.settings.marketplace_ids[0])
        positions = sorted(f.id for f in order.fulfilments)
        reference = str(positions.index(fulfilment_id) + 1 if fulfilment_id in positions else 1)
        items = [{"orderItemId": item_ids[line["line_id"]], "quantity": int(line["quantity"])}
                 for line in payload.get("lines") or [] if line.get("line_id") in item_ids]
        carrier = str(payload.get("carrier") or "Other")
        code = self.settings.carriers.get(carrier.strip().lower())
        detail: dict[str, Any] = {
            "packageReferenceId": reference, "carrierCode": code or "Other",
            "trackingNumber": str(payload.get("tracking_number") or ""),
            "shipDate": event.occurred_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "orderItems": items}
        if code is None:
            detail["carrierName"] = carrier
        try:
            await self.client.call(
                "confirmShipment", "POST",
                f"/orders/v0/orders/{order.external_id}/shipmentConfirmation",
                json={"marketplaceId": marketplace, "packageDetail": detail}, max_wait=max_wait)
        except SpApiError as exc:
            if exc.retryable:
                raise
            await self._shipment(fulfilment_id, order.external_id, reference, "failed", str(exc))
            log.warning("Amazon refused the shipment confirmation of %s: %s",
                        order.external_id, exc)
            return "refused"
        await self._shipment(fulfilment_id, order.external_id, reference, "confirmed", None)
        return "confirmed"

    async def _shipment(self, fulfilment_id: str, amazon_order_id: str, reference: str,
                        status: str, error: str | None) -> None:
        async with self.store.write() as conn:
            await self.store.upsert(conn, shipments, {
                "fulfilment_id": fulfilment_id, "amazon_order_id": amazon_order_id,
                "package_reference": reference, "status": status, "error": error,
                "updated_at": self.store.stamp()}, ["fulfilment_id"])

    async def failed_shipments(self, limit: int = 20) -> list[Any]:
        async with self.store.read() as conn:
            return list((await conn.execute(
                select(shipments).where(shipments.c.status == "failed")
                .order_by(shipments.c.updated_at.desc()).limit(limit))).all())

