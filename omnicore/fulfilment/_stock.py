"""The stock side of fulfilment and returns, written in the caller's transaction.

An order's units are held by allocations (holds without expiry) at the location
that fulfils them. Here they:

* **leave** (shipped, collected): the allocation is dropped and its units leave
  ``on_hand`` as a ``sale`` movement — exactly what ``commerce.stock.consume``
  does, but atomic with the fulfilment's new status;
* **travel** (a click & collect transfer arrives at the store): ``transfer_out``
  at the origin, ``transfer_in`` at the store, a received ``stock_transfers``
  row, and the allocation moves with the units — so the store's shelf holds
  them for the customer, and an expired pickup frees them *at the store*;
* **are released** (an expired pickup): the allocation is dropped, the units
  stay on hand and become sellable again;
* **come back** (a return): a ``return`` movement adds them to ``on_hand`` of
  the location that received them.

Every movement has an ``external_id`` derived from the fulfilment, transfer or
return id, so replaying the same step records nothing twice. Levels are locked
in (sku, location) order before any hold row, the lock order of every stock write.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from omnicore.errors import NotFound
from omnicore.stock import (
    MovementKind,
    StockChanges,
    add_movement,
    drop_hold_rows,
    is_replay,
    level_key,
    lock_level,
    new_id,
    release_hold,
    revoke_excess,
)
from omnicore.store.tables import stock_holds, stock_levels, stock_transfers

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

__all__ = ["FULFILMENT_SOURCE", "RETURNS_SOURCE", "consume_lines", "release_lines",
           "return_units", "transfer_lines"]

#: the ``source`` of the movements written here (external ids are unique per source)
FULFILMENT_SOURCE = "fulfilment"
RETURNS_SOURCE = "returns"


async def _lock_levels(tx: Tx, pairs: Iterable[tuple[str, str]], *, create: bool = False) -> None:
    for sku, location in sorted(set(pairs)):
        await lock_level(tx, sku, location, create=create)


async def _hold_rows(tx: Tx, lines: Sequence[Any], *, lock: bool) -> dict[str, list[Any]]:
    """hold id → its rows (an allocation released or revoked meanwhile has none)."""
    ids = sorted({line.hold_id for line in lines if line.hold_id})
    found: dict[str, list[Any]] = {hold_id: [] for hold_id in ids}
    if not ids:
        return found
    query = select(stock_holds).where(stock_holds.c.group_id.in_(ids)).order_by(stock_holds.c.id)
    if lock:
        query = query.with_for_update()
    for row in await tx.conn.execute(query):
        found[row.group_id].append(row)
    return found


async def consume_lines(tx: Tx, fulfilment_id: str, location: str, lines: Sequence[Any], *,
                        note: str, changes: StockChanges) -> None:
    """The goods of ``lines`` leave: their allocations leave ``on_hand`` as sales.

    Units a line has lost its allocation for (a stock count revoked it) still left
    the building: they are sold from ``location`` too, and holds beyond what is
    left there are revoked (``Σ holds ≤ on_hand - safety_stock`` holds again).
    """
    seen = await _hold_rows(tx, lines, lock=False)
    await _lock_levels(tx, [(r.sku, r.location_code) for rows in seen.values() for r in rows]
                       + [(line.sku, location) for line in lines])
    held = await _hold_rows(tx, lines, lock=True)
    for line in lines:
        rows = held.pop(line.hold_id, []) if line.hold_id else []  # pop: each hold once
        await drop_hold_rows(tx, rows, changes, was_active=False)
        covered = 0
        for row in rows:
            external_id = f"{fulfilment_id}:{row.id}"
            if not await is_replay(tx, FULFILMENT_SOURCE, external_id):
                await add_movement(tx, row.sku, row.location_code, -row.quantity,
                                   MovementKind.SALE, source=FULFILMENT_SOURCE,
                                   external_id=external_id, note=note)
            covered += row.quantity
            changes.touch(row.sku, row.location_code)
        if rows:
            tx.emit("stock.consumed", {"hold_id": line.hold_id, "sku": line.sku,
                                       "quantity": covered, "reference": rows[0].reference})
        missing = line.quantity - covered
        external_id = f"{fulfilment_id}:line:{line.id}"
        if missing > 0 and not await is_replay(tx, FULFILMENT_SOURCE, external_id):
            await add_movement(tx, line.sku, location, -missing, MovementKind.SALE,
                               source=FULFILMENT_SOURCE, external_id=external_id, note=note)
            changes.add(line.sku, location, -missing)
            await revoke_excess(tx, line.sku, location, changes)


async def release_lines(tx: Tx, lines: Sequence[Any], changes: StockChanges) -> None:
    """Give the allocations of ``lines`` back: their units become sellable again."""
    seen = await _hold_rows(tx, lines, lock=False)
    await _lock_levels(tx, [(r.sku, r.location_code) for rows in seen.values() for r in rows])
    for hold_id in sorted(seen):
        with contextlib.suppress(NotFound):  # already gone: nothing to give back
            await release_hold(tx, hold_id, changes)


async def transfer_lines(tx: Tx, fulfilment: Any, lines: Sequence[Any], to: str, *,
                         note: str, changes: StockChanges) -> list[str]:
    """The units of ``lines`` arrived at ``to``: move them and their allocations there.

    Returns the ids of the ``stock_transfers`` rows written (one per allocation part
    that moved). ``available`` does not change anywhere: the units were held at the
    origin and are held at ``to``.
    """
    seen = await _hold_rows(tx, lines, lock=False)
    parts = [r for rows in seen.values() for r in rows if r.location_code != to]
    await _lock_levels(tx, [(r.sku, r.location_code) for r in parts]
                       + [(r.sku, to) for r in parts], create=True)
    held = await _hold_rows(tx, lines, lock=True)
    moved: list[str] = []
    for row in [r for rows in held.values() for r in rows if r.location_code != to]:
        transfer_id = new_id("trf")
        await tx.conn.execute(insert(stock_transfers).values(
            id=transfer_id, sku=row.sku, from_location=row.location_code, to_location=to,
            quantity=row.quantity, status="received", source=FULFILMENT_SOURCE,
            created_at=fulfilment.created_at, received_at=tx.now))
        await add_movement(tx, row.sku, row.location_code, -row.quantity,
                           MovementKind.TRANSFER_OUT, source=FULFILMENT_SOURCE,
                           external_id=f"{transfer_id}:out", note=note)
        await add_movement(tx, row.sku, to, row.quantity, MovementKind.TRANSFER_IN,
                           source=FULFILMENT_SOURCE, external_id=f"{transfer_id}:in", note=note)
        await tx.conn.execute(update(stock_holds).where(stock_holds.c.id == row.id)
                              .values(location_code=to))
        for location, delta in ((row.location_code, -row.quantity), (to, row.quantity)):
            await tx.conn.execute(update(stock_levels).where(level_key(row.sku, location))
                                  .values(reserved=stock_levels.c.reserved + delta))
            changes.touch(row.sku, location)
        tx.emit("stock.transfer_received", {
            "transfer_id": transfer_id, "sku": row.sku, "from": row.location_code, "to": to,
            "quantity": row.quantity, "hold_id": row.group_id, "reference": row.reference})
        moved.append(transfer_id)
    return moved


async def return_units(tx: Tx, return_id: str, location: str,
                       items: Sequence[tuple[str, str, int]], *, note: str,
                       changes: StockChanges) -> None:
    """Returned units join ``on_hand`` at ``location``: ``items`` are (line id, sku, quantity)."""
    await _lock_levels(tx, [(sku, location) for _, sku, _ in items], create=True)
    for line_id, sku, quantity in items:
        external_id = f"{return_id}:{line_id}"
        if await is_replay(tx, RETURNS_SOURCE, external_id):
            continue
        await add_movement(tx, sku, location, quantity, MovementKind.RETURN,
                           source=RETURNS_SOURCE, external_id=external_id, note=note)
        changes.add(sku, location, quantity)
