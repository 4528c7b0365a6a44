"""``commerce.stock``: one inventory across warehouse, stores and e-commerce.

Invariants (DESIGN.md §4): ``on_hand`` is the sum of an append-only ledger;
``available = on_hand - safety_stock - Σ active holds``; at every instant, for
every level, ``Σ active holds ≤ on_hand - safety_stock`` — under any number of
concurrent processes, on SQLite and PostgreSQL. Channels see their locations
minus a per-channel buffer; nothing a channel sees changes what is on hand.

``StockService`` checks its arguments, opens the transaction and delegates to
the package's private modules: ``_ledger`` (movements, counts, sales),
``_transfers``, ``_reserve`` (the one reserve path), ``_holds`` (a hold's life
after it is taken), ``_figures`` (availability and the stock events) and
``_locator`` (the store locator).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from omnicore.errors import InvalidInput, OutOfStock
from omnicore.network import Channel, GeoPoint, get_channel
from omnicore.serialization import structure
from omnicore.stock import _holds, _ledger, _transfers
from omnicore.stock._figures import (
    StockChanges,
    channel_availability,
    emit_stock_events,
    read_level,
)
from omnicore.stock._locator import nearby
from omnicore.stock._models import (
    BulkResult,
    ChannelAvailability,
    Hold,
    LevelInput,
    Movement,
    MovementKind,
    NearbyLocation,
    StockLevel,
    Transfer,
)
from omnicore.stock._reserve import Contention, Reservation, emit_hold_events, reserve

if TYPE_CHECKING:
    from omnicore.store.uow import Tx, UnitOfWork

__all__ = ["DEFAULT_LOW_THRESHOLD", "StockService"]

DEFAULT_LOW_THRESHOLD = 5


def _quantity(value: object, field: str = "quantity") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{value!r} is not an integer", field=field)
    if value <= 0:
        raise InvalidInput("must be greater than 0", field=field)
    return value


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput("must be an integer ≥ 0", field="quantity")
    return value


def _source(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("must name who made the change (channel, plugin, staff)", field="source")
    return value


class StockService:
    """Receive, count, move, hold and read stock.

    :param uow: the unit of work of the ``Commerce``.
    :param low_threshold: the default ``stock.low`` threshold (``[stock] low_threshold``).
    """

    def __init__(self, uow: UnitOfWork, *, low_threshold: int = DEFAULT_LOW_THRESHOLD) -> None:
        self._uow = uow
        self._low = low_threshold

    @property
    def low_threshold(self) -> int:
        """The default ``stock.low`` threshold (``[stock] low_threshold``)."""
        return self._low

    @asynccontextmanager
    async def _change(self, reason: str) -> AsyncIterator[tuple[Tx, StockChanges]]:
        """A transaction whose stock changes emit their events when it ends."""
        async with self._uow() as tx:
            changes = StockChanges(reason)
            yield tx, changes
            await emit_stock_events(tx, changes, low_default=self._low)

    # -- the ledger ----------------------------------------------------------------------------

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
        return await self._move(sku, location, _quantity(quantity), MovementKind.RECEIPT,
                                source=source, external_id=external_id, note=note)

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
        return await self._move(sku, location, delta, MovementKind.ADJUSTMENT,
                                source=source, external_id=external_id, note=note)

    async def _move(self, sku: str, location: str, delta: int, kind: MovementKind, *,
                    source: str, external_id: str | None, note: str | None) -> StockLevel:
        _source(source)
        async with self._change(kind.value) as (tx, changes):
            return await _ledger.move(tx, changes, sku, location, delta, kind, source=source,
                                     external_id=external_id, note=note)

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
        _count(quantity)
        _source(source)
        async with self._change("count") as (tx, changes):
            return await _ledger.count(tx, changes, sku, location, quantity, source=source,
                                      external_id=external_id, note=note)

    async def set_safety_stock(self, sku: str, location: str, quantity: int) -> StockLevel:
        """Units kept back from every channel at this level; holds beyond it are revoked."""
        _count(quantity)
        async with self._change("safety_stock") as (tx, changes):
            return await _ledger.set_safety_stock(tx, changes, sku, location, quantity)

    async def set_low_threshold(self, sku: str, threshold: int) -> None:
        """A channel total at or below ``threshold`` emits ``stock.low`` for this SKU."""
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
            raise InvalidInput("must be an integer ≥ 0", field="threshold")
        async with self._uow() as tx:
            await _ledger.set_low_threshold(tx, sku, threshold)

    async def set_levels(
        self, levels: Iterable[LevelInput | Mapping[str, Any]], *, source: str = "bulk"
    ) -> BulkResult:
        """Set many levels at once (a count of each), in one transaction: all or nothing."""
        parsed = [
            lv if isinstance(lv, LevelInput) else structure(dict(lv), LevelInput, field=f"[{i}]")
            for i, lv in enumerate(levels)
        ]
        async with self._change("count") as (tx, changes):
            return await _ledger.set_levels(tx, parsed, source=_source(source), changes=changes)

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
            return await _ledger.sell(tx, changes, sku, location, quantity, source=source,
                                     external_id=external_id, note=note)

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
            return await _transfers.send(tx, changes, sku, from_location, to_location, quantity,
                                        source=source, note=note)

    async def receive_transfer(self, transfer_id: str, *, source: str) -> Transfer:
        """The transfer arrives: its units join ``on_hand`` at the destination."""
        _source(source)
        async with self._change("transfer") as (tx, changes):
            return await _transfers.receive(tx, changes, transfer_id, source=source)

    async def in_transit(self, sku: str) -> list[Transfer]:
        async with self._uow.read() as tx:
            return await _transfers.in_transit(tx, sku)

    # -- holds ---------------------------------------------------------------------------------

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
        ask = Reservation(channel, sku, quantity, location=location, ttl=ttl, reference=reference)

        async def attempt(tx: Tx) -> Hold:
            changes = StockChanges("hold")
            reserved = await reserve(tx, ask, changes)
            # the events of emit_stock_events, from the figures reserve read already
            emit_hold_events(tx, reserved, changes, low_default=self._low)
            return reserved.hold

        return await self._uow.run(
            attempt, retry_on=(Contention,),
            exhausted=lambda _: OutOfStock(f"{sku} is selling too fast to hold {quantity}: "
                                           "try again", sku=sku, requested=quantity))

    async def release(self, hold_id: str) -> Hold:
        """Give held units back to every channel."""
        async with self._change("release") as (tx, changes):
            return await _holds.release_hold(tx, hold_id, changes)

    async def extend(self, hold_id: str, ttl: dt.timedelta) -> Hold:
        """Push a cart hold's expiry to now + ``ttl`` (at most the channel's maximum)."""
        async with self._uow() as tx:
            return await _holds.extend(tx, hold_id, ttl)

    async def allocate(self, hold_id: str, *, reference: str | None = None) -> Hold:
        """Turn a cart hold into an order allocation that does not expire."""
        async with self._uow() as tx:
            return await _holds.allocate(tx, hold_id, reference)

    async def consume(self, hold_id: str, *, source: str, external_id: str | None = None) -> Hold:
        """Goods leave (shipped, collected): the hold's units leave ``on_hand`` too."""
        _source(source)
        async with self._change("sale") as (tx, changes):
            return await _holds.consume(tx, hold_id, changes, source=source,
                                       external_id=external_id)

    async def get_hold(self, hold_id: str) -> Hold:
        async with self._uow.read() as tx:
            hold, _ = await _holds.load_hold(tx, hold_id)
            return hold

    async def sweep(self, *, limit: int = 1000) -> int:
        """Delete expired holds (up to ``limit`` levels) and emit their events; returns units."""
        async with self._change("expiry") as (tx, changes):
            return await _holds.sweep(tx, limit, changes)

    # -- reading -------------------------------------------------------------------------------

    async def level(self, sku: str, location: str) -> StockLevel:
        async with self._uow.read() as tx:
            return await read_level(tx, sku, location)

    async def availability(self, sku: str, *, channel: str) -> ChannelAvailability:
        """What ``channel`` may sell of ``sku``, per location and in total."""
        return (await self.availability_many([sku], channel=channel))[sku]

    async def availability_many(
        self, skus: Sequence[str], *, channel: str | Channel
    ) -> dict[str, ChannelAvailability]:
        """The bulk form of ``availability``: one query for many SKUs.

        ``channel`` is a code, or a ``Channel`` the caller already read (the gateway's
        request channel) to save reading it again.
        """
        async with self._uow.read() as tx:
            chosen = channel if isinstance(channel, Channel) else await get_channel(tx, channel)
            return await channel_availability(tx, skus, chosen)

    async def nearby(
        self,
        skus: Sequence[str],
        *,
        near: GeoPoint | Mapping[str, float],
        channel: str,
        radius_km: float = 25,
        limit: int = 10,
        require_all: bool = False,
    ) -> list[NearbyLocation]:
        """Store locator: the channel's locations within ``radius_km`` that have the SKUs.

        Locations serving every SKU come first, then by distance; each answer says
        whether the location is open now, when it next opens and if pickup is possible
        today (it has the ``pickup`` capability, every SKU, and is or will be open today).
        """
        point = (
            near if isinstance(near, GeoPoint) else structure(dict(near), GeoPoint, field="near")
        )
        if not 0 < radius_km <= 500:
            raise InvalidInput("must be between 0 and 500", field="radius_km")
        if not 1 <= limit <= 100:
            raise InvalidInput("must be between 1 and 100", field="limit")
        if not skus:
            raise InvalidInput("give at least one SKU", field="skus")
        async with self._uow.read() as tx:
            # the locator reads the channel's links itself: building the whole Channel
            # (2,000 locations) would cost more than the search
            return await nearby(tx, channel, list(skus), point, radius_km=radius_km,
                                limit=limit, require_all=require_all)

    async def ledger(self, sku: str, location: str, *, limit: int = 1000) -> list[Movement]:
        """The movements of one level, oldest first."""
        async with self._uow.read() as tx:
            return await _ledger.movements(tx, sku, location, limit)
