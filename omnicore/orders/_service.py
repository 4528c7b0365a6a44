"""``commerce.orders``: reading, tracking, cancelling orders and capturing what is due."""

from __future__ import annotations

import builtins
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from omnicore.errors import Conflict, InvalidInput, NotFound
from omnicore.money import Money
from omnicore.orders._models import (
    CapturePolicy,
    FulfilmentStatus,
    Order,
    OrderStatus,
    PaymentStatus,
)
from omnicore.orders._records import load_order, order_row
from omnicore.orders._state import GOODS_LEFT, record_status
from omnicore.stock import StockChanges, emit_stock_events, release_hold
from omnicore.store.order_tables import fulfilment_lines, fulfilments, orders, payments
from omnicore.store.tables import stock_holds

if TYPE_CHECKING:
    from omnicore.commerce import Commerce
    from omnicore.external_orders import ExternalOrders

__all__ = ["OrderService", "capture_due_amount", "closed_value"]

log = logging.getLogger("omnicore.orders")

MAX_PAGE = 200
#: order statuses at which some goods have left, so money may be due
GOODS_LEFT_STATUSES = (OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED,
                       OrderStatus.DELIVERED, OrderStatus.COLLECTED)
CANCELLABLE = frozenset({OrderStatus.PLACED, OrderStatus.AUTHORIZED, OrderStatus.PAID,
                         OrderStatus.IN_FULFILMENT, OrderStatus.READY_FOR_PICKUP})


def capture_due_amount(order: Order) -> Money:
    """What should be captured by now under the order's capture policy.

    ``immediate``: the total. ``on_fulfilment``: the total once every live fulfilment's
    goods have left (shipped, delivered, collected); before that, the lines (after
    discounts) whose units have left, plus the shipping of groups that have fully left.
    """
    if order.capture_policy is CapturePolicy.IMMEDIATE:
        return order.total
    live = [f for f in order.fulfilments
            if f.status not in (FulfilmentStatus.CANCELLED, FulfilmentStatus.EXPIRED)]
    if live and all(f.status in GOODS_LEFT for f in live):
        return max(order.total - closed_value(order), Money.zero(order.currency))
    due = Money.zero(order.currency)
    for f in live:
        if f.status not in GOODS_LEFT:
            continue
        for part in f.lines:
            line = order.line(part.order_line_id)
            due += Money(line.total.amount * part.quantity / line.quantity, order.currency)
    for group in order.groups:
        group_live = [f for f in live if f.group == group.key]
        if group_live and all(f.status in GOODS_LEFT for f in group_live):
            due += group.price
    return min(due, order.total)


def closed_value(order: Order) -> Money:
    """The value that will never be fulfilled: the lines of expired or cancelled
    fulfilments, and the shipping of groups none of whose fulfilments is left."""
    closed = (FulfilmentStatus.CANCELLED, FulfilmentStatus.EXPIRED)
    value = Money.zero(order.currency)
    for f in order.fulfilments:
        if f.status in closed:
            for part in f.lines:
                line = order.line(part.order_line_id)
                value += Money(line.total.amount * part.quantity / line.quantity, order.currency)
    for group in order.groups:
        parts = [f for f in order.fulfilments if f.group == group.key]
        if parts and all(f.status in closed for f in parts):
            value += group.price
    return value


