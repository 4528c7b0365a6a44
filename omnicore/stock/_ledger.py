"""The append-only ledger: movements, on-hand updates, counts, sales, revocation.

``on_hand`` of a level is always the sum of its movements. A movement with an
``external_id`` already recorded for its ``source`` is a replay and changes
nothing. When a count or a negative adjustment leaves fewer units than are held,
holds are revoked — cart holds first, newest first — until
``Σ active holds ≤ on_hand - safety_stock`` again; each revocation is an event.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from omnicore.catalog import existing_skus
from omnicore.errors import InvalidInput, NotFound, OutOfStock, Problem
from omnicore.stock._bulk import write_counts
from omnicore.stock._figures import StockChanges, free_covers, level_key, read_level
from omnicore.stock._models import BulkResult, LevelInput, Movement, MovementKind, StockLevel
from omnicore.store.tables import (
    locations,
    stock_holds,
    stock_levels,
    stock_movements,
    stock_thresholds,
)
from omnicore.store.upsert import upsert

if TYPE_CHECKING:
    from omnicore.store.uow import Tx


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


async def check_sku_and_location(
    tx: Tx, sku: str, location: str, *, location_field: str = "location"
) -> None:
    if not await existing_skus(tx, [sku]):
        raise NotFound(f"no variant {sku!r}", field="sku")
    found = (
        await tx.conn.execute(select(locations.c.code).where(locations.c.code == location))
    ).first()
    if found is None:
        raise NotFound(f"no location {location!r}", field=location_field)


async def is_replay(tx: Tx, source: str, external_id: str | None) -> bool:
    """True when ``(source, external_id)`` was already recorded.

    On PostgreSQL a transaction-scoped advisory lock on the pair makes two
    concurrent replays of one sync line queue here, so the second sees the first's
    movement instead of failing on the unique constraint. (SQLite has one writer.)
    """
    if external_id is None:
        return False
    if tx.conn.dialect.name == "postgresql":
        await tx.conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"omnicore.movement:{source}:{external_id}"},
        )
    row = (
        await tx.conn.execute(
            select(stock_movements.c.id).where(
                stock_movements.c.source == source, stock_movements.c.external_id == external_id
            )
        )
    ).first()
    return row is not None


async def add_movement(
    tx: Tx,
    sku: str,
    location: str,
    delta: int,
    kind: MovementKind,
    *,
    source: str,
    external_id: str | None = None,
    note: str | None = None,
) -> None:
    """Append a movement and add ``delta`` to ``on_hand`` (creating the level if needed)."""
    await tx.conn.execute(
        insert(stock_movements).values(
            sku=sku,
            location_code=location,
            delta=delta,
            kind=kind.value,
            source=source,
            external_id=external_id,
            note=note,
            created_at=tx.now,
        )
    )
    await apply_deltas(tx, {(sku, location): delta})


async def apply_deltas(tx: Tx, deltas: Mapping[tuple[str, str], int]) -> None:
    """Add ``delta`` to ``on_hand`` of each (sku, location), creating missing levels."""
    if not deltas:
        return
    dialect = postgresql if tx.conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(stock_levels)
    statement = statement.on_conflict_do_update(
        index_elements=["sku", "location_code"],
        set_={
            "on_hand": stock_levels.c.on_hand + statement.excluded.on_hand,
            "updated_at": statement.excluded.updated_at,
        },
    )
    await tx.conn.execute(
        statement,
        [
            {
                "sku": sku,
                "location_code": location,
                "on_hand": delta,
                "safety_stock": 0,
                "reserved": 0,
                "updated_at": tx.now,
            }
            for (sku, location), delta in sorted(deltas.items())
        ],
    )


async def take_units(
    tx: Tx,
    sku: str,
    location: str,
    quantity: int,
    *,
    changes: StockChanges,
) -> bool:
    """Remove ``quantity`` free units from ``on_hand`` only if that many are free.

    Returns False when they are not (the caller raises ``OutOfStock``).
    """
    for attempt in range(2):
        result = await tx.conn.execute(
            update(stock_levels)
            .where(level_key(sku, location), free_covers(quantity))
            .values(on_hand=stock_levels.c.on_hand - quantity, updated_at=tx.now)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            changes.add(sku, location, -quantity)
            return True
        if attempt == 0 and not await reclaim_expired(tx, sku, location, changes):
            return False
    return False


async def lock_level(tx: Tx, sku: str, location: str, *, create: bool = False) -> Any:
    """Lock a level's row (first creating it at zero if ``create``); None if there is none.

    Every stock write locks ``stock_levels`` rows, in (sku, location) order, before the
    ``stock_holds`` rows of those levels: one lock order, so concurrent writers on
    PostgreSQL queue instead of deadlocking.
    """
    query = select(stock_levels).where(level_key(sku, location)).with_for_update()
    row = (await tx.conn.execute(query)).first()
    if row is None and create:
        await upsert(
            tx.conn,
            stock_levels,
            [
                {
                    "sku": sku,
                    "location_code": location,
                    "on_hand": 0,
                    "safety_stock": 0,
                    "reserved": 0,
                    "updated_at": tx.now,
                }
            ],
            ["sku", "location_code"],
            update=[],
        )
        row = (await tx.conn.execute(query)).first()
    return row


async def reclaim_expired(tx: Tx, sku: str, location: str, changes: StockChanges) -> int:
    """Delete the level's expired holds and release their reservation; returns units freed."""
    await lock_level(tx, sku, location)  # the level before its holds (see lock_level)
    rows = (
        await tx.conn.execute(
            delete(stock_holds)
            .where(
                stock_holds.c.sku == sku,
                stock_holds.c.location_code == location,
                stock_holds.c.expires_at <= tx.now,
            )
            .returning(
                stock_holds.c.id,
                stock_holds.c.group_id,
                stock_holds.c.quantity,
                stock_holds.c.reference,
                stock_holds.c.channel_code,
            )
        )
    ).all()
    total = int(sum(r.quantity for r in rows))
    if total:
        await tx.conn.execute(
            update(stock_levels)
            .where(level_key(sku, location))
            .values(reserved=stock_levels.c.reserved - total)
        )
        changes.touch(sku, location)
        for row in rows:
            tx.emit(
                "stock.hold_expired",
                {
                    "hold_id": row.group_id,
                    "sku": sku,
                    "location": location,
                    "quantity": row.quantity,
                    "channel": row.channel_code,
                    "reference": row.reference,
                },
            )
    return total


