"""Cart lines' stock holds, taken and released in the cart's own transaction.

A cart change and the holds it needs commit together or not at all: the holds
are made by the very functions ``commerce.stock.hold`` and ``release`` run
(``omnicore.stock.reserve`` and ``release_hold``), on the cart's transaction, so
a failed change leaves no hold behind and no event in the outbox — nothing to
compensate. A line's hold lasts its channel's ``hold_ttl``.

Lock order (PostgreSQL): the cart row first, then stock levels SKU by SKU,
each hold in location order as every stock write does. Releasing all holds
before taking new ones can rarely lock two levels of one SKU out of order; the
database then detects the deadlock and the cart service reruns the change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
from sqlalchemy import update

from omnicore.carts._state import HoldState
from omnicore.errors import InvalidInput, NotFound, OutOfStock
from omnicore.stock import (
    Reservation,
    StockChanges,
    emit_stock_events,
    release_hold,
    reserve,
)
from omnicore.store.tables import stock_holds

if TYPE_CHECKING:
    from omnicore.network import Channel
    from omnicore.store.uow import Tx

__all__ = ["Need", "StockWork", "fits_channel"]


@attrs.frozen
class Need:
    """A line whose hold must be replaced: release ``old_hold_id``, hold ``quantity``.

    ``quantity`` 0 only releases. ``strict``: failing to hold raises ``OutOfStock``
    naming ``field`` (the change fails); otherwise the line is left without a hold.
    """

    line_id: str
    sku: str
    quantity: int
    location: str | None
    old_hold_id: str | None
    strict: bool = False
    field: str = "quantity"


@attrs.define
class StockWork:
    """The stock side of one cart transaction: what moved, for the stock events."""

    tx: Tx
    low_threshold: int
    changes: StockChanges = attrs.field(factory=lambda: StockChanges("hold"))
    took: bool = False

    async def finish(self) -> None:
        """Emit ``stock.changed`` & co. for every level the transaction touched."""
        if not self.took:
            self.changes.reason = "release"
        await emit_stock_events(self.tx, self.changes, low_default=self.low_threshold)

    async def rehold(
        self, channel: Channel, cart_id: str, needs: Sequence[Need]
    ) -> dict[str, str | None]:
        """Replace the holds of ``needs``; returns line id → new hold id (None: not held).

        SKU by SKU in order (each hold locks its levels in location order), releasing
        before holding so a line's own units are free for its new hold.
        """
        result: dict[str, str | None] = {}
        by_sku: dict[str, list[Need]] = {}
        for need in needs:
            by_sku.setdefault(need.sku, []).append(need)
        for sku in sorted(by_sku):
            group = sorted(by_sku[sku], key=lambda n: n.line_id)
            for need in group:
                if need.old_hold_id:
                    await self.release(need.old_hold_id)
            for need in group:
                result[need.line_id] = await self._hold(channel, cart_id, need)
        return result

    async def release(self, hold_id: str) -> None:
        """Release a hold; one already gone (expired and swept, revoked) is fine."""
        with contextlib.suppress(NotFound):
            await release_hold(self.tx, hold_id, self.changes)

    async def _hold(self, channel: Channel, cart_id: str, need: Need) -> str | None:
        if not need.quantity:
            return None
        ask = Reservation(channel.code, need.sku, need.quantity, location=need.location,
                          reference=cart_id)  # for the channel's hold_ttl
        try:
            reserved = await reserve(self.tx, ask, self.changes)  # Contention: rerun all
        except OutOfStock as exc:
            if need.strict:
                raise OutOfStock(
                    exc.message,
                    field=need.field,
                    sku=exc.sku,
                    requested=exc.requested,
                    available=exc.available,
                    by_location=exc.by_location,
                ) from None
            return None
        except InvalidInput:  # the channel does not sell from the line's location
            if need.strict:
                raise
            return None
        self.took = True
        return reserved.hold.id

    async def move_reference(self, hold_id: str, cart_id: str) -> None:
        """A line moved to another cart (a merge): its hold now names that cart."""
        await self.tx.conn.execute(
            update(stock_holds).where(stock_holds.c.group_id == hold_id).values(reference=cart_id)
        )


def fits_channel(state: HoldState | None, quantity: int, location: str | None,
                 channel: Channel) -> bool:
    """An active hold of the whole quantity that ``channel`` may keep as it is.

    A pickup/ship-from line keeps its hold at its store; otherwise every part must
    be at a location the channel sells from.
    """
    if state is None or not state.active == state.total == quantity:
        return False
    if location is not None:
        return state.locations == {location}
    return all(channel.sells_from(loc) is not None for loc in state.locations)
