"""``commerce.stock``: one inventory across warehouse, stores and e-commerce.

Invariants (DESIGN.md §4): ``on_hand`` is the sum of an append-only ledger;
``available = on_hand - safety_stock - Σ active holds``; at every instant, for
every level, ``Σ active holds ≤ on_hand - safety_stock`` — under any number of
concurrent processes, on SQLite and PostgreSQL. Channels see their locations
minus a per-channel buffer; nothing a channel sees changes what is on hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select

from omnicore.errors import InvalidInput
from omnicore.network import Channel, GeoPoint, get_channel
from omnicore.serialization import structure
from omnicore.stock._figures import active_level_figures, channel_share
from omnicore.stock._locator import nearby
from omnicore.stock._models import (
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
    stock_movements,
)

if TYPE_CHECKING:
    pass
from omnicore.stock._base import StockBase, _level
from omnicore.stock._hold_ops import HoldOperations
from omnicore.stock._ledger_ops import LedgerOperations

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


class StockService(LedgerOperations, HoldOperations, StockBase):
    """Receive, count, move, hold and read stock."""

    # -- reading -----------------------------------------------------------------------------

    async def level(self, sku: str, location: str) -> StockLevel:
        async with self._uow.read() as tx:
            return await _level(tx, sku, location)

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
            # an inactive location sells nothing: the same rule as ``hold``
            active, figures = await active_level_figures(
                tx, list(skus), [link.location for link in chosen.locations])
        links = [link for link in chosen.ordered_locations() if link.location in active]
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
            # the locator reads the channel's links itself: building the whole Channel
            # (2,000 locations) would cost more than the search
            return await nearby(
                tx,
                channel,
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
