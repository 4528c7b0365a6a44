"""Reading and writing fulfilment rows: the lock, the model, the event payload, a step.

Shared by ``commerce.fulfilment`` (``omnicore.fulfilment``) and the pickup expiry
sweep (``omnicore.fulfilment._expiry``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from omnicore.errors import NotFound
from omnicore.orders import (
    Fulfilment,
    FulfilmentLine,
    FulfilmentStatus,
    check_fulfilment_transition,
    order_row,
    refresh_status,
)
from omnicore.store.order_tables import fulfilment_lines, fulfilments, order_lines
from omnicore.store.tables import locations

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

__all__ = ["enter", "fulfilment_model", "fulfilment_payload", "lines_of", "lock_fulfilment"]

F = FulfilmentStatus


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def lock_fulfilment(tx: Tx, fulfilment_id: str) -> tuple[Any, Any]:
    """``(order row, fulfilment row)``, both locked — the order's first."""
    order_id = (await tx.conn.execute(
        select(fulfilments.c.order_id).where(fulfilments.c.id == fulfilment_id))).scalar()
    if order_id is None:
        raise NotFound(f"no fulfilment {fulfilment_id!r}", field="fulfilment_id")
    order = await order_row(tx, order_id, lock=True)
    row = (await tx.conn.execute(
        select(fulfilments).where(fulfilments.c.id == fulfilment_id).with_for_update())).one()
    return order, row


async def lines_of(tx: Tx, fulfilment_ids: Sequence[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {i: [] for i in fulfilment_ids}
    if not fulfilment_ids:
        return found
    for row in await tx.conn.execute(
        select(fulfilment_lines, order_lines.c.title)
        .join(order_lines, order_lines.c.id == fulfilment_lines.c.order_line_id)
        .where(fulfilment_lines.c.fulfilment_id.in_(list(fulfilment_ids)))
        .order_by(fulfilment_lines.c.id)
    ):
        found[row.fulfilment_id].append(row)
    return found


def fulfilment_model(row: Any, lines: Sequence[Any]) -> Fulfilment:
    return Fulfilment(
        id=row.id, order_id=row.order_id, group=row.group_key, location=row.location_code,
        kind=row.kind, status=F(row.status),
        lines=[FulfilmentLine(r.order_line_id, r.sku, r.quantity, r.hold_id) for r in lines],
        carrier=row.carrier, tracking_number=row.tracking_number,
        pickup_location=row.pickup_location, eta=row.eta,
        pickup_expires_at=row.pickup_expires_at, transfer_ids=list(row.transfer_ids),
    )


async def fulfilment_payload(tx: Tx, order: Any, row: Any, lines: Sequence[Any], *,
                             previous: str | None, actor: str | None) -> dict[str, Any]:
    """The payload of ``fulfilment.*`` events: who to tell, what, where — no query needed."""
    store = None
    if row.pickup_location:
        found = (await tx.conn.execute(select(locations.c.name, locations.c.address)
                                       .where(locations.c.code == row.pickup_location))).first()
        if found is not None:
            store = {"code": row.pickup_location, "name": found.name, "address": found.address}
    return {
        "fulfilment_id": row.id, "order_id": order.id, "number": order.number,
        "channel": order.channel_code, "status": row.status, "previous_status": previous,
        "kind": row.kind, "group": row.group_key, "location": row.location_code,
        "pickup_location": row.pickup_location, "pickup_store": store,
        "carrier": row.carrier, "tracking_number": row.tracking_number,
        "eta": _iso(row.eta), "pickup_expires_at": _iso(row.pickup_expires_at),
        "transfer_ids": list(row.transfer_ids),
        "lines": [{"line_id": r.order_line_id, "sku": r.sku, "title": r.title,
                   "quantity": r.quantity} for r in lines],
        "customer_id": order.customer_id, "email": order.email, "phone": order.phone,
        "actor": actor,
    }


async def enter(tx: Tx, order: Any, row: Any, to: FulfilmentStatus, *, actor: str | None,
                values: dict[str, Any] | None = None, refresh: bool = True) -> Any:
    """Write ``to`` (and ``values``) on a locked fulfilment, emit ``fulfilment.<to>``,
    recalculate the order's status; returns the fresh row."""
    check_fulfilment_transition(F(row.status), to)
    await tx.conn.execute(update(fulfilments).where(fulfilments.c.id == row.id).values(
        status=to.value, updated_at=tx.now, **(values or {})))
    fresh = (await tx.conn.execute(select(fulfilments).where(fulfilments.c.id == row.id))).one()
    lines = (await lines_of(tx, [row.id]))[row.id]
    tx.emit(f"fulfilment.{to.value}",
            await fulfilment_payload(tx, order, fresh, lines, previous=row.status, actor=actor))
    if refresh:
        await refresh_status(tx, order.id, actor=actor)
    return fresh
