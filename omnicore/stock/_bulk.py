"""Bulk counts at driver speed: the writes of ``set_levels`` (100,000 levels per call).

SQLAlchemy's ``executemany`` runs every value of every row through its parameter
processing — about 10 µs a row on a small machine, more than SQLite's own insert.
Here the rows go to the driver as plain tuples, on statements compiled once per
dialect, and the one value that needs converting (the clock) is converted once
per call. Reads of the current levels use statements built once (a statement
object keeps its cache key), and a level already at its count is not written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, Table, bindparam, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TupleType

from omnicore.stock._figures import StockChanges, active_reserved
from omnicore.stock._models import LevelInput, MovementKind
from omnicore.store.tables import stock_holds, stock_levels, stock_movements

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from omnicore.store.uow import Tx

__all__ = ["BulkInsert", "current_levels", "write_counts"]

#: Rows per ``executemany``; levels per read (its SKUs and pairs stay far below the
#: drivers' limits on bound parameters).
WRITE_CHUNK = 2000
READ_CHUNK = 1000

Key = tuple[str, str]


class BulkInsert:
    """An INSERT executed as driver-level ``executemany`` of tuples in ``columns`` order.

    Values must already be in the driver's form: use ``value`` for any column whose
    type converts (a datetime). With a driver whose parameters are not positional the
    rows go through SQLAlchemy instead, and ``value`` leaves them as they are.
    """

    def __init__(self, table: Table, columns: Sequence[str], build: Callable[[Any], Any]) -> None:
        self.table = table
        self.columns = list(columns)
        self.build = build  # dialect → the INSERT statement
        self._sql: dict[str, str | None] = {}

    def sql(self, dialect: Any) -> str | None:
        """The statement's text for ``dialect``; None when its parameters are not positional."""
        key = f"{dialect.name}+{dialect.driver}"
        if key not in self._sql:
            compiled = self.build(dialect).compile(
                dialect=dialect, column_keys=self.columns, for_executemany=True
            )
            fits = compiled.positional and list(compiled.positiontup or ()) == self.columns
            self._sql[key] = compiled.string if fits else None
        return self._sql[key]

    def value(self, conn: AsyncConnection, column: str, value: Any) -> Any:
        """``value`` of ``column`` as ``run`` must receive it on ``conn``."""
        processor = self.table.c[column].type.bind_processor(conn.dialect)
        if processor is None or self.sql(conn.dialect) is None:
            return value
        return processor(value)

    async def run(self, conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
        sql = self.sql(conn.dialect)
        for start in range(0, len(rows), WRITE_CHUNK):
            chunk = list(rows[start : start + WRITE_CHUNK])
            if sql is None:
                params = [dict(zip(self.columns, row, strict=True)) for row in chunk]
                await conn.execute(self.build(conn.dialect), params)
            else:
                await conn.exec_driver_sql(sql, chunk)  # type: ignore[arg-type]


def _level_upsert(dialect: Any) -> Any:
    statement = (postgresql if dialect.name == "postgresql" else sqlite).insert(stock_levels)
    return statement.on_conflict_do_update(
        index_elements=["sku", "location_code"],
        set_={c: statement.excluded[c] for c in ("on_hand", "safety_stock", "updated_at")},
    )


MOVEMENTS = BulkInsert(
    stock_movements,
    ("sku", "location_code", "delta", "kind", "source", "external_id", "note", "created_at"),
    lambda _: insert(stock_movements),
)
#: Creates missing levels (nothing reserved), overwrites on hand and safety stock.
LEVELS = BulkInsert(
    stock_levels,
    ("sku", "location_code", "on_hand", "safety_stock", "reserved", "updated_at"),
    _level_upsert,
)

_SKUS = stock_levels.c.sku.in_(bindparam("skus", expanding=True, type_=String()))
_AT = stock_levels.c.location_code.in_(bindparam("locations", expanding=True, type_=String()))
# ``sku IN`` next to the pairs lets SQLite search the primary key (a row-value IN
# alone is planned as a scan); the pair filter is exact.
_PAIRS = tuple_(stock_levels.c.sku, stock_levels.c.location_code).in_(
    bindparam("pairs", expanding=True, type_=TupleType(String(), String()))
)
_FIGURES = select(
    stock_levels.c.sku,
    stock_levels.c.location_code,
    stock_levels.c.on_hand,
    stock_levels.c.safety_stock,
    active_reserved(bindparam("now", type_=stock_holds.c.expires_at.type)),
)
_CROSS_READ = _FIGURES.where(_SKUS, _AT)
_PAIRS_READ = _FIGURES.where(_SKUS, _PAIRS)
_LOCK = (
    select(stock_levels.c.sku)
    .where(_SKUS, _PAIRS)
    .order_by(stock_levels.c.sku, stock_levels.c.location_code)
    .with_for_update()
)


async def current_levels(tx: Tx, keys: Sequence[Key]) -> dict[Key, tuple[int, int, int]]:
    """``(on_hand, safety_stock, active reservation)`` of the existing levels among
    ``keys`` (sorted).

    On PostgreSQL their rows are locked first, in key order like every other writer,
    so that no hold or count slips between this read and the write. A chunk whose
    SKUs x locations is hardly more than its pairs (a count of whole stores) is read
    as that product and filtered here: cheaper than binding every pair.
    """
    found: dict[Key, tuple[int, int, int]] = {}
    wanted = set(keys)
    for start in range(0, len(keys), READ_CHUNK):
        chunk = keys[start : start + READ_CHUNK]
        skus = sorted({sku for sku, _ in chunk})
        codes = sorted({code for _, code in chunk})
        by_pairs = {"now": tx.now, "skus": skus, "pairs": list(chunk)}
        if tx.conn.dialect.name == "postgresql":
            await tx.conn.execute(_LOCK, by_pairs)
        if len(skus) * len(codes) <= 2 * len(chunk):
            by_product = {"now": tx.now, "skus": skus, "locations": codes}
            rows = await tx.conn.execute(_CROSS_READ, by_product)
        else:
            rows = await tx.conn.execute(_PAIRS_READ, by_pairs)
        for sku, code, on_hand, safety, held in rows.all():  # by position: cheaper than names
            if (sku, code) in wanted:
                found[(sku, code)] = (on_hand, safety, int(held))
    return found


async def write_counts(
    tx: Tx, wanted: Mapping[Key, LevelInput], *, source: str, changes: StockChanges
) -> tuple[int, list[Key]]:
    """Count each level of ``wanted`` (SKUs and locations known to exist).

    Writes one ``count`` movement per level whose ``on_hand`` changes and the levels
    that change or do not exist yet; records the changes of free units in
    ``changes``. Returns the number of movements, and the levels that now hold fewer
    free units than their active holds (the caller revokes the excess).
    """
    keys = sorted(wanted)
    current = await current_levels(tx, keys)
    moved_at = MOVEMENTS.value(tx.conn, "created_at", tx.now)
    updated_at = LEVELS.value(tx.conn, "updated_at", tx.now)
    kind = MovementKind.COUNT.value
    movements: list[tuple[Any, ...]] = []
    levels: list[tuple[Any, ...]] = []
    over_held = []
    for key in keys:
        target = wanted[key]
        found = current.get(key)
        on_hand, safety, held = (0, 0, 0) if found is None else found
        new_safety = safety if target.safety_stock is None else target.safety_stock
        if held > max(0, target.on_hand - new_safety):
            over_held.append(key)
        if found is not None and target.on_hand == on_hand and new_safety == safety:
            continue
        sku, location = key
        if target.on_hand != on_hand:
            delta = target.on_hand - on_hand
            movements.append((sku, location, delta, kind, source, None, None, moved_at))
            changes.add(sku, location, delta - (new_safety - safety))
        elif new_safety != safety:
            changes.add(sku, location, safety - new_safety)
        levels.append((sku, location, target.on_hand, new_safety, 0, updated_at))
    await MOVEMENTS.run(tx.conn, movements)
    await LEVELS.run(tx.conn, levels)
    return len(movements), over_held
