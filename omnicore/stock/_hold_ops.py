"""Stock operations on holds: reserve, release, extend, allocate, consume, sweep."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from omnicore.errors import Conflict, InvalidInput, OutOfStock
from omnicore.network import get_channel
from omnicore.stock import _hold_take as take
from omnicore.stock import _holds as holds
from omnicore.stock._figures import StockChanges
from omnicore.stock._ledger import add_movement
from omnicore.stock._models import Hold, MovementKind

if TYPE_CHECKING:
    from omnicore.store.uow import Tx
from omnicore.stock._base import CONTENTION_RETRIES, StockBase, _quantity, _source, _ttl


def _positive(ttl: object) -> bool:
    return isinstance(ttl, dt.timedelta) and ttl.total_seconds() > 0


def _hold_ttl(terms: take.HoldTerms, ttl: dt.timedelta | None) -> dt.timedelta:
    """``_ttl``, from the channel terms ``read_hold_view`` read."""
    if ttl is None:
        return dt.timedelta(seconds=terms.hold_ttl_seconds)
    if not _positive(ttl):
        raise InvalidInput("must be a positive duration", field="ttl")
    if ttl.total_seconds() > terms.max_hold_ttl_seconds:
        raise InvalidInput(
            f"above the channel's maximum of {terms.max_hold_ttl_seconds} s", field="ttl"
        )
    return ttl


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
                    return await self._take(tx, sku, quantity, channel, location, ttl, reference)
            except holds.Contention:
                continue
        raise OutOfStock(
            f"{sku} is selling too fast to hold {quantity}: try again", sku=sku, requested=quantity
        )

    async def _take(
        self,
        tx: Tx,
        sku: str,
        quantity: int,
        channel: str,
        location: str | None,
        ttl: dt.timedelta | None,
        reference: str | None,
    ) -> Hold:
        """One attempt of ``hold`` in ``tx``, with its events (``stock_hold_take``).

        Errors come in the order of ``get_channel``, ``existing_skus``, ttl, location,
        stock. ``Contention`` when a planned level lost its units meanwhile.
        """
        changes = StockChanges("hold")
        if (
            location is not None
            and (ttl is None or _positive(ttl))
            and tx.conn.dialect.name == "postgresql"
        ):
            # one statement; when it cannot (it wrote nothing), the general path says why
            taken = await take.hold_at(
                tx, channel, sku, quantity, location, changes, ttl=ttl, reference=reference
            )
            if taken is not None:
                hold, context, after = taken
                take.emit_hold_events(tx, sku, changes, context, after, low_default=self._low)
                return hold
        terms, context = await take.read_hold_view(tx, channel, sku, location)
        expires_at = tx.now + _hold_ttl(terms, ttl)
        plan = take.plan_parts(terms, context, sku, quantity, location)
        hold, after = await take.take(
            tx, channel, sku, plan, changes, expires_at=expires_at, reference=reference
        )
        # self._change's emit_stock_events, minus the reads made already
        take.emit_hold_events(tx, sku, changes, context, after, low_default=self._low)
        return hold

    async def release(self, hold_id: str) -> Hold:
        """Give held units back to every channel."""
        async with self._change("release") as (tx, changes):
            return await holds.release_hold(tx, hold_id, changes)

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
            await holds.drop_hold_rows(tx, rows, changes, was_active=False)
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
