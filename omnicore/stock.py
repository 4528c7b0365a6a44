"""Unified stock: levels per (SKU, location), built from an append-only ledger.

Every change of ``on_hand`` is a movement (receipt, sale, adjustment, count,
transfer, return) with its ``source`` and an optional ``external_id`` unique
per source, so a replayed sync changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from omnicore import validators
from omnicore.catalog import existing_skus
from omnicore.errors import InvalidInput, NotFound, Problem
from omnicore.serialization import structure
from omnicore.store.tables import locations, stock_levels, stock_movements
from omnicore.upsert import upsert

if TYPE_CHECKING:
    from omnicore.store.uow import Tx, UnitOfWork

__all__ = ["LevelInput", "Movement", "MovementKind", "StockLevel", "StockService"]

CHUNK = 500


class MovementKind(enum.StrEnum):
    RECEIPT = "receipt"
    SALE = "sale"
    ADJUSTMENT = "adjustment"
    COUNT = "count"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    RETURN = "return"


@attrs.frozen
class StockLevel:
    sku: str
    location: str
    on_hand: int
    safety_stock: int


@attrs.frozen
class Movement:
    """One line of the ledger: ``delta`` units at ``location``, and why."""

    id: int
    sku: str
    location: str
    delta: int
    kind: MovementKind
    source: str
    external_id: str | None
    note: str | None
    created_at: dt.datetime


@attrs.frozen
class LevelInput:
    """A target level for bulk loads: set ``on_hand`` (a count) and optionally safety stock."""

    sku: str = attrs.field(validator=validators.sku)
    location: str = attrs.field(validator=validators.code)
    on_hand: int = attrs.field(validator=validators.non_negative)
    safety_stock: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(validators.non_negative)
    )


@attrs.frozen
class BulkResult:
    levels: int
    movements: int


class StockService:
    """``commerce.stock``: receive, count and load stock; read levels and the ledger."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def receive(
        self, sku: str, location: str, quantity: int, *, source: str,
        external_id: str | None = None, note: str | None = None,
    ) -> StockLevel:
        """Goods arrive at ``location``: ``on_hand`` grows by ``quantity`` (> 0)."""
        _positive(quantity, "quantity")
        async with self._uow() as tx:
            return await record(tx, sku, location, quantity, MovementKind.RECEIPT,
                                source=source, external_id=external_id, note=note)

    async def set_levels(self, levels: Iterable[LevelInput | Mapping[str, Any]], *,
                         source: str = "bulk") -> BulkResult:
        """Set many levels in one transaction (a physical count of each); all or nothing."""
        parsed = [lv if isinstance(lv, LevelInput) else structure(dict(lv), LevelInput, field=f"[{i}]")
                  for i, lv in enumerate(levels)]
        async with self._uow() as tx:
            return await set_levels(tx, parsed, source=source)

    async def level(self, sku: str, location: str) -> StockLevel:
        async with self._uow.read() as tx:
            row = (await tx.conn.execute(select(stock_levels).where(
                stock_levels.c.sku == sku, stock_levels.c.location_code == location))).first()
        if row is None:
            return StockLevel(sku, location, 0, 0)
        return StockLevel(sku, location, row.on_hand, row.safety_stock)

    async def ledger(self, sku: str, location: str, *, limit: int = 1000) -> list[Movement]:
        """The movements of one level, oldest first."""
        async with self._uow.read() as tx:
            rows = (await tx.conn.execute(
                select(stock_movements)
                .where(stock_movements.c.sku == sku, stock_movements.c.location_code == location)
                .order_by(stock_movements.c.id).limit(limit))).all()
        return [Movement(r.id, r.sku, r.location_code, r.delta, MovementKind(r.kind), r.source,
                         r.external_id, r.note, r.created_at) for r in rows]