class OrderService:
    """Orders from every channel (see also ``commerce.fulfilment`` and ``commerce.returns``)."""

    def __init__(self, commerce: Commerce) -> None:
        self._commerce = commerce
        self._uow = commerce.uow
        self._external: ExternalOrders | None = None

    def attach_external(self, external: ExternalOrders) -> None:
        """Wire the importer of external orders (``Commerce`` does it at start)."""
        self._external = external

    @property
    def external(self) -> ExternalOrders:
        if self._external is None:
            raise RuntimeError("OrderService used before Commerce attached its ExternalOrders")
        return self._external

    async def import_external(self, source: str, external_id: str, *, channel: str,
                              lines: Sequence[Mapping[str, Any]], **details: Any) -> Order:
        """Record an order that ``source`` already took (``ExternalOrders.import_external``:
        idempotent by ``(source, external_id)``, sourced from the same stock)."""
        return await self.external.import_external(source, external_id, channel=channel,
                                                   lines=lines, **details)

    async def by_external(self, source: str, external_id: str) -> Order:
        """The order imported from ``source`` as ``external_id``, or ``NotFound``."""
        return await self.external.by_external(source, external_id)

    async def cancel_external(self, source: str, external_id: str, *,
                              reason: str | None = None, actor: str | None = None) -> Order:
        """The source cancelled the order (``ExternalOrders.cancel_external``)."""
        return await self.external.cancel_external(source, external_id, reason=reason,
                                                   actor=actor)

    async def get(self, order_id: str) -> Order:
        async with self._uow.read() as tx:
            return await load_order(tx, order_id)

    async def by_number(self, number: str) -> Order:
        async with self._uow.read() as tx:
            found = (await tx.conn.execute(
                select(orders.c.id).where(orders.c.number == number))).scalar()
            if found is None:
                raise NotFound(f"no order {number!r}", field="number")
            return await load_order(tx, found)

    async def list(
        self, *, channel: str | None = None, status: str | Sequence[str] | None = None,
        customer_id: str | None = None, source: str | None = None,
        placed_after: dt.datetime | None = None, placed_before: dt.datetime | None = None,
        limit: int = 50, after: str | None = None,
    ) -> list[Order]:
        """Orders newest first, filtered; ``after`` is the id of the last order of the
        previous page (keyset pagination)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_PAGE:
            raise InvalidInput(f"must be 1..{MAX_PAGE}", field="limit")
        query = select(orders.c.id, orders.c.placed_at)
        if channel is not None:
            query = query.where(orders.c.channel_code == channel)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            query = query.where(orders.c.status.in_([OrderStatus(s).value for s in wanted]))
        if customer_id is not None:
            query = query.where(orders.c.customer_id == customer_id)
        if source is not None:
            query = query.where(orders.c.source == source)
        if placed_after is not None:
            query = query.where(orders.c.placed_at >= placed_after)
        if placed_before is not None:
            query = query.where(orders.c.placed_at < placed_before)
        async with self._uow.read() as tx:
            if after is not None:
                anchor = await order_row(tx, after)
                query = query.where(
                    (orders.c.placed_at < anchor.placed_at)
                    | ((orders.c.placed_at == anchor.placed_at) & (orders.c.id < anchor.id)))
            ids = [r.id for r in await tx.conn.execute(
                query.order_by(orders.c.placed_at.desc(), orders.c.id.desc()).limit(limit))]
            return [await load_order(tx, order_id) for order_id in ids]

    async def for_customer(self, customer_id: str, *, limit: int = 50) -> builtins.list[Order]:
        """The customer's orders from every channel, newest first."""
        return await self.list(customer_id=customer_id, limit=limit)

    async def track(self, number: str, *, email: str | None = None,
                    phone: str | None = None) -> Order:
        """An order found by its number and the e-mail or phone it was placed with.

        For tracking without an account. A wrong contact answers exactly like an unknown
        number (``NotFound``), so the call cannot be used to probe order numbers.
        """
        if not email and not phone:
            raise InvalidInput("give the e-mail or the phone of the order", field="email")
        async with self._uow.read() as tx:
            row = (await tx.conn.execute(
                select(orders).where(orders.c.number == str(number).strip()))).one_or_none()
            matches = row is not None and (
                (email is not None and row.email is not None
                 and row.email == email.strip().lower())
                or (phone is not None and row.phone is not None
                    and _digits(row.phone) == _digits(phone)))
            if row is None or not matches:
                raise NotFound("no order with this number and contact", field="number")
            return await load_order(tx, row.id)

    async def cancel(self, order_id: str, *, actor: str | None = None,
                     reason: str | None = None) -> Order:
        """Cancel an order whose goods have not left: allocations released, payments voided
        (or refunded when already captured)."""
        async with self._uow() as tx:
            row = await order_row(tx, order_id, lock=True)
            status = OrderStatus(row.status)
            if status not in CANCELLABLE:
                raise Conflict(f"an order that is {status} cannot be cancelled", field="status")
            left = (await tx.conn.execute(
                select(func.count()).select_from(fulfilments).where(
                    fulfilments.c.order_id == order_id,
                    fulfilments.c.status.in_([s.value for s in GOODS_LEFT])))).scalar()
            if left:
                raise Conflict("some goods have already left: return them instead",
                               field="status")
            changes = StockChanges("cancellation")
            hold_ids = [h for (h,) in await tx.conn.execute(
                select(fulfilment_lines.c.hold_id)
                .join(fulfilments, fulfilments.c.id == fulfilment_lines.c.fulfilment_id)
                .where(fulfilments.c.order_id == order_id,
                       fulfilment_lines.c.hold_id.is_not(None)))]
            existing = {g for (g,) in await tx.conn.execute(
                select(stock_holds.c.group_id).where(stock_holds.c.group_id.in_(hold_ids)))}
            for hold_id in sorted(existing):
                await release_hold(tx, hold_id, changes)
            await tx.conn.execute(
                fulfilments.update().where(
                    fulfilments.c.order_id == order_id,
                    fulfilments.c.status.not_in([FulfilmentStatus.EXPIRED.value,
                                                 FulfilmentStatus.CANCELLED.value]))
                .values(status=FulfilmentStatus.CANCELLED.value, updated_at=tx.now))
            await record_status(tx, row, OrderStatus.CANCELLED, actor=actor, note=reason)
            await emit_stock_events(tx, changes, low_default=self._commerce.stock.low_threshold)
        order = await self.get(order_id)
        for payment in order.payments:
            if payment.refundable.minor_units:
                await self._commerce.payments.refund(payment.id, actor=actor)
            if payment.status in (PaymentStatus.AUTHORIZED, PaymentStatus.PARTIALLY_CAPTURED,
                                  PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION):
                await self._commerce.payments.void(payment.id, actor=actor)
        return await self.get(order_id)

    async def capture_due(self, order_id: str, *, actor: str | None = None) -> Order:
        """Capture what the capture policy says is due and is not captured yet, from the
        order's payments in the order they were given. A gateway failure leaves the rest
        due: the worker's ``reconcile`` tries again."""
        order = await self.get(order_id)
        if order.status is OrderStatus.CANCELLED:
            return order
        missing = capture_due_amount(order) - order.paid
        for payment in order.payments:
            if missing.minor_units <= 0:
                break
            if payment.status not in (PaymentStatus.AUTHORIZED,
                                      PaymentStatus.PARTIALLY_CAPTURED, PaymentStatus.PENDING):
                continue
            ceiling = payment.amount if payment.status is PaymentStatus.PENDING \
                else payment.authorized
            take = min(missing, ceiling - payment.captured)
            if take.minor_units <= 0:
                continue
            await self._commerce.payments.capture(payment.id, take, actor=actor)
            missing -= take
        return await self.get(order_id)


    async def retry_captures(self, *, limit: int = 50) -> int:
        """Capture what is due on orders whose goods left but whose money is not all taken
        (a gateway failed at shipment or collection); run by the worker. Returns how many
        orders were tried; a failure is logged and tried again next time."""
        captured = (select(payments.c.order_id,
                           func.sum(payments.c.captured_minor).label("captured"))
                    .group_by(payments.c.order_id).subquery())
        async with self._uow.read() as tx:
            due = [r.id for r in await tx.conn.execute(
                select(orders.c.id)
                .join(captured, captured.c.order_id == orders.c.id)
                .where(orders.c.status.in_([s.value for s in GOODS_LEFT_STATUSES]),
                       captured.c.captured < orders.c.total_minor)
                .order_by(orders.c.updated_at).limit(limit))]
        for order_id in due:
            try:
                await self.capture_due(order_id, actor="worker")
            except Exception:  # the gateway is still down: next round
                log.warning("capture of order %s failed; will retry", order_id)
        return len(due)


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())[-9:]
