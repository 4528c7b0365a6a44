"""``commerce.fulfilment``: picking, packing, shipping, click & collect.

A fulfilment is the part of an order one location sends for one delivery group
(see ``omnicore.checkout._commit``). It moves along
``omnicore.orders.FULFILMENT_TRANSITIONS`` only — anything else raises
``Conflict`` naming ``status`` and changes nothing. Every step, in one
transaction: the fulfilment row is locked (after its order's row, the lock order
of every order write, so two associates cannot collect twice), its stock moves
(``omnicore.fulfilment._stock``), ``fulfilment.<status>`` is emitted with a payload
a notifier can use without a query, and the order's status is recalculated
(``order.shipped``, ``order.collected`` …).

Money moves *after* the commit: when goods leave (shipped, collected),
``commerce.orders.capture_due`` captures what the capture policy says is due. A
gateway failure then is logged and the capture stays due; it never undoes the
shipment. Pickup expiry and its payments live in ``omnicore.fulfilment._expiry``.
"""

from __future__ import annotations

import builtins
import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import or_, select, update

from omnicore.errors import Conflict, Forbidden, InvalidInput, NotFound
from omnicore.fulfilment._codes import hash_code, new_code, verify_code
from omnicore.fulfilment._expiry import expire_pickups
from omnicore.fulfilment._records import (
    enter,
    fulfilment_model,
    fulfilment_payload,
    lines_of,
    lock_fulfilment,
)
from omnicore.fulfilment._stock import consume_lines, transfer_lines
from omnicore.orders import Fulfilment, FulfilmentStatus, check_fulfilment_transition, order_row
from omnicore.stock import StockChanges, emit_stock_events
from omnicore.store.order_tables import fulfilments, orders

if TYPE_CHECKING:
    from omnicore.commerce import Commerce
    from omnicore.store.uow import Tx

__all__ = ["FulfilmentService", "PickupNotice"]

log = logging.getLogger("omnicore.fulfilment")

F = FulfilmentStatus
SHIPPED_KINDS = frozenset({"ship", "relay"})
#: what is still to be done at a location (``for_location``'s default)
WORK = (F.OPEN, F.AWAITING_TRANSFER, F.PICKING, F.PACKED, F.READY_FOR_PICKUP)
MAX_PAGE = 200


@attrs.frozen
class PickupNotice:
    """What ``ready_for_pickup`` returns. ``code`` is the plain pickup code, given this
    once: omnicore keeps only its hash. Show it to the customer (SMS, e-mail, app)."""

    fulfilment: Fulfilment
    order_number: str
    code: str
    location: str
    expires_at: dt.datetime


