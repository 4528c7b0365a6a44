"""Holds: reserving units for carts and orders without ever overselling.

A hold is taken with one conditional ``UPDATE`` per level:
``reserved += n WHERE on_hand - safety_stock - reserved ≥ n + buffer``. The
database evaluates that condition under the row lock, so no interleaving of
processes can reserve a unit twice, on PostgreSQL (row locks, READ COMMITTED
re-check) as on SQLite (one writer at a time). When the condition fails, the
level's expired holds are reclaimed and the update retried once. Several levels
are always locked in (sku, location) order, so multi-SKU holds taken in
opposite orders cannot deadlock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from omnicore.channels import Channel
from omnicore.errors import Conflict, InvalidInput, NotFound, OutOfStock
from omnicore.stock_figures import StockChanges, channel_share, level_figures, level_key
from omnicore.stock_ledger import lock_level, new_id, reclaim_expired
from omnicore.stock_models import Hold, HoldKind, HoldPart
from omnicore.store.tables import locations, stock_holds, stock_levels

if TYPE_CHECKING:
    from omnicore.store.uow import Tx


class Contention(Exception):
    """A planned level lost its units to a concurrent writer: replan in a new transaction."""


async def _active_location_codes(tx: Tx, codes: Sequence[str]) -> set[str]:
    rows = await tx.conn.execute(
        select(locations.c.code).where(
            locations.c.code.in_(list(codes)), locations.c.active.is_(True)
        )
    )
    return set(rows.scalars())


async def plan_hold(
    tx: Tx, channel: Channel, sku: str, quantity: int, location: str | None
) -> list[tuple[str, int, int]]:
    """Choose (location, quantity, buffer) parts: the channel's locations by priority."""
    if location is not None:
        link = channel.sells_from(location)
        if link is None:
            raise InvalidInput(
                f"channel {channel.code} may not sell from {location!r}", field="location"
            )
        candidates = [link]
    else:
        candidates = channel.ordered_locations()
    active = await _active_location_codes(tx, [c.location for c in candidates])
    candidates = [c for c in candidates if c.location in active]
    figures = await level_figures(tx, [sku], [c.location for c in candidates])
    plan, missing = [], quantity
    shares = {}
    for link in candidates:
        share = channel_share(figures.get((sku, link.location)), link.buffer)
        shares[link.location] = share
        if missing and share:
            take = min(share, missing)
            plan.append((link.location, take, link.buffer))
            missing -= take
    if missing:
        total = sum(shares.values())
        raise OutOfStock(
            f"only {total} of {sku} available to {channel.code}, {quantity} requested",
            sku=sku,
            requested=quantity,
            available=total,
            by_location=shares,
        )
    return plan


async def reserve(
    tx: Tx, sku: str, parts: Sequence[tuple[str, int, int]], changes: StockChanges
) -> None:
    """Apply the conditional updates of a plan in lock order; ``Contention`` if one fails."""
    for location, quantity, buffer in sorted(parts):
        for attempt in range(2):
            result = await tx.conn.execute(
                update(stock_levels)
                .where(
                    level_key(sku, location),
                    stock_levels.c.on_hand - stock_levels.c.safety_stock - stock_levels.c.reserved
                    >= quantity + buffer,
                )
                .values(reserved=stock_levels.c.reserved + quantity)
            )
            if result.rowcount:  # type: ignore[attr-defined]
                changes.add(sku, location, -quantity)
                break
            if attempt == 0 and not await reclaim_expired(tx, sku, location, changes):
                raise Contention(sku)
        else:
            raise Contention(sku)


async def insert_hold(
    tx: Tx,
    channel: Channel,
    sku: str,
    parts: Sequence[tuple[str, int, int]],
    *,
    expires_at: dt.datetime | None,
    reference: str | None,
) -> Hold:
    group = new_id("hold")
    kind = HoldKind.CART if expires_at is not None else HoldKind.ALLOCATION
    await tx.conn.execute(
        insert(stock_holds),
        [
            {
                "id": f"{group}.{index}",
                "group_id": group,
                "sku": sku,
                "location_code": location,
                "quantity": quantity,
                "channel_code": channel.code,
                "kind": kind.value,
                "reference": reference,
                "expires_at": expires_at,
                "created_at": tx.now,
            }
            for index, (location, quantity, _) in enumerate(parts)
        ],
    )
    return Hold(
        group,
        sku,
        sum(q for _, q, _ in parts),
        channel.code,
        kind,
        [HoldPart(location, q) for location, q, _ in parts],
        expires_at,
        reference,
    )


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


async def drop_rows(
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


async def release(tx: Tx, hold_id: str, changes: StockChanges) -> Hold:
    hold, rows = await load_hold(tx, hold_id, lock=True)
    await drop_rows(tx, rows, changes, was_active=not is_expired(hold, tx.now))
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


async def extend(tx: Tx, hold_id: str, ttl: dt.timedelta, channel: Channel) -> Hold:
    hold, _ = await load_hold(tx, hold_id, lock=True)
    if hold.kind is not HoldKind.CART:
        raise Conflict("an order allocation does not expire", field="hold_id")
    if is_expired(hold, tx.now):
        raise Conflict("the hold has expired: take a new one", field="hold_id")
    expires_at = tx.now + ttl
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
