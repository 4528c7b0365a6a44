"""Pickups not collected in time: the worker's sweep (``commerce.fulfilment.expire_pickups``).

A pickup ``ready_for_pickup`` past its ``pickup_expires_at`` becomes ``expired``
in one transaction: its allocations are released at the store (the units become
sellable there again), its code stops working, ``fulfilment.expired`` is emitted.
When nothing else of the order remains (every fulfilment expired or cancelled),
the order is cancelled (``order.cancelled``, note "not collected in time").

After the commit, the payments, by ``[fulfilment] expired_pickup_payment``:

* ``void`` (default): authorizations and the pay-at-pickup ``manual`` payment are
  voided; money already captured (capture policy ``immediate``) stays captured —
  refunding it is the store's decision (``commerce.payments.refund``);
* ``refund``: the same, and captured money is refunded.

When the rest of the order is still to be fulfilled, nothing is voided (the
authorization pays for the rest) and, under ``refund``, only captured money
beyond the value of what remains is refunded.

A gateway failure is logged; the next sweep tries again: a cancelled order with
an expired pickup whose payments still hold money is settled again. Running the
sweep twice changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, or_, select

from omnicore.fulfilment._records import enter, lines_of, lock_fulfilment
from omnicore.fulfilment._stock import release_lines
from omnicore.money import Money
from omnicore.orders import (
    CLOSED,
    FulfilmentStatus,
    OrderStatus,
    PaymentStatus,
    closed_value,
    order_row,
    record_status,
)
from omnicore.stock import StockChanges, emit_stock_events
from omnicore.store.order_tables import fulfilments, orders, payments

if TYPE_CHECKING:
    from omnicore.commerce import Commerce

__all__ = ["expire_pickups", "settle_expired"]

log = logging.getLogger("omnicore.fulfilment")

F = FulfilmentStatus
VOIDABLE = (PaymentStatus.AUTHORIZED, PaymentStatus.PARTIALLY_CAPTURED, PaymentStatus.PENDING)


async def expire_pickups(commerce: Commerce, *, limit: int, actor: str) -> int:
    """Expire up to ``limit`` overdue pickups and settle their payments; returns how many."""
    await _settle_stragglers(commerce, limit=limit, actor=actor)
    async with commerce.uow.read() as tx:
        due = [r.id for r in await tx.conn.execute(
            select(fulfilments.c.id).where(
                fulfilments.c.status == F.READY_FOR_PICKUP.value,
                fulfilments.c.pickup_expires_at <= tx.now)
            .order_by(fulfilments.c.pickup_expires_at, fulfilments.c.id).limit(limit))]
    expired = 0
    for fulfilment_id in due:
        order_id = await _expire(commerce, fulfilment_id, actor)
        if order_id is not None:
            expired += 1
            await settle_expired(commerce, order_id, actor=actor)
    return expired


async def _expire(commerce: Commerce, fulfilment_id: str, actor: str) -> str | None:
    """Expire one pickup; its order id, or None when it was collected or expired meanwhile."""
    async with commerce.uow() as tx:
        order, row = await lock_fulfilment(tx, fulfilment_id)
        if (row.status != F.READY_FOR_PICKUP or row.pickup_expires_at is None
                or row.pickup_expires_at > tx.now):
            return None
        changes = StockChanges("expiry")
        await release_lines(tx, (await lines_of(tx, [row.id]))[row.id], changes)
        others = [F(s) for (s,) in await tx.conn.execute(
            select(fulfilments.c.status).where(fulfilments.c.order_id == order.id,
                                               fulfilments.c.id != row.id))]
        nothing_left = all(s in CLOSED for s in others)
        await enter(tx, order, row, F.EXPIRED, actor=actor, values={"pickup_code_hash": None},
                    refresh=not nothing_left)
        if nothing_left and order.status != OrderStatus.CANCELLED:
            await record_status(tx, await order_row(tx, order.id), OrderStatus.CANCELLED,
                                actor=actor, note="not collected in time")
        await emit_stock_events(tx, changes, low_default=commerce.stock.low_threshold)
    return str(order.id)


async def settle_expired(commerce: Commerce, order_id: str, *, actor: str) -> None:
    """Void or refund what an order's expired pickups leave unearned (see the module)."""
    order = await commerce.orders.get(order_id)
    refund = commerce.order_settings.expired_pickup_payment == "refund"
    newest_first = list(reversed(order.payments))
    if order.status is OrderStatus.CANCELLED:
        for payment in newest_first:
            if payment.status in VOIDABLE:
                await _attempt(commerce.payments.void(payment.id, actor=actor), payment.id)
            if refund and payment.refundable.minor_units > 0:
                await _attempt(commerce.payments.refund(payment.id, actor=actor), payment.id)
        return
    if not refund:
        return
    keep = max(order.total - closed_value(order), Money.zero(order.currency))
    excess = order.paid - order.refunded - keep
    for payment in newest_first:
        if excess.minor_units <= 0:
            break
        take = min(excess, payment.refundable)
        if take.minor_units > 0:
            await _attempt(commerce.payments.refund(payment.id, take, actor=actor), payment.id)
            excess -= take


async def _attempt(call: Awaitable[Any], payment_id: str) -> None:
    try:
        await call
    except Exception:  # the vendor is down or the payment moved on: the next sweep retries
        log.warning("settling payment %s of an expired pickup failed", payment_id,
                    exc_info=True)


async def _settle_stragglers(commerce: Commerce, *, limit: int, actor: str) -> None:
    """Settle again the cancelled orders with an expired pickup whose payments still hold
    money (a void or refund failed at the gateway last time)."""
    holding: ColumnElement[bool] = payments.c.status.in_([s.value for s in VOIDABLE])
    if commerce.order_settings.expired_pickup_payment == "refund":
        holding = or_(holding, and_(payments.c.status != PaymentStatus.FAILED.value,
                                    payments.c.captured_minor > payments.c.refunded_minor))
    async with commerce.uow.read() as tx:
        ids = [r.id for r in await tx.conn.execute(
            select(orders.c.id).distinct()
            .join(fulfilments, fulfilments.c.order_id == orders.c.id)
            .join(payments, payments.c.order_id == orders.c.id)
            .where(orders.c.status == OrderStatus.CANCELLED.value,
                   fulfilments.c.status == F.EXPIRED.value, holding)
            .order_by(orders.c.id).limit(limit))]
    for order_id in ids:
        await settle_expired(commerce, order_id, actor=actor)