async def revoke_excess(tx: Tx, sku: str, location: str, changes: StockChanges) -> None:
    """Restore ``Σ active holds ≤ max(0, on_hand - safety_stock)`` by revoking holds."""
    await reclaim_expired(tx, sku, location, changes)
    level = (
        await tx.conn.execute(
            select(stock_levels.c.on_hand, stock_levels.c.safety_stock, stock_levels.c.reserved)
            .where(level_key(sku, location))
            .with_for_update()
        )
    ).first()
    if level is None:
        return
    excess = level.reserved - max(0, level.on_hand - level.safety_stock)
    if excess <= 0:
        return
    holds = (
        await tx.conn.execute(
            select(stock_holds)
            .where(stock_holds.c.sku == sku, stock_holds.c.location_code == location)
            .order_by(stock_holds.c.kind.desc(), stock_holds.c.created_at.desc(), stock_holds.c.id)
        )
    ).all()  # "cart" sorts after "allocation": desc puts cart holds first
    for hold in holds:
        if excess <= 0:
            break
        cut = min(excess, hold.quantity)
        if cut == hold.quantity:
            await tx.conn.execute(delete(stock_holds).where(stock_holds.c.id == hold.id))
        else:
            await tx.conn.execute(
                update(stock_holds)
                .where(stock_holds.c.id == hold.id)
                .values(quantity=hold.quantity - cut)
            )
        await tx.conn.execute(
            update(stock_levels)
            .where(level_key(sku, location))
            .values(reserved=stock_levels.c.reserved - cut)
        )
        changes.add(sku, location, cut)
        excess -= cut
        tx.emit(
            "stock.hold_revoked",
            {
                "hold_id": hold.group_id,
                "kind": hold.kind,
                "sku": sku,
                "location": location,
                "revoked": cut,
                "remaining": hold.quantity - cut,
                "channel": hold.channel_code,
                "reference": hold.reference,
            },
        )


async def existing_locations(tx: Tx, codes: Sequence[str]) -> set[str]:
    result = await tx.conn.execute(
        select(locations.c.code).where(locations.c.code.in_(list(codes)))
    )
    return set(result.scalars())


async def set_levels(
    tx: Tx, levels: Sequence[LevelInput], *, source: str, changes: StockChanges
) -> BulkResult:
    """Bulk counts: validate every row, then one movement per changed level.

    A level already at its count (and safety stock) is not written: no movement, no
    event, ``updated_at`` kept. A missing level is created, even at zero.
    """
    skus = await existing_skus(tx, list({lv.sku for lv in levels}))
    codes = await existing_locations(tx, list({lv.location for lv in levels}))
    problems = []
    for index, lv in enumerate(levels):
        if lv.sku not in skus:
            problems.append(Problem(f"[{index}].sku", f"no variant {lv.sku!r}"))
        if lv.location not in codes:
            problems.append(Problem(f"[{index}].location", f"no location {lv.location!r}"))
    if problems:
        raise InvalidInput(
            "; ".join(f"{p.field}: {p.message}" for p in problems[:20]),
            field=problems[0].field,
            problems=problems,
        )
    wanted = {(lv.sku, lv.location): lv for lv in levels}
    movements, over_held = await write_counts(tx, wanted, source=source, changes=changes)
    for sku, location in over_held:
        await revoke_excess(tx, sku, location, changes)
    return BulkResult(levels=len(wanted), movements=movements)


