"""Stock operations that write the ledger: receipts, counts, sales, transfers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from omnicore.errors import Conflict, InvalidInput, NotFound, OutOfStock
from omnicore.serialization import structure
from omnicore.stock._ledger import (
    add_movement,
    check_sku_and_location,
    is_replay,
    lock_level,
    new_id,
    revoke_excess,
    set_levels,
    take_units,
)
from omnicore.stock._models import BulkResult, LevelInput, MovementKind, StockLevel, Transfer
from omnicore.store.tables import (
    stock_levels,
    stock_movements,
    stock_thresholds,
    stock_transfers,
)
from omnicore.store.upsert import upsert

if TYPE_CHECKING:
    pass
from omnicore.stock._base import StockBase, _level, _quantity, _source


class LedgerOperations(StockBase):
    """Receive, adjust, count, sell and transfer (``commerce.stock``)."""

    async def receive(
        self,
        sku: str,
        location: str,
        quantity: int,
        *,
        source: str,
        external_id: str | None = None,
        note: str | None = None,
    ) -> StockLevel:
        """Goods arrive at ``location``: ``on_hand`` grows by ``quantity``."""
        return await self._move(
            sku,
            location,
            _quantity(quantity),
            MovementKind.RECEIPT,
            source=source,
            external_id=external_id,
            note=note,
        )

    async def adjust(
        self,
        sku: str,
        location: str,
        delta: int,
        *,
        source: str,
        external_id: str | None = None,
        note: str | None = None,
    ) -> StockLevel:
        """Correct ``on_hand`` by ``delta`` (damaged, found …); holds beyond it are revoked."""
        if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
            raise InvalidInput("must be a non-zero integer", field="delta")
        return await self._move(
            sku,
            location,
            delta,
            MovementKind.ADJUSTMENT,
            source=source,
            external_id=external_id,
            note=note,
        )

    async def count(
        self,
        sku: str,
        location: str,
        quantity: int,
        *,
        source: str,
        external_id: str | None = None,
        note: str | None = None,
    ) -> StockLevel:
        """A physical count: ``on_hand`` becomes ``quantity`` (a movement of the difference)."""
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise InvalidInput("must be an integer ≥ 0", field="quantity")
        _source(source)
        async with self._change("count") as (tx, changes):
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
            return await _level(tx, sku, location)

    async def _move(
        self,
        sku: str,
        location: str,
        delta: int,
        kind: MovementKind,
        *,
        source: str,
        external_id: str | None,
        note: str | None,
    ) -> StockLevel:
        _source(source)
        async with self._change(kind.value) as (tx, changes):
            await check_sku_and_location(tx, sku, location)
            if not await is_replay(tx, source, external_id):
                await add_movement(
                    tx,
                    sku,
                    location,
                    delta,
                    kind,
                    source=source,
                    external_id=external_id,
                    note=note,
                )
                changes.add(sku, location, delta)
                if delta < 0:
                    left = (await _level(tx, sku, location)).on_hand
                    if left < 0:
                        raise InvalidInput(
                            f"only {left - delta} on hand: cannot remove {-delta}", field="delta"
                        )
                    await revoke_excess(tx, sku, location, changes)
            return await _level(tx, sku, location)

    async def set_safety_stock(self, sku: str, location: str, quantity: int) -> StockLevel:
        """Units kept back from every channel at this level; holds beyond it are revoked."""
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise InvalidInput("must be an integer ≥ 0", field="quantity")
        async with self._change("safety_stock") as (tx, changes):
            await check_sku_and_location(tx, sku, location)
            current = await _level(tx, sku, location)
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
            return await _level(tx, sku, location)

    async def set_low_threshold(self, sku: str, threshold: int) -> None:
        """A channel total at or below ``threshold`` emits ``stock.low`` for this SKU."""
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
            raise InvalidInput("must be an integer ≥ 0", field="threshold")
        async with self._uow() as tx:
            await upsert(tx.conn, stock_thresholds, [{"sku": sku, "low": threshold}], ["sku"])

    async def set_levels(
        self, levels: Iterable[LevelInput | Mapping[str, Any]], *, source: str = "bulk"
    ) -> BulkResult:
        """Set many levels at once (a count of each), in one transaction: all or nothing."""
        parsed = [
            lv if isinstance(lv, LevelInput) else structure(dict(lv), LevelInput, field=f"[{i}]")
            for i, lv in enumerate(levels)
        ]
        async with self._change("count") as (tx, changes):
            return await set_levels(tx, parsed, source=_source(source), changes=changes)

    async def sell(
        self,
        sku: str,
        location: str,
        quantity: int,
        *,
        source: str,
        external_id: str | None = None,
        note: str | None = None,
    ) -> StockLevel:
        """Units leave without a prior hold (a till sale): only free units can be sold."""
        _quantity(quantity)
        _source(source)
        async with self._change("sale") as (tx, changes):
            await check_sku_and_location(tx, sku, location)
            if not await is_replay(tx, source, external_id):
                if not await take_units(tx, sku, location, quantity, changes=changes):
                    level = await _level(tx, sku, location)
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
            return await _level(tx, sku, location)

    async def transfer(
        self,
        sku: str,
        from_location: str,
        to_location: str,
        quantity: int,
        *,
        source: str,
        note: str | None = None,
    ) -> Transfer:
        """Send free units to another location; they are in transit until ``receive_transfer``."""
        _quantity(quantity)
        _source(source)
        if from_location == to_location:
            raise InvalidInput("must differ from from_location", field="to_location")
        async with self._change("transfer") as (tx, changes):
            await check_sku_and_location(tx, sku, from_location, location_field="from_location")
            await check_sku_and_location(tx, sku, to_location, location_field="to_location")
            if not await take_units(tx, sku, from_location, quantity, changes=changes):
                level = await _level(tx, sku, from_location)
                raise OutOfStock(
                    f"only {level.available} of {sku} free at {from_location}",
                    sku=sku,
                    requested=quantity,
                    available=level.available,
                )
            transfer = Transfer(
                new_id("trf"), sku, from_location, to_location, quantity, "in_transit", tx.now
            )
            await tx.conn.execute(
                stock_movements.insert().values(
                    sku=sku,
                    location_code=from_location,
                    delta=-quantity,
                    kind=MovementKind.TRANSFER_OUT.value,
                    source=source,
                    external_id=f"{transfer.id}:out",
                    note=note,
                    created_at=tx.now,
                )
            )
            await tx.conn.execute(
                stock_transfers.insert().values(
                    id=transfer.id,
                    sku=sku,
                    from_location=from_location,
                    to_location=to_location,
                    quantity=quantity,
                    status="in_transit",
                    source=source,
                    created_at=tx.now,
                )
            )
            tx.emit(
                "stock.transfer_sent",
                {
                    "transfer_id": transfer.id,
                    "sku": sku,
                    "from": from_location,
                    "to": to_location,
                    "quantity": quantity,
                },
            )
            return transfer

    async def receive_transfer(self, transfer_id: str, *, source: str) -> Transfer:
        """The transfer arrives: its units join ``on_hand`` at the destination."""
        _source(source)
        async with self._change("transfer") as (tx, changes):
            row = (
                await tx.conn.execute(
                    select(stock_transfers)
                    .where(stock_transfers.c.id == transfer_id)
                    .with_for_update()
                )
            ).first()
            if row is None:
                raise NotFound(f"no transfer {transfer_id!r}", field="transfer_id")
            if row.status != "in_transit":
                raise Conflict("the transfer was already received", field="transfer_id")
            await tx.conn.execute(
                update(stock_transfers)
                .where(stock_transfers.c.id == transfer_id)
                .values(status="received", received_at=tx.now)
            )
            await add_movement(
                tx,
                row.sku,
                row.to_location,
                row.quantity,
                MovementKind.TRANSFER_IN,
                source=source,
                external_id=f"{transfer_id}:in",
            )
            changes.add(row.sku, row.to_location, row.quantity)
            return Transfer(
                row.id,
                row.sku,
                row.from_location,
                row.to_location,
                row.quantity,
                "received",
                row.created_at,
                tx.now,
            )

    async def in_transit(self, sku: str) -> list[Transfer]:
        async with self._uow.read() as tx:
            rows = (
                await tx.conn.execute(
                    select(stock_transfers).where(
                        stock_transfers.c.sku == sku, stock_transfers.c.status == "in_transit"
                    )
                )
            ).all()
        return [
            Transfer(
                r.id, r.sku, r.from_location, r.to_location, r.quantity, r.status, r.created_at
            )
            for r in rows
        ]
