"""Stock operations on holds: reserve, release, extend, allocate, consume, sweep."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from omnicore import stock_holds as holds
from omnicore.catalog import existing_skus
from omnicore.channels import get_channel
from omnicore.errors import Conflict, NotFound, OutOfStock
from omnicore.stock_figures import StockChanges
from omnicore.stock_ledger import (
    add_movement,
)
from omnicore.stock_models import (
    Hold,
    MovementKind,
)

if TYPE_CHECKING:
    pass
from omnicore.stock_base import CONTENTION_RETRIES, StockBase, _quantity, _source, _ttl


class HoldOperations(StockBase):
    """Hold units for carts and orders (``commerce.stock``)."""

    async def hold(
        self,
        sku: str,
        quantity: int,
        *,
        channel: str,
        location: str | None = None,
        ttl: dt.timedelta | None = None,
        reference: str | None = None,
    ) -> Hold:
        """Reserve ``quantity`` units for ``channel``, all or nothing.

        Without ``location`` the channel's locations are tried by priority, splitting
        across them when needed. Raises ``OutOfStock`` carrying what is available.
        """
        _quantity(quantity)
        for _ in range(CONTENTION_RETRIES):
            try:
                async with self._uow() as tx:
                    changes = StockChanges("hold")
                    chosen = await get_channel(tx, channel)
                    if not await existing_skus(tx, [sku]):
                        raise NotFound(f"no variant {sku!r}", field="sku")
                    expires_at = tx.now + _ttl(chosen, ttl)
                    plan, context = await holds.plan_hold(tx, chosen, sku, quantity, location)
                    await holds.reserve(tx, sku, plan, changes)
                    hold = await holds.insert_hold(
                        tx, chosen, sku, plan, expires_at=expires_at, reference=reference
                    )
                    # self._change's emit_stock_events, minus the reads plan_hold made
                    await holds.emit_hold_events(tx, sku, changes, context, low_default=self._low)
                    return hold
            except holds.Contention:
                continue
        raise OutOfStock(
            f"{sku} is selling too fast to hold {quantity}: try again", sku=sku, requested=quantity
        )

    async def release(self, hold_id: str) -> Hold:
        """Give held units back to every channel."""
        async with self._change("release") as (tx, changes):
            return await holds.release(tx, hold_id, changes)

    async def extend(self, hold_id: str, ttl: dt.timedelta) -> Hold:
        """Push a cart hold's expiry to now + ``ttl`` (at most the channel's maximum)."""
        async with self._uow() as tx:
            hold, _ = await holds.load_hold(tx, hold_id)
            channel = await get_channel(tx, hold.channel)
            return await holds.extend(tx, hold_id, _ttl(channel, ttl), channel)

    async def allocate(self, hold_id: str, *, reference: str | None = None) -> Hold:
        """Turn a cart hold into an order allocation that does not expire."""
        async with self._uow() as tx:
            return await holds.allocate(tx, hold_id, reference)

    async def consume(self, hold_id: str, *, source: str, external_id: str | None = None) -> Hold:
        """Goods leave (shipped, collected): the hold's units leave ``on_hand`` too."""
        _source(source)
        async with self._change("sale") as (tx, changes):
            hold, rows = await holds.load_hold(tx, hold_id, lock=True)
            if holds.is_expired(hold, tx.now):
                raise Conflict("the hold has expired: take a new one", field="hold_id")
            await holds.drop_rows(tx, rows, changes, was_active=False)
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

    async def get_hold(self, hold_id: str) -> Hold:
        async with self._uow.read() as tx:
            hold, _ = await holds.load_hold(tx, hold_id)
            return hold

    async def sweep(self, *, limit: int = 1000) -> int:
        """Delete expired holds (up to ``limit`` levels) and emit their events; returns units."""
        async with self._change("expiry") as (tx, changes):
            return await holds.sweep(tx, limit, changes)
