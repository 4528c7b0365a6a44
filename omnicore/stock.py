"""``commerce.stock``: one inventory across warehouse, stores and e-commerce.

Invariants (DESIGN.md §4): ``on_hand`` is the sum of an append-only ledger;
``available = on_hand - safety_stock - Σ active holds``; at every instant, for
every level, ``Σ active holds ≤ on_hand - safety_stock`` — under any number of
concurrent processes, on SQLite and PostgreSQL. Channels see their locations
minus a per-channel buffer; nothing a channel sees changes what is on hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from omnicore import stock_holds as holds
from omnicore.catalog import existing_skus
from omnicore.channels import Channel, get_channel
from omnicore.errors import Conflict, InvalidInput, NotFound, OutOfStock
from omnicore.geo import GeoPoint
from omnicore.serialization import structure
from omnicore.stock_figures import StockChanges, channel_share, emit_stock_events, level_figures
from omnicore.stock_ledger import (
    add_movement,
    check_sku_and_location,
    is_replay,
    lock_level,
    new_id,
    revoke_excess,
    set_levels,
    take_units,
)
from omnicore.stock_locator import nearby
from omnicore.stock_models import (
    BulkResult,
    ChannelAvailability,
    Hold,
    HoldKind,
    HoldPart,
    LevelInput,
    LocationAvailability,
    Movement,
    MovementKind,
    NearbyLocation,
    StockLevel,
    Transfer,
)
from omnicore.store.tables import (
    locations,
    stock_levels,
    stock_movements,
    stock_thresholds,
    stock_transfers,
)
from omnicore.upsert import upsert

if TYPE_CHECKING:
    from omnicore.store.uow import Tx, UnitOfWork

__all__ = [
    "BulkResult",
    "ChannelAvailability",
    "Hold",
    "HoldKind",
    "HoldPart",
    "LevelInput",
    "LocationAvailability",
    "Movement",
    "MovementKind",
    "NearbyLocation",
    "StockLevel",
    "StockService",
    "Transfer",
]

CONTENTION_RETRIES = 8
DEFAULT_LOW_THRESHOLD = 5


def _quantity(value: object, field: str = "quantity") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{value!r} is not an integer", field=field)
    if value <= 0:
        raise InvalidInput("must be greater than 0", field=field)
    return value


def _source(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("must name who made the change (channel, plugin, staff)", field="source")
    return value


class StockService:
    """Receive, count, move, hold and read stock."""

    def __init__(self, uow: UnitOfWork, *, low_threshold: int = DEFAULT_LOW_THRESHOLD) -> None:
        self._uow = uow
        self._low = low_threshold

    @asynccontextmanager
    async def _change(self, reason: str) -> AsyncIterator[tuple[Tx, StockChanges]]:
        async with self._uow() as tx:
            changes = StockChanges(reason)
            yield tx, changes
            await emit_stock_events(tx, changes, low_default=self._low)

    # -- the ledger --------------------------------------------------------------------------

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

    # -- holds -------------------------------------------------------------------------------

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

    # -- reading -----------------------------------------------------------------------------

    async def level(self, sku: str, location: str) -> StockLevel:
        async with self._uow.read() as tx:
            return await _level(tx, sku, location)

    async def availability(self, sku: str, *, channel: str) -> ChannelAvailability:
        """What ``channel`` may sell of ``sku``, per location and in total."""
        return (await self.availability_many([sku], channel=channel))[sku]

    async def availability_many(
        self, skus: Sequence[str], *, channel: str
    ) -> dict[str, ChannelAvailability]:
        """The bulk form of ``availability``: one query for many SKUs."""
        async with self._uow.read() as tx:
            chosen = await get_channel(tx, channel)
            # an inactive location sells nothing: the same rule as ``hold``
            active = set(
                (
                    await tx.conn.execute(
                        select(locations.c.code).where(
                            locations.c.code.in_([link.location for link in chosen.locations]),
                            locations.c.active.is_(True),
                        )
                    )
                ).scalars()
            )
            links = [link for link in chosen.ordered_locations() if link.location in active]
            figures = await level_figures(tx, list(skus), [link.location for link in links])
        result = {}
        for sku in skus:
            per_location = []
            for link in links:
                level = figures.get((sku, link.location))
                per_location.append(
                    LocationAvailability(
                        link.location,
                        channel_share(level, link.buffer),
                        level.on_hand if level is not None else 0,
                    )
                )
            result[sku] = ChannelAvailability(
                sku, chosen.code, sum(p.available for p in per_location), per_location
            )
        return result

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
            chosen = await get_channel(tx, channel)
            return await nearby(
                tx,
                chosen,
                list(skus),
                point,
                radius_km=radius_km,
                limit=limit,
                require_all=require_all,
            )

    async def ledger(self, sku: str, location: str, *, limit: int = 1000) -> list[Movement]:
        """The movements of one level, oldest first."""
        async with self._uow.read() as tx:
            rows = (
                await tx.conn.execute(
                    select(stock_movements)
                    .where(
                        stock_movements.c.sku == sku, stock_movements.c.location_code == location
                    )
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


def _ttl(channel: Channel, ttl: dt.timedelta | None) -> dt.timedelta:
    if ttl is None:
        return channel.hold_ttl
    if not isinstance(ttl, dt.timedelta) or ttl.total_seconds() <= 0:
        raise InvalidInput("must be a positive duration", field="ttl")
    if ttl.total_seconds() > channel.max_hold_ttl_seconds:
        raise InvalidInput(
            f"above the channel's maximum of {channel.max_hold_ttl_seconds} s", field="ttl"
        )
    return ttl


async def _level(tx: Tx, sku: str, location: str) -> StockLevel:
    figures = await level_figures(tx, [sku], [location])
    f = figures.get((sku, location))
    if f is None:
        return StockLevel(sku, location, 0, 0, 0)
    return StockLevel(sku, location, f.on_hand, f.safety_stock, f.reserved)