def _positive(value: object, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{value!r} is not an integer", field=field)
    if value <= 0:
        raise InvalidInput("must be greater than 0", field=field)


async def _check_exists(tx: Tx, sku: str, location: str) -> None:
    if not await existing_skus(tx, [sku]):
        raise NotFound(f"no variant {sku!r}", field="sku")
    found = (await tx.conn.execute(select(locations.c.code).where(locations.c.code == location))).first()
    if found is None:
        raise NotFound(f"no location {location!r}", field="location")


async def _replayed(tx: Tx, source: str, external_id: str | None) -> bool:
    if external_id is None:
        return False
    row = (await tx.conn.execute(select(stock_movements.c.id).where(
        stock_movements.c.source == source, stock_movements.c.external_id == external_id))).first()
    return row is not None


async def apply_deltas(tx: Tx, deltas: Mapping[tuple[str, str], int]) -> None:
    """Add ``delta`` to ``on_hand`` of each (sku, location), creating missing levels."""
    if not deltas:
        return
    dialect = postgresql if tx.conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(stock_levels)
    statement = statement.on_conflict_do_update(
        index_elements=["sku", "location_code"],
        set_={"on_hand": stock_levels.c.on_hand + statement.excluded.on_hand,
              "updated_at": statement.excluded.updated_at},
    )
    await tx.conn.execute(statement, [
        {"sku": sku, "location_code": location, "on_hand": delta, "safety_stock": 0,
         "updated_at": tx.now}
        for (sku, location), delta in sorted(deltas.items())
    ])


async def record(
    tx: Tx, sku: str, location: str, delta: int, kind: MovementKind, *, source: str,
    external_id: str | None = None, note: str | None = None,
) -> StockLevel:
    """Append one movement and apply it to the level (idempotent by external id)."""
    await _check_exists(tx, sku, location)
    replayed = await _replayed(tx, source, external_id)
    if not replayed:
        await tx.conn.execute(insert(stock_movements).values(
            sku=sku, location_code=location, delta=delta, kind=kind.value, source=source,
            external_id=external_id, note=note, created_at=tx.now))
        await apply_deltas(tx, {(sku, location): delta})
    row = (await tx.conn.execute(select(stock_levels).where(
        stock_levels.c.sku == sku, stock_levels.c.location_code == location))).one()
    level = StockLevel(sku, location, row.on_hand, row.safety_stock)
    if not replayed:
        tx.emit("stock.changed",
                {"sku": sku, "location": location, "on_hand": level.on_hand})
    return level


async def existing_locations(tx: Tx, codes: Sequence[str]) -> set[str]:
    result = await tx.conn.execute(select(locations.c.code).where(locations.c.code.in_(list(codes))))
    return set(result.scalars())


async def set_levels(tx: Tx, levels: Sequence[LevelInput], *, source: str) -> BulkResult:
    """Bulk counts: validate every row, then one movement per changed level."""
    skus = await existing_skus(tx, list({lv.sku for lv in levels}))
    codes = await existing_locations(tx, list({lv.location for lv in levels}))
    problems = []
    for index, lv in enumerate(levels):
        if lv.sku not in skus:
            problems.append(Problem(f"[{index}].sku", f"no variant {lv.sku!r}"))
        if lv.location not in codes:
            problems.append(Problem(f"[{index}].location", f"no location {lv.location!r}"))
    if problems:
        raise InvalidInput("; ".join(f"{p.field}: {p.message}" for p in problems[:20]),
                           field=problems[0].field, problems=problems)
    wanted: dict[tuple[str, str], LevelInput] = {(lv.sku, lv.location): lv for lv in levels}
    current: dict[tuple[str, str], tuple[int, int]] = {}
    keys = sorted(wanted)
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        rows = await tx.conn.execute(select(
            stock_levels.c.sku, stock_levels.c.location_code, stock_levels.c.on_hand,
            stock_levels.c.safety_stock,
        ).where(tuple_(stock_levels.c.sku, stock_levels.c.location_code).in_(chunk)))
        for row in rows:
            current[(row.sku, row.location_code)] = (row.on_hand, row.safety_stock)
    movements = []
    level_rows = []
    for key in keys:
        target = wanted[key]
        on_hand, safety = current.get(key, (0, 0))
        delta = target.on_hand - on_hand
        if delta:
            movements.append({
                "sku": key[0], "location_code": key[1], "delta": delta,
                "kind": MovementKind.COUNT.value, "source": source, "external_id": None,
                "note": None, "created_at": tx.now})
        level_rows.append({
            "sku": key[0], "location_code": key[1], "on_hand": target.on_hand,
            "safety_stock": safety if target.safety_stock is None else target.safety_stock,
            "updated_at": tx.now})
    if movements:
        await tx.conn.execute(insert(stock_movements), movements)
    for start in range(0, len(level_rows), CHUNK * 4):
        await upsert(tx.conn, stock_levels, level_rows[start : start + CHUNK * 4],
                     ["sku", "location_code"])
    for start in range(0, len(level_rows), CHUNK * 4):
        tx.emit("stock.changed", {"levels": [
            {"sku": r["sku"], "location": r["location_code"], "on_hand": r["on_hand"]}
            for r in level_rows[start : start + CHUNK * 4]]})
    return BulkResult(levels=len(level_rows), movements=len(movements))
