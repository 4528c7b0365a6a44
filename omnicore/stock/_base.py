"""The shared part of ``commerce.stock``: the unit of work, argument checks, reads of a level."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from omnicore.errors import InvalidInput
from omnicore.network import Channel
from omnicore.stock._figures import StockChanges, emit_stock_events, level_figures
from omnicore.stock._models import StockLevel

if TYPE_CHECKING:
    from omnicore.store.uow import Tx, UnitOfWork

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


class StockBase:
    """What every family of stock operations shares."""

    def __init__(self, uow: UnitOfWork, *, low_threshold: int = DEFAULT_LOW_THRESHOLD) -> None:
        self._uow = uow
        self._low = low_threshold

    @property
    def low_threshold(self) -> int:
        """The default ``stock.low`` threshold (``[stock] low_threshold``)."""
        return self._low

    @asynccontextmanager
    async def _change(self, reason: str) -> AsyncIterator[tuple[Tx, StockChanges]]:
        async with self._uow() as tx:
            changes = StockChanges(reason)
            yield tx, changes
            await emit_stock_events(tx, changes, low_default=self._low)


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
