"""Cart lines' stock holds, taken and released in the cart's own transaction.

A cart change and the holds it needs commit together or not at all: the holds
are made by the very functions ``commerce.stock.hold`` and ``release`` run
(``omnicore.stock_holds``), on the cart's transaction, so a failed change leaves
no hold behind and no event in the outbox — nothing to compensate.

Lock order (PostgreSQL): the cart row first, then stock levels in (sku,
location) order — the order of every stock write — so cart changes queue behind
each other and behind stock writes instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
from sqlalchemy import select, update

from omnicore import stock_holds as holds
from omnicore.cart_state import HoldState, hold_states
from omnicore.errors import InvalidInput, NotFound, OutOfStock
from omnicore.stock_figures import StockChanges, emit_stock_events
from omnicore.stock_ledger import lock_level
from omnicore.store.tables import stock_holds

if TYPE_CHECKING:
    from omnicore.channels import Channel
    from omnicore.store.uow import Tx

__all__ = ["Contention", "Need", "StockWork"]

Contention = holds.Contention


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
        """Replace the holds of ``needs``; returns line id → new hold id (None: not held)."""
        tx = self.tx
        result: dict[str, str | None] = {}
        old_ids = [n.old_hold_id for n in needs if n.old_hold_id]
        old_levels: dict[str, set[str]] = {}
        if old_ids:
            rows = await tx.conn.execute(
                select(stock_holds.c.sku, stock_holds.c.location_code).where(
                    stock_holds.c.group_id.in_(sorted(set(old_ids)))
                )
            )
            for sku, location in rows:
                old_levels.setdefault(sku, set()).add(location)
        by_sku: dict[str, list[Need]] = {}
        for need in needs:
            by_sku.setdefault(need.sku, []).append(need)
        for sku in sorted(by_sku):
            group = by_sku[sku]
            # Every level this SKU's changes may touch, locked up front in location order.
            touched = set(old_levels.get(sku, set()))
            for need in group:
                if need.quantity:
                    touched.update(
                        [need.location] if need.location else
                        [link.location for link in channel.locations]
                    )
            for location in sorted(touched):
                await lock_level(tx, sku, location)
            for need in group:
                if need.old_hold_id:
                    await self.release(need.old_hold_id)
                result[need.line_id] = await self._hold(channel, cart_id, need)
        return result

    async def release(self, hold_id: str) -> None:
        """Release a hold; one already gone (expired and swept, revoked) is fine."""
        try:
            await holds.release(self.tx, hold_id, self.changes)
        except NotFound:
            pass

    async def _hold(self, channel: Channel, cart_id: str, need: Need) -> str | None:
        if not need.quantity:
            return None
        try:
            plan = await holds.plan_hold(self.tx, channel, need.sku, need.quantity, need.location)
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
        await holds.reserve(self.tx, need.sku, plan, self.changes)  # Contention: retry all
        hold = await holds.insert_hold(
            self.tx,
            channel,
            need.sku,
            plan,
            expires_at=self.tx.now + channel.hold_ttl,
            reference=cart_id,
        )
        self.took = True
        return hold.id

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


async def states_of(tx: Tx, hold_ids: Sequence[str | None]) -> dict[str, HoldState]:
    return await hold_states(tx, hold_ids)