# -- the ledger operations of ``commerce.stock`` (arguments checked by the service) ---------


async def move(
    tx: Tx,
    changes: StockChanges,
    sku: str,
    location: str,
    delta: int,
    kind: MovementKind,
    *,
    source: str,
    external_id: str | None,
    note: str | None,
) -> StockLevel:
    """A receipt or an adjustment of ``delta`` units; holds beyond what is left are revoked.

    ``InvalidInput`` (``delta``) when fewer than ``-delta`` units are on hand.
    """
    await check_sku_and_location(tx, sku, location)
    if not await is_replay(tx, source, external_id):
        await add_movement(
            tx, sku, location, delta, kind, source=source, external_id=external_id, note=note
        )
        changes.add(sku, location, delta)
        if delta < 0:
            left = (await read_level(tx, sku, location)).on_hand
            if left < 0:
                raise InvalidInput(
                    f"only {left - delta} on hand: cannot remove {-delta}", field="delta"
                )
            await revoke_excess(tx, sku, location, changes)
    return await read_level(tx, sku, location)


async def count(
    tx: Tx,
    changes: StockChanges,
    sku: str,
    location: str,
    quantity: int,
    *,
    source: str,
    external_id: str | None,
    note: str | None,
) -> StockLevel:
    """A physical count: ``on_hand`` becomes ``quantity`` (a movement of the difference)."""
    await check_sku_and_location(tx, sku, location)
    if not await is_replay(tx, source, external_id):
        # Locked: a concurrent write must not slip between reading and counting.
        current = await lock_level(tx, sku, location, create=quantity > 0)
        on_hand = current.on_hand if current is not None else 0
        if quantity != on_hand:
            await add_movement(
                tx,
                sku,
                location,
                quantity - on_hand,
                MovementKind.COUNT,
                source=source,
                external_id=external_id,
                note=note,
            )
            changes.add(sku, location, quantity - on_hand)
            await revoke_excess(tx, sku, location, changes)
    return await read_level(tx, sku, location)


async def set_safety_stock(
    tx: Tx, changes: StockChanges, sku: str, location: str, quantity: int
) -> StockLevel:
    """Keep ``quantity`` units of the level back from every channel; revoke holds beyond."""
    await check_sku_and_location(tx, sku, location)
    current = await read_level(tx, sku, location)
    await upsert(
        tx.conn,
        stock_levels,
        [
            {
                "sku": sku,
                "location_code": location,
                "on_hand": current.on_hand,
                "safety_stock": quantity,
                "updated_at": tx.now,
            }
        ],
        ["sku", "location_code"],
        update=["safety_stock", "updated_at"],
    )
    changes.add(sku, location, current.safety_stock - quantity)
    await revoke_excess(tx, sku, location, changes)
    return await read_level(tx, sku, location)


async def set_low_threshold(tx: Tx, sku: str, threshold: int) -> None:
    await upsert(tx.conn, stock_thresholds, [{"sku": sku, "low": threshold}], ["sku"])


async def sell(
    tx: Tx,
    changes: StockChanges,
    sku: str,
    location: str,
    quantity: int,
    *,
    source: str,
    external_id: str | None,
    note: str | None,
) -> StockLevel:
    """Units leave without a prior hold: only free units; ``OutOfStock`` otherwise."""
    await check_sku_and_location(tx, sku, location)
    if not await is_replay(tx, source, external_id):
        if not await take_units(tx, sku, location, quantity, changes=changes):
            level = await read_level(tx, sku, location)
            raise OutOfStock(
                f"only {level.available} of {sku} free at {location}",
                sku=sku,
                requested=quantity,
                available=level.available,
            )
        await tx.conn.execute(
            stock_movements.insert().values(
                sku=sku,
                location_code=location,
                delta=-quantity,
                kind=MovementKind.SALE.value,
                source=source,
                external_id=external_id,
                note=note,
                created_at=tx.now,
            )
        )
    return await read_level(tx, sku, location)


async def movements(tx: Tx, sku: str, location: str, limit: int) -> list[Movement]:
    """The movements of one level, oldest first."""
    rows = (
        await tx.conn.execute(
            select(stock_movements)
            .where(stock_movements.c.sku == sku, stock_movements.c.location_code == location)
            .order_by(stock_movements.c.id)
            .limit(limit)
        )
    ).all()
    return [
        Movement(
            r.id,
            r.sku,
            r.location_code,
            r.delta,
            MovementKind(r.kind),
            r.source,
            r.external_id,
            r.note,
            r.created_at,
        )
        for r in rows
    ]
