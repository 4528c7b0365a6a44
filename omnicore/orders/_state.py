"""The order and fulfilment state machines.

A fulfilment moves along ``FULFILMENT_TRANSITIONS`` only; anything else is a
``Conflict`` naming ``status``. An order's status is *derived* from its payments,
fulfilments and returns (``derive_status``) and recalculated after each of
them changes (``refresh_status``), so it can never disagree with them; only
cancellation is set directly. Every change is written to ``order_history`` and
emitted as ``order.<status>`` (``order.placed``, ``order.paid``,
``order.collected`` …) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update

from omnicore.errors import Conflict
from omnicore.orders._models import FulfilmentStatus, OrderStatus, PaymentStatus
from omnicore.store.order_tables import (
    fulfilments,
    order_history,
    order_lines,
    orders,
    payments,
)

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

__all__ = [
    "FULFILMENT_TRANSITIONS",
    "TERMINAL",
    "check_fulfilment_transition",
    "derive_status",
    "order_payload",
    "record_status",
    "refresh_status",
]

F = FulfilmentStatus
FULFILMENT_TRANSITIONS: dict[FulfilmentStatus, frozenset[FulfilmentStatus]] = {
    F.OPEN: frozenset({F.PICKING, F.PACKED, F.SHIPPED, F.READY_FOR_PICKUP, F.CANCELLED}),
    F.AWAITING_TRANSFER: frozenset({F.OPEN, F.PICKING, F.READY_FOR_PICKUP, F.CANCELLED}),
    F.PICKING: frozenset({F.PACKED, F.SHIPPED, F.READY_FOR_PICKUP, F.CANCELLED}),
    F.PACKED: frozenset({F.SHIPPED, F.READY_FOR_PICKUP, F.CANCELLED}),
    F.SHIPPED: frozenset({F.DELIVERED}),
    F.READY_FOR_PICKUP: frozenset({F.COLLECTED, F.EXPIRED, F.CANCELLED}),
    F.DELIVERED: frozenset(),
    F.COLLECTED: frozenset(),
    F.EXPIRED: frozenset(),
    F.CANCELLED: frozenset(),
}
#: a fulfilment whose goods have left: nothing more to do, nothing to cancel
GOODS_LEFT = frozenset({F.SHIPPED, F.DELIVERED, F.COLLECTED})
FINISHED = frozenset({F.DELIVERED, F.COLLECTED})
CLOSED = frozenset({F.EXPIRED, F.CANCELLED})
TERMINAL = frozenset({OrderStatus.CANCELLED, OrderStatus.RETURNED, OrderStatus.REFUNDED})

_AUTHORIZED = frozenset({PaymentStatus.AUTHORIZED, PaymentStatus.PARTIALLY_CAPTURED,
                         PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED,
                         PaymentStatus.REFUNDED})


def check_fulfilment_transition(current: FulfilmentStatus, to: FulfilmentStatus) -> None:
    """Raise ``Conflict`` (field ``status``) unless ``current`` → ``to`` is allowed."""
    if to not in FULFILMENT_TRANSITIONS[current]:
        allowed = ", ".join(sorted(FULFILMENT_TRANSITIONS[current])) or "none"
        raise Conflict(
            f"a fulfilment that is {current} cannot become {to} (allowed: {allowed})",
            field="status",
        )


def derive_status(
    *,
    cancelled: bool,
    total_minor: int,
    units: int,
    returned_units: int,
    payment_states: Sequence[tuple[PaymentStatus, int, int]],
    fulfilment_states: Sequence[tuple[FulfilmentStatus, str]],
) -> OrderStatus:
    """The order's status from its parts.

    :param payment_states: (status, captured minor, refunded minor) per payment.
    :param fulfilment_states: (status, kind) per fulfilment.
    """
    if cancelled:
        return OrderStatus.CANCELLED
    live = [p for p in payment_states if p[0] not in (PaymentStatus.VOIDED, PaymentStatus.FAILED)]
    captured = sum(p[1] for p in live)
    refunded = sum(p[2] for p in live)
    if units and returned_units >= units:
        return OrderStatus.REFUNDED if captured and refunded >= captured else OrderStatus.RETURNED
    if returned_units:
        return OrderStatus.PARTIALLY_RETURNED
    paid_in_full = captured >= total_minor
    active = [f for f in fulfilment_states if f[0] not in CLOSED]
    statuses = [f[0] for f in active]
    if active and all(s in FINISHED for s in statuses):
        if paid_in_full:
            return OrderStatus.COMPLETED
        if all(s is F.COLLECTED for s in statuses):
            return OrderStatus.COLLECTED
        return OrderStatus.DELIVERED
    if any(s in GOODS_LEFT for s in statuses):
        if all(s in GOODS_LEFT for s in statuses):
            return OrderStatus.SHIPPED
        return OrderStatus.PARTIALLY_SHIPPED
    if active and all(s is F.READY_FOR_PICKUP for s in statuses):
        return OrderStatus.READY_FOR_PICKUP
    if any(s not in (F.OPEN, F.AWAITING_TRANSFER) for s in statuses):
        return OrderStatus.IN_FULFILMENT
    if paid_in_full and total_minor:
        return OrderStatus.PAID
    if live and all(p[0] in _AUTHORIZED for p in live):
        return OrderStatus.AUTHORIZED
    return OrderStatus.PLACED


def order_payload(row: Any, **extra: Any) -> dict[str, Any]:
    """The common payload of ``order.*`` events: enough to notify without another query."""
    return {
        "order_id": row.id,
        "number": row.number,
        "channel": row.channel_code,
        "customer_id": row.customer_id,
        "status": row.status,
        "source": row.source,
        "external_id": row.external_id,
        "email": row.email,
        "phone": row.phone,
        "total": {"amount_minor": row.total_minor, "currency": row.currency},
        **extra,
    }


async def record_status(
    tx: Tx, row: Any, to: OrderStatus, *, actor: str | None, note: str | None = None
) -> None:
    """Write ``to`` on the order row, its history and its ``order.<to>`` event."""
    await tx.conn.execute(
        update(orders).where(orders.c.id == row.id).values(status=to.value, updated_at=tx.now)
    )
    await tx.conn.execute(
        insert(order_history).values(
            order_id=row.id, from_status=row.status or None, to_status=to.value, actor=actor,
            note=note, at=tx.now,
        )
    )
    previous = row.status
    current = (await tx.conn.execute(select(orders).where(orders.c.id == row.id))).one()
    tx.emit(f"order.{to.value}", order_payload(current, previous_status=previous or None,
                                               actor=actor))


async def _states(tx: Tx, order_id: str) -> tuple[list[Any], list[Any], int, int]:
    pays = (await tx.conn.execute(
        select(payments.c.status, payments.c.captured_minor, payments.c.refunded_minor)
        .where(payments.c.order_id == order_id)
    )).all()
    fuls = (await tx.conn.execute(
        select(fulfilments.c.status, fulfilments.c.kind).where(fulfilments.c.order_id == order_id)
    )).all()
    units, returned = (await tx.conn.execute(
        select(func.coalesce(func.sum(order_lines.c.quantity), 0),
               func.coalesce(func.sum(order_lines.c.quantity_returned), 0))
        .where(order_lines.c.order_id == order_id)
    )).one()
    return list(pays), list(fuls), int(units), int(returned)


async def refresh_status(
    tx: Tx, order_id: str, *, actor: str | None = None, note: str | None = None,
    extra_topics: Iterable[str] = (),
) -> OrderStatus:
    """Recalculate the order's status after a payment, fulfilment or return changed."""
    row = (await tx.conn.execute(
        select(orders).where(orders.c.id == order_id).with_for_update()
    )).one()
    pays, fuls, units, returned = await _states(tx, order_id)
    status = derive_status(
        cancelled=row.status == OrderStatus.CANCELLED,
        total_minor=row.total_minor,
        units=units,
        returned_units=returned,
        payment_states=[(PaymentStatus(p.status), p.captured_minor, p.refunded_minor)
                        for p in pays],
        fulfilment_states=[(FulfilmentStatus(f.status), f.kind) for f in fuls],
    )
    if status != row.status:
        await record_status(tx, row, status, actor=actor, note=note)
    for topic in extra_topics:
        tx.emit(topic, order_payload(row, actor=actor))
    return status
