"""Holds after they are taken: read, release, extend, allocate, consume, sweep.

A hold is taken by ``_reserve.reserve`` (the one reserve path). Every change here
locks the hold's levels first, in (sku, location) order, then its rows: the lock
order of every stock write, so concurrent writers on PostgreSQL queue instead of
deadlocking. An expired hold stops counting at once; its rows stay until a
sweep, a release or a reservation at its level reclaims them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from omnicore.errors import Conflict, NotFound
from omnicore.network import get_channel
from omnicore.stock._figures import StockChanges, level_key
from omnicore.stock._ledger import add_movement, lock_level, reclaim_expired
from omnicore.stock._models import Hold, HoldKind, HoldPart, MovementKind
from omnicore.stock._reserve import check_ttl
from omnicore.store.tables import stock_holds, stock_levels

if TYPE_CHECKING:
    from omnicore.store.uow import Tx


async def load_hold(tx: Tx, hold_id: str, *, lock: bool = False) -> tuple[Hold, Sequence[Any]]:
    query = select(stock_holds).where(stock_holds.c.group_id == hold_id).order_by(stock_holds.c.id)
    rows = (await tx.conn.execute(query)).all()
    if rows and lock:
        # Their levels first, then the hold rows: the lock order of every stock write.
        for sku, location in sorted({(r.sku, r.location_code) for r in rows}):
            await lock_level(tx, sku, location)
        rows = (await tx.conn.execute(query.with_for_update())).all()
    if not rows:
        raise NotFound(
            f"no hold {hold_id!r} (released, consumed or swept after expiry)", field="hold_id"
        )
    first = rows[0]
    hold = Hold(
        hold_id,
        first.sku,
        sum(r.quantity for r in rows),
        first.channel_code,
        HoldKind(first.kind),
        [HoldPart(r.location_code, r.quantity) for r in rows],
        first.expires_at,
        first.reference,
    )
    return hold, rows


def is_expired(hold: Hold, now: dt.datetime) -> bool:
    return hold.expires_at is not None and hold.expires_at <= now


async def drop_hold_rows(
    tx: Tx, rows: Sequence[Any], changes: StockChanges, *, was_active: bool
) -> None:
    """Delete hold rows and release their reservation, in lock order."""
    for row in sorted(rows, key=lambda r: (r.sku, r.location_code)):
        await tx.conn.execute(delete(stock_holds).where(stock_holds.c.id == row.id))
        await tx.conn.execute(
            update(stock_levels)
            .where(level_key(row.sku, row.location_code))
            .values(reserved=stock_levels.c.reserved - row.quantity)
        )
        changes.add(row.sku, row.location_code, row.quantity if was_active else 0)


async def release_hold(tx: Tx, hold_id: str, changes: StockChanges) -> Hold:
    hold, rows = await load_hold(tx, hold_id, lock=True)
    await drop_hold_rows(tx, rows, changes, was_active=not is_expired(hold, tx.now))
    tx.emit(
        "stock.hold_released",
        {
            "hold_id": hold_id,
            "sku": hold.sku,
            "quantity": hold.quantity,
            "channel": hold.channel,
            "reference": hold.reference,
        },
    )
    return hold


async def extend(tx: Tx, hold_id: str, ttl: dt.timedelta) -> Hold:
    """Push a cart hold's expiry to now + ``ttl`` (checked against its channel)."""
    hold, _ = await load_hold(tx, hold_id)
    channel = await get_channel(tx, hold.channel)
    checked = check_ttl(ttl, default_seconds=channel.hold_ttl_seconds,
                        max_seconds=channel.max_hold_ttl_seconds)
    hold, _ = await load_hold(tx, hold_id, lock=True)
    if hold.kind is not HoldKind.CART:
        raise Conflict("an order allocation does not expire", field="hold_id")
    if is_expired(hold, tx.now):
        raise Conflict("the hold has expired: take a new one", field="hold_id")
    expires_at = tx.now + checked
    await tx.conn.execute(
        update(stock_holds).where(stock_holds.c.group_id == hold_id).values(expires_at=expires_at)
    )
    return Hold(
        hold.id,
        hold.sku,
        hold.quantity,
        hold.channel,
        hold.kind,
        hold.parts,
        expires_at,
        hold.reference,
    )


async def allocate(tx: Tx, hold_id: str, reference: str | None) -> Hold:
    hold, _ = await load_hold(tx, hold_id, lock=True)
    if hold.kind is HoldKind.ALLOCATION:
        return hold
    if is_expired(hold, tx.now):
        raise Conflict("the hold has expired: take a new one", field="hold_id")
    new_reference = reference or hold.reference
    await tx.conn.execute(
        update(stock_holds)
        .where(stock_holds.c.group_id == hold_id)
        .values(kind=HoldKind.ALLOCATION.value, expires_at=None, reference=new_reference)
    )
    tx.emit(
        "stock.allocated",
        {
            "hold_id": hold_id,
            "sku": hold.sku,
            "quantity": hold.quantity,
            "channel": hold.channel,
            "reference": new_reference,
        },
    )
    return Hold(
        hold.id,
        hold.sku,
        hold.quantity,
        hold.channel,
        HoldKind.ALLOCATION,
        hold.parts,
        None,
        new_reference,
    )


async def consume(
    tx: Tx, hold_id: str, changes: StockChanges, *, source: str, external_id: str | None
) -> Hold:
    """Goods leave: the hold's rows go and its units leave ``on_hand`` (``sale`` movements,
    ``<external_id>:<row id>`` when an external id is given); emits ``stock.consumed``."""
    hold, rows = await load_hold(tx, hold_id, lock=True)
    if is_expired(hold, tx.now):
        raise Conflict("the hold has expired: take a new one", field="hold_id")
    await drop_hold_rows(tx, rows, changes, was_active=False)
    for row in rows:
        await add_movement(
            tx,
            row.sku,
            row.location_code,
            -row.quantity,
            MovementKind.SALE,
            source=source,
            note=hold.reference,
            external_id=f"{external_id}:{row.id}" if external_id else None,
        )
        changes.touch(row.sku, row.location_code)
    tx.emit(
        "stock.consumed",
        {
            "hold_id": hold_id,
            "sku": hold.sku,
            "quantity": hold.quantity,
            "reference": hold.reference,
        },
    )
    return hold


async def sweep(tx: Tx, limit: int, changes: StockChanges) -> int:
    """Delete the expired holds of up to ``limit`` levels; returns the units freed."""
    levels = (
        await tx.conn.execute(
            select(stock_holds.c.sku, stock_holds.c.location_code)
            .where(stock_holds.c.expires_at <= tx.now)
            .distinct()
            .limit(limit)
        )
    ).all()
    freed = 0
    for sku, location in sorted(levels):
        units = await reclaim_expired(tx, sku, location, changes)
        changes.add(sku, location, units)  # consumers learn of the expiry now
        freed += units
    return freed
