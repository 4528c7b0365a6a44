"""The one transaction that turns a prepared, paid-for cart into an order.

Inside it: the checkout claim is confirmed, the cart is completed at the
version that was priced, the cart holds become order allocations at the
locations sourcing chose, promotions are redeemed, and the order with its
lines, delivery groups, fulfilments and payments is written — or nothing is.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from omnicore.carts import CartStatus, TrailAction, add_trail
from omnicore.checkout._models import UNFINISHED, CheckoutStatus
from omnicore.checkout._prepare import Prepared
from omnicore.delivery import DeliveryKind
from omnicore.errors import Conflict, OutOfStock
from omnicore.money import Money
from omnicore.network import Channel, get_channel
from omnicore.orders import (
    CapturePolicy,
    FulfilmentStatus,
    OrderStatus,
    contact_of,
    new_order_id,
    product_titles,
    record_status,
    refresh_status,
)
from omnicore.pricing import redeem
from omnicore.serialization import unstructure
from omnicore.stock import (
    Contention,
    Reservation,
    StockChanges,
    drop_hold_rows,
    emit_stock_events,
    lock_level,
    reserve,
)
from omnicore.store.order_tables import (
    checkouts,
    delivery_groups,
    fulfilment_lines,
    fulfilments,
    order_lines,
    orders,
    payments,
)
from omnicore.store.tables import (
    carts,
    stock_holds,
)

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

__all__ = ["commit_order"]


async def _allocate(tx: Tx, channel: Channel, prepared: Prepared, number: str,
                    changes: StockChanges) -> dict[tuple[str, str, str], str]:
    """Cart holds out, order allocations in: ``(line, location, group) → hold id``."""
    hold_ids = [line.hold_id for line in prepared.cart.lines if line.hold_id]
    rows = (await tx.conn.execute(
        select(stock_holds).where(stock_holds.c.group_id.in_(hold_ids))
    )).all() if hold_ids else []
    wanted = {(a.sku, a.location) for a in prepared.plan.assignments}
    for sku, location in sorted(wanted | {(r.sku, r.location_code) for r in rows}):
        await lock_level(tx, sku, location)  # one lock order for every stock writer
    for row in rows:
        await drop_hold_rows(tx, [row], changes,
                              was_active=row.expires_at is None or row.expires_at > tx.now)
    allocated: dict[tuple[str, str, str], str] = {}
    for a in sorted(prepared.plan.assignments, key=lambda a: (a.sku, a.location, a.line_id)):
        link = channel.sells_from(a.location)
        buffer = link.buffer if link is not None else 0
        ask = Reservation.allocation(channel.code, a.sku, [(a.location, a.quantity, buffer)],
                                     reference=number)
        try:
            reserved = await reserve(tx, ask, changes)
        except Contention:
            raise OutOfStock(f"{a.sku} sold out at {a.location} during checkout",
                             sku=a.sku, requested=a.quantity) from None
        allocated[(a.line_id, a.location, a.group)] = reserved.hold.id
    return allocated


async def _write_lines(tx: Tx, order_id: str, prepared: Prepared) -> None:
    titles = await product_titles(tx, sorted({li.sku for li in prepared.cart.lines}))
    priced = {t.key: t for t in prepared.totals.lines}
    await tx.conn.execute(insert(order_lines), [
        {"id": line.id, "order_id": order_id, "position": index, "sku": line.sku,
         "title": titles.get(line.sku, line.sku), "quantity": line.quantity,
         "unit_price_minor": priced[line.id].unit_price.minor_units,
         "discount_minor": (priced[line.id].subtotal - priced[line.id].total).minor_units,
         "total_minor": priced[line.id].total.minor_units,
         "group_key": prepared.group_of_line[line.id], "quantity_returned": 0}
        for index, line in enumerate(prepared.cart.lines)
    ])
    await tx.conn.execute(insert(delivery_groups), [
        {"order_id": order_id, "key": g.key, "kind": g.kind.value, "method": g.method,
         "address": unstructure(g.address) if g.address else None, "location_code": g.location,
         "price_minor": prepared.rates[g.key].price.minor_units,
         "details": {"method_name": prepared.rates[g.key].name,
                     "min_days": prepared.rates[g.key].min_days,
                     "max_days": prepared.rates[g.key].max_days,
                     "recipient": g.recipient, "phone": g.phone,
                     "instructions": g.instructions,
                     "geo": unstructure(g.geo) if g.geo else None}}
        for g in prepared.groups
    ])


async def _write_fulfilments(tx: Tx, order_id: str, prepared: Prepared,
                             allocated: dict[tuple[str, str, str], str]) -> None:
    kinds = {g.key: g for g in prepared.groups}
    parts: dict[tuple[str, str, str | None], list[Any]] = defaultdict(list)
    for a in prepared.plan.assignments:
        parts[(a.group, a.location, a.transfer_to)].append(a)
    for (group_key, location, transfer_to), assignments in sorted(
            parts.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or "")):
        group = kinds[group_key]
        fulfilment_id = f"ful_{secrets.token_hex(10)}"
        pickup = group.kind is DeliveryKind.PICKUP
        status = FulfilmentStatus.AWAITING_TRANSFER if transfer_to else FulfilmentStatus.OPEN
        eta = max((a.eta for a in assignments if a.eta is not None), default=None)
        await tx.conn.execute(insert(fulfilments).values(
            id=fulfilment_id, order_id=order_id, group_key=group_key, location_code=location,
            kind=group.kind.value, status=status.value, carrier=None, tracking_number=None,
            pickup_location=group.location if pickup else None, pickup_code_hash=None,
            transfer_ids=[], eta=eta, pickup_expires_at=None, created_at=tx.now,
            updated_at=tx.now))
        await tx.conn.execute(insert(fulfilment_lines), [
            {"fulfilment_id": fulfilment_id, "order_line_id": a.line_id, "sku": a.sku,
             "quantity": a.quantity, "hold_id": allocated[(a.line_id, a.location, a.group)]}
            for a in assignments
        ])


async def commit_order(
    tx: Tx, prepared: Prepared, *, key: str, number: str, payment_ids: Sequence[str],
    customer_id: str | None, email: str | None, phone: str | None, actor: str | None,
    capture_policy: CapturePolicy, low_threshold: int,
) -> str:
    """Write the order in ``tx``; returns its id. Raises ``Conflict`` when the checkout timed
    out or the cart changed or completed meanwhile, ``OutOfStock`` when units were lost."""
    order_id = new_order_id()
    claimed = await tx.conn.execute(
        update(checkouts)
        .where(checkouts.c.key == key, checkouts.c.status.in_([s.value for s in UNFINISHED]))
        .values(status=CheckoutStatus.COMPLETED.value, order_id=order_id, updated_at=tx.now))
    if not claimed.rowcount:  # type: ignore[attr-defined]
        raise Conflict("this checkout timed out and was abandoned: try again",
                       field="idempotency_key")
    cart = prepared.cart
    completed = await tx.conn.execute(
        update(carts)
        .where(carts.c.id == cart.id, carts.c.status == CartStatus.OPEN.value,
               carts.c.version == cart.version)
        .values(status=CartStatus.COMPLETED.value, version=cart.version + 1, updated_at=tx.now))
    if not completed.rowcount:  # type: ignore[attr-defined]
        raise Conflict("the cart changed or was checked out during checkout", field="cart_id")
    channel = await get_channel(tx, cart.channel)
    changes = StockChanges("allocation")
    allocated = await _allocate(tx, channel, prepared, number, changes)
    buyer = customer_id or cart.customer_id
    applied = dict(prepared.totals.applied_promotions)
    if applied:
        await redeem(tx, applied, number, buyer)
    known_email, known_phone = await contact_of(tx, buyer)
    totals = prepared.totals
    zero = Money.zero(cart.currency)
    shipping = sum((r.price for r in prepared.rates.values()), zero)
    adjustments = sum((a.amount for a in totals.adjustments), zero)
    discount = totals.subtotal + shipping + adjustments - totals.total
    await tx.conn.execute(insert(orders).values(
        id=order_id, number=number, channel_code=cart.channel, customer_id=buyer,
        status="", currency=cart.currency, email=email or known_email,
        phone=phone or known_phone, subtotal_minor=totals.subtotal.minor_units,
        discount_minor=discount.minor_units, shipping_minor=shipping.minor_units,
        adjustments_minor=adjustments.minor_units, total_minor=totals.total.minor_units,
        source="", external_id=None, cart_id=cart.id,
        origin_channel=cart.trail[0].channel if cart.trail else cart.channel,
        capture_policy=capture_policy.value,
        details={"pricing": [unstructure(e) for e in totals.explanations],
                 "sourcing": list(prepared.plan.explanation),
                 "sourcing_strategy": prepared.plan.strategy,
                 "promotions": [{"promotion_id": p, "code": c} for p, c in applied.items()],
                 "trail": [t.channel for t in cart.trail]},
        placed_at=tx.now, updated_at=tx.now))
    await _write_lines(tx, order_id, prepared)
    await _write_fulfilments(tx, order_id, prepared, allocated)
    if payment_ids:
        await tx.conn.execute(update(payments).where(payments.c.id.in_(list(payment_ids)))
                              .values(order_id=order_id, updated_at=tx.now))
    await add_trail(tx, cart.id, cart.channel, TrailAction.COMPLETED, actor)
    row = (await tx.conn.execute(select(orders).where(orders.c.id == order_id))).one()
    await record_status(tx, row, OrderStatus.PLACED, actor=actor)
    await refresh_status(tx, order_id, actor=actor)
    await emit_stock_events(tx, changes, low_default=low_threshold)
    return order_id
