"""Reading orders back from their tables, and the order number counter."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from omnicore.errors import NotFound
from omnicore.money import Money
from omnicore.orders._models import (
    CapturePolicy,
    Fulfilment,
    FulfilmentLine,
    FulfilmentStatus,
    Order,
    OrderDeliveryGroup,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentStatus,
    ReturnRecord,
    StatusChange,
)
from omnicore.store.order_tables import (
    counters,
    delivery_groups,
    fulfilment_lines,
    fulfilments,
    order_history,
    order_lines,
    order_returns,
    orders,
    payments,
)
from omnicore.store.tables import customer_identities, products, variants

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

__all__ = [
    "contact_of",
    "load_order",
    "new_order_id",
    "next_number",
    "order_row",
    "payment_from_row",
    "product_titles",
]

FIRST_NUMBER = 100001


def _money(minor: int, currency: str) -> Money:
    return Money.from_minor_units(int(minor), currency)


def payment_from_row(row: Any) -> Payment:
    c = row.currency
    return Payment(
        id=row.id, gateway=row.gateway, amount=_money(row.amount_minor, c),
        authorized=_money(row.authorized_minor, c), captured=_money(row.captured_minor, c),
        refunded=_money(row.refunded_minor, c), status=PaymentStatus(row.status),
        reference=row.reference, order_id=row.order_id, next_action=row.next_action,
        created_at=row.created_at,
    )


async def next_number(tx: Tx, prefix: str = "") -> str:
    """The next human-readable order number (``100001``, ``100002`` … after ``prefix``).

    The counter row is locked until commit, so two checkouts never share a number.
    """
    result = await tx.conn.execute(
        update(counters).where(counters.c.name == "order_number")
        .values(value=counters.c.value + 1).returning(counters.c.value)
    )
    value = result.scalar()
    if value is None:
        value = FIRST_NUMBER
        await tx.conn.execute(insert(counters).values(name="order_number", value=value))
    return f"{prefix}{value}"


async def order_row(tx: Tx, order_id: str, *, lock: bool = False) -> Any:
    query = select(orders).where(orders.c.id == order_id)
    if lock:
        query = query.with_for_update()
    row = (await tx.conn.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"no order {order_id!r}", field="order_id")
    return row


async def load_order(tx: Tx, order_id: str) -> Order:
    """The whole order: lines, delivery groups, payments, fulfilments, history, returns."""
    row = await order_row(tx, order_id)
    c = row.currency
    lines = [
        OrderLine(r.id, r.sku, r.title, r.quantity, _money(r.unit_price_minor, c),
                  _money(r.discount_minor, c), _money(r.total_minor, c), r.group_key,
                  r.quantity_returned)
        for r in await tx.conn.execute(
            select(order_lines).where(order_lines.c.order_id == order_id)
            .order_by(order_lines.c.position)
        )
    ]
    groups = [
        OrderDeliveryGroup(r.key, r.kind, r.method, _money(r.price_minor, c), r.address,
                           r.location_code, dict(r.details))
        for r in await tx.conn.execute(
            select(delivery_groups).where(delivery_groups.c.order_id == order_id)
            .order_by(delivery_groups.c.key)
        )
    ]
    pays = [
        payment_from_row(r)
        for r in await tx.conn.execute(
            select(payments).where(payments.c.order_id == order_id)
            .order_by(payments.c.created_at, payments.c.position)
        )
    ]
    ful_rows = (await tx.conn.execute(
        select(fulfilments).where(fulfilments.c.order_id == order_id)
        .order_by(fulfilments.c.created_at, fulfilments.c.id)
    )).all()
    by_fulfilment: dict[str, list[FulfilmentLine]] = {r.id: [] for r in ful_rows}
    if ful_rows:
        for r in await tx.conn.execute(
            select(fulfilment_lines).where(fulfilment_lines.c.fulfilment_id.in_(list(by_fulfilment)))
            .order_by(fulfilment_lines.c.id)
        ):
            by_fulfilment[r.fulfilment_id].append(
                FulfilmentLine(r.order_line_id, r.sku, r.quantity, r.hold_id)
            )
    fuls = [
        Fulfilment(
            id=r.id, order_id=r.order_id, group=r.group_key, location=r.location_code,
            kind=r.kind, status=FulfilmentStatus(r.status), lines=by_fulfilment[r.id],
            carrier=r.carrier, tracking_number=r.tracking_number,
            pickup_location=r.pickup_location, eta=r.eta,
            pickup_expires_at=r.pickup_expires_at, transfer_ids=list(r.transfer_ids),
        )
        for r in ful_rows
    ]
    history = [
        StatusChange(r.from_status, r.to_status, r.actor, r.note, r.at)
        for r in await tx.conn.execute(
            select(order_history).where(order_history.c.order_id == order_id)
            .order_by(order_history.c.id)
        )
    ]
    returns = [
        ReturnRecord(r.id, r.order_id, r.location_code, r.method, list(r.lines),
                     _money(r.refund_minor, c), r.reason, r.created_at)
        for r in await tx.conn.execute(
            select(order_returns).where(order_returns.c.order_id == order_id)
            .order_by(order_returns.c.created_at, order_returns.c.id)
        )
    ]
    return Order(
        id=row.id, number=row.number, channel=row.channel_code, customer_id=row.customer_id,
        status=OrderStatus(row.status), currency=c, email=row.email, phone=row.phone,
        subtotal=_money(row.subtotal_minor, c), discount=_money(row.discount_minor, c),
        shipping=_money(row.shipping_minor, c), adjustments=_money(row.adjustments_minor, c),
        total=_money(row.total_minor, c), source=row.source, external_id=row.external_id,
        capture_policy=CapturePolicy(row.capture_policy), lines=lines, groups=groups,
        payments=pays, fulfilments=fuls, history=history, returns=returns,
        details=dict(row.details), placed_at=row.placed_at, updated_at=row.updated_at,
        cart_id=row.cart_id, origin_channel=row.origin_channel,
    )


def new_order_id() -> str:
    """A new, unguessable order id."""
    return f"ord_{secrets.token_hex(12)}"


async def product_titles(tx: Tx, skus: Sequence[str]) -> dict[str, str]:
    """SKU → the title an order line shows: the product's, with the variant's when it has one."""
    rows = await tx.conn.execute(
        select(variants.c.sku, variants.c.title, products.c.title.label("product"))
        .join(products, products.c.id == variants.c.product_id)
        .where(variants.c.sku.in_(list(skus)))
    )
    return {r.sku: r.product if r.title in ("", r.product) else f"{r.product} — {r.title}"
            for r in rows}


async def contact_of(tx: Tx, customer_id: str | None) -> tuple[str | None, str | None]:
    """The customer's e-mail and phone identities, for tracking and notifications."""
    if customer_id is None:
        return None, None
    found: dict[str, str] = {}
    for kind, value in await tx.conn.execute(
        select(customer_identities.c.kind, customer_identities.c.value)
        .where(customer_identities.c.customer_id == customer_id,
               customer_identities.c.kind.in_(["email", "phone"]))
        .order_by(customer_identities.c.id)
    ):
        found.setdefault(kind, value)
    return found.get("email"), found.get("phone")
