"""Holds: reserving units for carts and orders without ever overselling.

A hold is taken with one conditional ``UPDATE`` per level:
``reserved += n WHERE on_hand - safety_stock - reserved ≥ n + buffer``. The
database evaluates that condition under the row lock, so no interleaving of
processes can reserve a unit twice, on PostgreSQL (row locks, READ COMMITTED
re-check) as on SQLite (one writer at a time). When the condition fails, the
level's expired holds are reclaimed and the update retried once. Several levels
are always locked in (sku, location) order, so multi-SKU holds taken in
opposite orders cannot deadlock.

A hold reads what it needs first — in one query, ``hold_context``: the SKU's
levels at every location of every channel concerned, their buffers and the low
threshold — and locks last. ``commerce.stock.hold`` takes its holds with
``stock_hold_take``, in fewer round trips still.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import Integer, Select, Update, and_, bindparam, delete, insert, select, update

from omnicore.errors import Conflict, InvalidInput, NotFound, OutOfStock
from omnicore.network import Channel
from omnicore.stock._figures import Figures, StockChanges, active_reserved, channel_share, level_key
from omnicore.stock._ledger import lock_level, new_id, reclaim_expired
from omnicore.stock._models import Hold, HoldKind, HoldPart
from omnicore.store.tables import (
    channel_locations,
    locations,
    stock_holds,
    stock_levels,
    stock_thresholds,
)

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

#: A part of a plan: (location, quantity, the channel's buffer there).
Part = tuple[str, int, int]


class Contention(Exception):
    """A planned level lost its units to a concurrent writer: replan in a new transaction."""


@attrs.frozen
class HoldContext:
    """What a hold reads before it locks anything, for its plan and its events.

    ``links``: every channel selling from one of the candidate locations → its
    active locations and their buffers; ``figures``: the SKU's levels there;
    ``threshold``: the SKU's low threshold, if set.
    """

    links: dict[str, dict[str, int]]
    figures: dict[tuple[str, str], Figures]
    threshold: int | None


def _hold_context_query() -> Select[Any]:
    sku = bindparam("h_sku", type_=stock_levels.c.sku.type)
    now = bindparam("h_now", type_=stock_holds.c.expires_at.type)
    candidates = bindparam(
        "h_candidates", expanding=True, type_=channel_locations.c.location_code.type
    )
    sellers = select(channel_locations.c.channel_code).where(
        channel_locations.c.location_code.in_(candidates)
    )
    low = select(stock_thresholds.c.low).where(stock_thresholds.c.sku == sku).scalar_subquery()
    return (
        select(
            channel_locations.c.channel_code,
            channel_locations.c.location_code,
            channel_locations.c.buffer,
            stock_levels.c.on_hand,
            stock_levels.c.safety_stock,
            active_reserved(now).label("active_reserved"),
            low.label("low"),
        )
        .join(locations, locations.c.code == channel_locations.c.location_code)
        .outerjoin(
            stock_levels,
            and_(
                stock_levels.c.sku == sku,
                stock_levels.c.location_code == channel_locations.c.location_code,
            ),
        )
        .where(channel_locations.c.channel_code.in_(sellers), locations.c.active.is_(True))
    )


def reserve_query() -> Update:
    """The conditional update of one level (``r_sku``, ``r_location``, ``r_quantity``,
    ``r_needed`` = quantity + buffer): it matches only if the free units cover it."""
    needed = bindparam("r_needed", type_=Integer)
    return (
        update(stock_levels)
        .where(
            stock_levels.c.sku == bindparam("r_sku", type_=stock_levels.c.sku.type),
            stock_levels.c.location_code
            == bindparam("r_location", type_=stock_levels.c.location_code.type),
            stock_levels.c.on_hand - stock_levels.c.safety_stock - stock_levels.c.reserved
            >= needed,
        )
        .values(reserved=stock_levels.c.reserved + bindparam("r_quantity", type_=Integer))
    )


# The hot path's statements, built once: SQLAlchemy memoizes a statement's cache
# key, so executing the same object skips building and hashing the expression.
_HOLD_CONTEXT = _hold_context_query()
_RESERVE = reserve_query()
_INSERT_HOLD = insert(stock_holds)


async def hold_context(tx: Tx, sku: str, candidates: Sequence[str]) -> HoldContext:
    """One query for what ``plan_hold`` needs to know."""
    links: dict[str, dict[str, int]] = defaultdict(dict)
    figures: dict[tuple[str, str], Figures] = {}
    threshold = None
    if not candidates:
        return HoldContext(links, figures, threshold)
    rows = await tx.conn.execute(
        _HOLD_CONTEXT, {"h_sku": sku, "h_now": tx.now, "h_candidates": list(candidates)}
    )
    for row in rows:
        links[row.channel_code][row.location_code] = row.buffer
        threshold = row.low
        if row.on_hand is not None:
            figures[(sku, row.location_code)] = Figures(
                row.on_hand, row.safety_stock, int(row.active_reserved)
            )
    return HoldContext(links, figures, threshold)


def plan_candidates(
    channel: str,
    candidates: Sequence[tuple[str, int]],
    context: HoldContext,
    sku: str,
    quantity: int,
) -> list[Part]:
    """(location, quantity, buffer) parts from ``candidates`` (location, buffer) in order,
    among the channel's active locations; ``OutOfStock`` if they cannot cover it."""
    active = context.links.get(channel, {})
    figures = context.figures
    plan: list[Part] = []
    missing = quantity
    shares = {}
    for location, buffer in candidates:
        if location not in active:
            continue
        share = channel_share(figures.get((sku, location)), buffer)
        shares[location] = share
        if missing and share:
            take = min(share, missing)
            plan.append((location, take, buffer))
            missing -= take
    if missing:
        total = sum(shares.values())
        raise OutOfStock(
            f"only {total} of {sku} available to {channel}, {quantity} requested",
            sku=sku,
            requested=quantity,
            available=total,
            by_location=shares,
        )
    return plan