def _text(value: object, field: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("must be a non-empty string", field=field)
    if len(value.strip()) > limit:
        raise InvalidInput(f"must be at most {limit} characters", field=field)
    return value.strip()


class FulfilmentService:
    """The work of stores and warehouses on orders: pick, pack, ship, hand over."""

    def __init__(self, commerce: Commerce) -> None:
        self._commerce = commerce
        self._uow = commerce.uow

    # -- reading -------------------------------------------------------------------------------

    async def get(self, fulfilment_id: str) -> Fulfilment:
        async with self._uow.read() as tx:
            row = (await tx.conn.execute(
                select(fulfilments).where(fulfilments.c.id == fulfilment_id))).one_or_none()
            if row is None:
                raise NotFound(f"no fulfilment {fulfilment_id!r}", field="fulfilment_id")
            return fulfilment_model(row, (await lines_of(tx, [row.id]))[row.id])

    async def for_order(self, order_id: str) -> list[Fulfilment]:
        """The order's fulfilments, oldest first."""
        async with self._uow.read() as tx:
            await order_row(tx, order_id)
            return await self._models(tx, select(fulfilments).where(
                fulfilments.c.order_id == order_id))

    async def for_location(self, location: str, *, status: str | Sequence[str] | None = None,
                           limit: int = 100) -> builtins.list[Fulfilment]:
        """A location's work queue, oldest first: what it fulfils or hands over (pickup
        store), by default everything not finished (open … ready for pickup)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_PAGE:
            raise InvalidInput(f"must be 1..{MAX_PAGE}", field="limit")
        wanted = WORK if status is None else [status] if isinstance(status, str) else status
        try:
            values = [F(s).value for s in wanted]
        except ValueError:
            raise InvalidInput("not a fulfilment status", field="status") from None
        async with self._uow.read() as tx:
            return await self._models(tx, select(fulfilments).where(
                or_(fulfilments.c.location_code == location,
                    fulfilments.c.pickup_location == location),
                fulfilments.c.status.in_(values)).limit(limit))

    async def _models(self, tx: Tx, query: Any) -> builtins.list[Fulfilment]:
        rows = (await tx.conn.execute(
            query.order_by(fulfilments.c.created_at, fulfilments.c.id))).all()
        lines = await lines_of(tx, [r.id for r in rows])
        return [fulfilment_model(r, lines[r.id]) for r in rows]

    # -- picking, packing, shipping ------------------------------------------------------------

    async def start_picking(self, fulfilment_id: str, *, actor: str | None = None
                            ) -> Fulfilment:
        """An associate starts picking the goods: ``picking``."""
        return await self._step(fulfilment_id, F.PICKING, actor)

    async def pack(self, fulfilment_id: str, *, actor: str | None = None) -> Fulfilment:
        """The goods are packed: ``packed``."""
        return await self._step(fulfilment_id, F.PACKED, actor)

    async def deliver(self, fulfilment_id: str, *, actor: str | None = None) -> Fulfilment:
        """The carrier delivered the parcel: ``shipped`` → ``delivered``."""
        return await self._step(fulfilment_id, F.DELIVERED, actor)

    async def _step(self, fulfilment_id: str, to: FulfilmentStatus, actor: str | None
                    ) -> Fulfilment:
        async with self._uow() as tx:
            order, row = await lock_fulfilment(tx, fulfilment_id)
            await enter(tx, order, row, to, actor=actor)
        return await self.get(fulfilment_id)

    async def ship(self, fulfilment_id: str, *, carrier: str, tracking_number: str,
                   actor: str | None = None) -> Fulfilment:
        """The parcel left with ``carrier``: its allocations leave stock as sales, then what is
        due is captured.

        Calling it again with the same carrier and tracking number (a retried request)
        changes nothing and only retries the capture. A gateway failure is logged and the
        capture stays due; the shipment stands.
        """
        carrier = _text(carrier, "carrier", 100)
        tracking_number = _text(tracking_number, "tracking_number", 200)
        async with self._uow() as tx:
            order, row = await lock_fulfilment(tx, fulfilment_id)
            replay = (row.status == F.SHIPPED and row.carrier == carrier
                      and row.tracking_number == tracking_number)
            if not replay:
                check_fulfilment_transition(F(row.status), F.SHIPPED)
                if row.kind not in SHIPPED_KINDS:
                    raise Conflict(f"a {row.kind} fulfilment is collected, not shipped",
                                   field="kind")
                changes = StockChanges("sale")
                lines = (await lines_of(tx, [row.id]))[row.id]
                await consume_lines(tx, row.id, row.location_code, lines,
                                    note=f"order {order.number} shipped", changes=changes)
                await enter(tx, order, row, F.SHIPPED, actor=actor,
                            values={"carrier": carrier, "tracking_number": tracking_number})
                await emit_stock_events(tx, changes, low_default=self._commerce.stock.low_threshold)
        await self._capture(order.id, actor)
        return await self.get(fulfilment_id)

    async def _capture(self, order_id: str, actor: str | None) -> None:
        try:
            await self._commerce.orders.capture_due(order_id, actor=actor)
        except Exception:  # the goods have left: the capture stays due, the step stands
            log.exception("capture after fulfilment of order %s failed; it stays due", order_id)

    # -- click & collect -----------------------------------------------------------------------

    async def transfer_arrived(self, fulfilment_id: str, *, actor: str | None = None
                               ) -> Fulfilment:
        """The goods of a transferred pickup reached the store: ``awaiting_transfer`` → ``open``.

        Their units move to the store (``transfer_out`` at the origin, ``transfer_in`` at
        the store, a received stock transfer) with their allocation, and the fulfilment's
        ``location`` becomes the store (``transfer_ids`` keeps the trace).
        """
        async with self._uow() as tx:
            order, row = await lock_fulfilment(tx, fulfilment_id)
            check_fulfilment_transition(F(row.status), F.OPEN)
            values = await self._arrive(tx, order, row)
            await enter(tx, order, row, F.OPEN, actor=actor, values=values)
        return await self.get(fulfilment_id)

    async def _arrive(self, tx: Tx, order: Any, row: Any) -> dict[str, Any]:
        """Move a pickup's units to its store; the row values that say so."""
        store = row.pickup_location
        if row.kind != "pickup" or not store:
            raise Conflict("only a pickup waits for a transfer", field="kind")
        if row.location_code == store:
            return {}
        changes = StockChanges("transfer")
        lines = (await lines_of(tx, [row.id]))[row.id]
        moved = await transfer_lines(tx, row, lines, store,
                                     note=f"order {order.number} to {store}", changes=changes)
        await emit_stock_events(tx, changes, low_default=self._commerce.stock.low_threshold)
        return {"location_code": store, "transfer_ids": [*row.transfer_ids, *moved]}

    async def ready_for_pickup(self, fulfilment_id: str, *, actor: str | None = None
                               ) -> PickupNotice:
        """The goods wait at the store: a pickup code is made and returned — this once.

        The pickup expires after ``[fulfilment] pickup_days``. A transferred pickup
        whose arrival was not declared (``transfer_arrived``) arrives now.
        """
        code = new_code()
        async with self._uow() as tx:
            order, row = await lock_fulfilment(tx, fulfilment_id)
            check_fulfilment_transition(F(row.status), F.READY_FOR_PICKUP)
            if row.kind != "pickup":
                raise Conflict(f"a {row.kind} fulfilment is shipped, not picked up",
                               field="kind")
            values = await self._arrive(tx, order, row)
            expires_at = tx.now + self._commerce.order_settings.pickup_window
            values.update(pickup_code_hash=hash_code(code), pickup_expires_at=expires_at)
            fresh = await enter(tx, order, row, F.READY_FOR_PICKUP, actor=actor, values=values)
        return PickupNotice(await self.get(fulfilment_id), order.number, code,
                            fresh.pickup_location, expires_at)

    async def reissue_pickup_code(self, fulfilment_id: str, *, actor: str | None = None
                                  ) -> PickupNotice:
        """A new code for a customer who lost theirs; the old one stops working. The pickup
        keeps its expiry. Emits ``fulfilment.pickup_code_reissued``."""
        code = new_code()
        async with self._uow() as tx:
            order, row = await lock_fulfilment(tx, fulfilment_id)
            if row.status != F.READY_FOR_PICKUP:
                raise Conflict(f"a fulfilment that is {row.status} has no pickup code",
                               field="status")
            await tx.conn.execute(update(fulfilments).where(fulfilments.c.id == row.id)
                                  .values(pickup_code_hash=hash_code(code), updated_at=tx.now))
            lines = (await lines_of(tx, [row.id]))[row.id]
            tx.emit("fulfilment.pickup_code_reissued", await fulfilment_payload(
                tx, order, row, lines, previous=row.status, actor=actor))
        return PickupNotice(await self.get(fulfilment_id), order.number, code,
                            row.pickup_location, row.pickup_expires_at)

    async def collect(self, fulfilment: str, *, code: str, location: str,
                      actor: str | None = None) -> Fulfilment:
        """The customer collects at ``location`` with their code: ``collected``.

        :param fulfilment: the fulfilment id, or the order number (its ready pickup at
            ``location`` whose code matches is collected).
        :raises Forbidden: ``code`` is wrong (field ``code``); nothing changes.
        :raises InvalidInput: ``location`` is not the pickup store (field ``location``).
        :raises Conflict: nothing is ready for pickup (field ``status``) — collected
            already, expired, shipped …

        The allocations leave stock as sales, then what is due is captured — the
        ``manual`` (pay at pickup) payment included: collecting means the associate took
        the money.
        """
        if not isinstance(code, str) or not code.strip():
            raise InvalidInput("give the customer's pickup code", field="code")
        location = _text(location, "location", 64)
        async with self._uow() as tx:
            order, rows = await self._pickups(tx, fulfilment)
            ready = [r for r in rows if r.status == F.READY_FOR_PICKUP]
            if not ready:
                if len(rows) == 1:
                    check_fulfilment_transition(F(rows[0].status), F.COLLECTED)
                raise Conflict("nothing of this order is ready for pickup", field="status")
            here = [r for r in ready if r.pickup_location == location]
            if not here:
                raise InvalidInput(f"the order is collected at {ready[0].pickup_location}, "
                                   f"not {location}", field="location")
            matches = [r for r in here if verify_code(code, r.pickup_code_hash)]
            if not matches:
                raise Forbidden("this is not the pickup code of the order", field="code")
            row = matches[0]
            changes = StockChanges("sale")
            lines = (await lines_of(tx, [row.id]))[row.id]
            await consume_lines(tx, row.id, row.location_code, lines,
                                note=f"order {order.number} collected", changes=changes)
            await enter(tx, order, row, F.COLLECTED, actor=actor,
                        values={"pickup_code_hash": None})
            await emit_stock_events(tx, changes, low_default=self._commerce.stock.low_threshold)
        await self._capture(order.id, actor)
        return await self.get(row.id)

    async def _pickups(self, tx: Tx, reference: str) -> tuple[Any, list[Any]]:
        """The order (locked) and its candidate pickup fulfilments (locked) for ``collect``."""
        if not isinstance(reference, str) or not reference.strip():
            raise InvalidInput("give the fulfilment id or the order number", field="fulfilment")
        found = (await tx.conn.execute(
            select(fulfilments.c.id).where(fulfilments.c.id == reference))).scalar()
        if found is not None:
            order, row = await lock_fulfilment(tx, found)
            return order, [row]
        order_id = (await tx.conn.execute(
            select(orders.c.id).where(orders.c.number == reference.strip()))).scalar()
        if order_id is None:
            raise NotFound(f"no fulfilment or order {reference!r}", field="fulfilment")
        order = await order_row(tx, order_id, lock=True)
        rows = (await tx.conn.execute(
            select(fulfilments).where(fulfilments.c.order_id == order_id,
                                      fulfilments.c.kind == "pickup")
            .order_by(fulfilments.c.created_at, fulfilments.c.id).with_for_update())).all()
        if not rows:
            raise Conflict("this order has nothing to collect", field="fulfilment")
        return order, list(rows)

    async def expire_pickups(self, *, limit: int = 100, actor: str = "system") -> int:
        """The worker's sweep: pickups not collected in time expire; returns how many.

        See ``omnicore.fulfilment._expiry``: allocations released, the order cancelled when
        nothing else remains, payments voided or refunded (``[fulfilment]
        expired_pickup_payment``). Idempotent: running it again changes nothing.
        """
        return await expire_pickups(self._commerce, limit=limit, actor=actor)