def not_sold(channel: str, location: str) -> InvalidInput:
    """The error of a hold at a location the channel does not sell from."""
    return InvalidInput(f"channel {channel} may not sell from {location!r}", field="location")


async def plan_hold(
    tx: Tx, channel: Channel, sku: str, quantity: int, location: str | None
) -> tuple[list[Part], HoldContext]:
    """Choose (location, quantity, buffer) parts: the channel's locations by priority.

    Also returns the ``HoldContext`` it read.
    """
    if location is not None:
        link = channel.sells_from(location)
        if link is None:
            raise not_sold(channel.code, location)
        links = [link]
    else:
        links = channel.ordered_locations()
    context = await hold_context(tx, sku, [c.location for c in links])
    candidates = [(c.location, c.buffer) for c in links]
    return plan_candidates(channel.code, candidates, context, sku, quantity), context


def hold_rows(
    group: str, channel: str, sku: str, parts: Sequence[Part], kind: HoldKind,
    expires_at: dt.datetime | None, reference: str | None, now: dt.datetime,
) -> list[dict[str, Any]]:
    """The ``stock_holds`` rows of a hold: ``<group>.<n>``, one per part, in plan order."""
    return [
        {
            "id": f"{group}.{index}",
            "group_id": group,
            "sku": sku,
            "location_code": location,
            "quantity": quantity,
            "channel_code": channel,
            "kind": kind.value,
            "reference": reference,
            "expires_at": expires_at,
            "created_at": now,
        }
        for index, (location, quantity, _) in enumerate(parts)
    ]


async def reserve(tx: Tx, sku: str, parts: Sequence[Part], changes: StockChanges) -> None:
    """Apply the conditional updates of a plan in lock order; ``Contention`` if one fails."""
    for location, quantity, buffer in sorted(parts):
        for attempt in range(2):
            result = await tx.conn.execute(
                _RESERVE,
                {
                    "r_sku": sku,
                    "r_location": location,
                    "r_needed": quantity + buffer,
                    "r_quantity": quantity,
                },
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
    parts: Sequence[Part],
    *,
    expires_at: dt.datetime | None,
    reference: str | None,
) -> Hold:
    group = new_id("hold")
    kind = HoldKind.CART if expires_at is not None else HoldKind.ALLOCATION
    await tx.conn.execute(
        _INSERT_HOLD,
        hold_rows(group, channel.code, sku, parts, kind, expires_at, reference, tx.now),
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
