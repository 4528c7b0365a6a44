"""Availability arithmetic in SQL, and the stock events that report it.

``reserved`` on a level counts every hold row, expired or not; the *active*
reservation subtracts the holds whose ``expires_at`` has passed, so an expired
hold stops counting the instant it expires, before any sweeper runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import ColumnElement, Select, String, and_, bindparam, func, select

from omnicore.stock._models import ChannelAvailability, LocationAvailability, StockLevel
from omnicore.store.prepared import PreparedSelect
from omnicore.store.tables import (
    channel_locations,
    locations,
    stock_holds,
    stock_levels,
    stock_thresholds,
)

if TYPE_CHECKING:
    import datetime as dt

    from omnicore.network import Channel
    from omnicore.store.uow import Tx

CHUNK = 500


def expired_units(now: dt.datetime | ColumnElement[dt.datetime]) -> ColumnElement[int]:
    """SQL: the units of the level's hold rows that have expired at ``now`` (not yet swept)."""
    return (
        select(func.coalesce(func.sum(stock_holds.c.quantity), 0))
        .where(
            stock_holds.c.sku == stock_levels.c.sku,
            stock_holds.c.location_code == stock_levels.c.location_code,
            stock_holds.c.expires_at <= now,
        )
        .scalar_subquery()
    )


def active_reserved(now: dt.datetime | ColumnElement[dt.datetime]) -> ColumnElement[int]:
    """SQL: the level's reservation by holds that have not expired at ``now``."""
    return stock_levels.c.reserved - expired_units(now)


def free_covers(needed: int | ColumnElement[int]) -> ColumnElement[bool]:
    """SQL: the level's free units cover ``needed`` — the no-oversell condition.

    ``on_hand - safety_stock - reserved ≥ needed`` (the quantity plus the channel's
    buffer). Every write that takes free units — a reservation, a sale without a
    hold — is an ``UPDATE … WHERE`` this condition, which the database evaluates
    under the row lock (PostgreSQL re-checks it after waiting; SQLite has one
    writer), so no interleaving of processes takes a unit twice.
    """
    return stock_levels.c.on_hand - stock_levels.c.safety_stock - stock_levels.c.reserved >= needed


@attrs.frozen
class Figures:
    on_hand: int
    safety_stock: int
    reserved: int

    @property
    def free(self) -> int:
        """Units nobody holds, before any channel buffer (may be negative after shrinkage)."""
        return self.on_hand - self.safety_stock - self.reserved


def _figures_query(*, at_locations: bool) -> Select[Any]:
    now = bindparam("now", type_=stock_holds.c.expires_at.type)
    query = select(
        stock_levels.c.sku,
        stock_levels.c.location_code,
        stock_levels.c.on_hand,
        stock_levels.c.safety_stock,
        active_reserved(now).label("active_reserved"),
    ).where(stock_levels.c.sku.in_(bindparam("skus", expanding=True, type_=String())))
    if at_locations:
        codes = bindparam("locations", expanding=True, type_=String())
        query = query.where(stock_levels.c.location_code.in_(codes))
    return query


# Built once: SQLAlchemy memoizes a statement's cache key, so executing the same
# object again skips building and hashing the expression (the bulk of a small
# query's client CPU).
_FIGURES = _figures_query(at_locations=False)
_FIGURES_AT = _figures_query(at_locations=True)


async def level_figures(
    tx: Tx, skus: Sequence[str], location_codes: Sequence[str] | None = None
) -> dict[tuple[str, str], Figures]:
    """Current figures of the levels of ``skus`` (at ``location_codes`` if given)."""
    found: dict[tuple[str, str], Figures] = {}
    query = _FIGURES if location_codes is None else _FIGURES_AT
    params: dict[str, Any] = {"now": tx.now}
    if location_codes is not None:
        params["locations"] = list(location_codes)
    for start in range(0, len(skus), CHUNK):
        params["skus"] = list(skus[start : start + CHUNK])
        # unpacked by position: Row attribute access would cost more than the rest
        # of the loop on thousands of levels (availability_many, nearby)
        rows = await tx.conn.execute(query, params)
        for sku, location, on_hand, safety_stock, reserved in rows.all():
            found[(sku, location)] = Figures(on_hand, safety_stock, int(reserved))
    return found


def _active_figures_query() -> Select[Any]:
    """The active locations among ``locations``, each with its levels of ``skus`` (if any)."""
    now = bindparam("now", type_=stock_holds.c.expires_at.type)
    skus = bindparam("skus", expanding=True, type_=String())
    codes = bindparam("locations", expanding=True, type_=String())
    level_of = and_(stock_levels.c.location_code == locations.c.code, stock_levels.c.sku.in_(skus))
    return (
        select(
            locations.c.code,
            stock_levels.c.sku,
            stock_levels.c.on_hand,
            stock_levels.c.safety_stock,
            active_reserved(now).label("active_reserved"),
        )
        .select_from(locations.outerjoin(stock_levels, level_of))
        .where(locations.c.code.in_(codes), locations.c.active.is_(True))
    )


_ACTIVE_FIGURES = PreparedSelect(_active_figures_query(), lists=("skus", "locations"))


async def active_level_figures(
    tx: Tx, skus: Sequence[str], location_codes: Sequence[str]
) -> tuple[set[str], dict[tuple[str, str], Figures]]:
    """Which of ``location_codes`` are active, and the figures of ``skus`` there.

    One statement per ``CHUNK`` SKUs (an inactive location sells nothing).
    """
    active: set[str] = set()
    found: dict[tuple[str, str], Figures] = {}
    if not skus or not location_codes:
        return active, found
    params: dict[str, Any] = {"now": tx.now, "locations": list(location_codes)}
    for start in range(0, len(skus), CHUNK):
        params["skus"] = list(skus[start : start + CHUNK])
        for location, sku, on_hand, safety_stock, reserved in await _ACTIVE_FIGURES.rows(
                tx.conn, params):
            active.add(location)
            if sku is not None:
                found[(sku, location)] = Figures(on_hand, safety_stock, int(reserved))
    return active, found


async def read_level(tx: Tx, sku: str, location: str) -> StockLevel:
    """The level of ``sku`` at ``location`` now (zeros if it has none)."""
    f = (await level_figures(tx, [sku], [location])).get((sku, location))
    if f is None:
        return StockLevel(sku, location, 0, 0, 0)
    return StockLevel(sku, location, f.on_hand, f.safety_stock, f.reserved)


async def channel_availability(
    tx: Tx, skus: Sequence[str], channel: Channel
) -> dict[str, ChannelAvailability]:
    """What ``channel`` may sell of each SKU, per active location (after its buffer)
    and in total: one statement per ``CHUNK`` SKUs."""
    # an inactive location sells nothing: the same rule as a hold
    active, figures = await active_level_figures(
        tx, list(skus), [link.location for link in channel.locations])
    links = [link for link in channel.ordered_locations() if link.location in active]
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
            sku, channel.code, sum(p.available for p in per_location), per_location
        )
    return result


def channel_share(figures: Figures | None, buffer: int) -> int:
    """What a channel sees of a level: free units minus its buffer, never below zero."""
    if figures is None:
        return 0
    return max(0, figures.free - buffer)


@attrs.define
class StockChanges:
    """Collects, within one transaction, how much each level's free units moved."""

    reason: str
    deltas: dict[tuple[str, str], int] = attrs.field(factory=lambda: defaultdict(int))

    def add(self, sku: str, location: str, free_delta: int) -> None:
        self.deltas[(sku, location)] += free_delta

    def touch(self, sku: str, location: str) -> None:
        self.deltas[(sku, location)] += 0


async def _channels_of(tx: Tx, location_codes: Iterable[str]) -> dict[str, dict[str, int]]:
    """channel → {location: buffer} for every channel selling from any of the locations."""
    wanted = list(set(location_codes))
    touched = select(channel_locations.c.channel_code).where(
        channel_locations.c.location_code.in_(wanted)
    )
    rows = await tx.conn.execute(
        select(
            channel_locations.c.channel_code,
            channel_locations.c.location_code,
            channel_locations.c.buffer,
        )
        .join(locations, locations.c.code == channel_locations.c.location_code)
        .where(channel_locations.c.channel_code.in_(touched), locations.c.active.is_(True))
    )
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for channel, location, buffer in rows:
        result[channel][location] = buffer
    return result


async def emit_stock_events(tx: Tx, changes: StockChanges, *, low_default: int) -> None:
    """Emit ``stock.changed`` per SKU, and ``stock.low`` / ``stock.out`` /
    ``stock.back_in_stock`` per channel whose total crossed a threshold."""
    if not changes.deltas:
        return
    skus = sorted({sku for sku, _ in changes.deltas})
    touched_locations = {loc for _, loc in changes.deltas}
    channels = await _channels_of(tx, touched_locations)
    all_locations = {loc for links in channels.values() for loc in links} | touched_locations
    figures = await level_figures(tx, skus, sorted(all_locations))
    threshold_rows = await tx.conn.execute(
        select(stock_thresholds).where(stock_thresholds.c.sku.in_(skus))
    )
    thresholds: dict[str, int] = {row.sku: row.low for row in threshold_rows}
    emit_figures(tx, changes, channels, figures, thresholds, low_default=low_default)


def emit_figures(
    tx: Tx,
    changes: StockChanges,
    channels: Mapping[str, Mapping[str, int]],
    figures: Mapping[tuple[str, str], Figures],
    thresholds: Mapping[str, int],
    *,
    low_default: int,
) -> None:
    """The events of ``emit_stock_events``, from figures already read.

    ``channels`` maps every channel selling from a changed location to its active
    locations and their buffers; ``figures`` holds the levels of those locations,
    each changed level read after its change.
    """
    touched: dict[str, list[str]] = defaultdict(list)  # sku → its changed locations
    for sku, loc in changes.deltas:
        touched[sku].append(loc)
    for sku in sorted(touched):
        here = sorted(touched[sku])
        per_channel: list[dict[str, Any]] = []
        for channel, links in sorted(channels.items()):
            if not any(loc in links for loc in here):
                continue
            now_total = sum(
                channel_share(figures.get((sku, loc)), buf) for loc, buf in links.items()
            )
            before_total = 0
            for loc, buf in links.items():
                current = figures.get((sku, loc))
                delta = changes.deltas.get((sku, loc), 0)
                if current is None:
                    continue
                before = attrs.evolve(current, reserved=current.reserved + delta)
                before_total += channel_share(before, buf)
            per_channel.append(
                {"channel": channel, "available": now_total, "previous": before_total}
            )
        tx.emit(
            "stock.changed",
            {
                "sku": sku,
                "reason": changes.reason,
                "locations": [_location_payload(loc, figures.get((sku, loc))) for loc in here],
                "channels": per_channel,
            },
        )
        for entry in per_channel:
            _threshold_events(
                tx,
                sku,
                entry["channel"],
                entry["previous"],
                entry["available"],
                thresholds.get(sku, low_default),
            )


def _location_payload(location: str, figures: Figures | None) -> dict[str, Any]:
    f = figures or Figures(0, 0, 0)
    return {
        "location": location,
        "on_hand": f.on_hand,
        "safety_stock": f.safety_stock,
        "reserved": f.reserved,
        "available": max(0, f.free),
    }


def _threshold_events(tx: Tx, sku: str, channel: str, before: int, now: int, low: int) -> None:
    payload = {"sku": sku, "channel": channel, "available": now, "previous": before}
    if before > 0 and now == 0:
        tx.emit("stock.out", payload)
    elif before == 0 and now > 0:
        tx.emit("stock.back_in_stock", payload)
    if now > 0 and before > low >= now:
        tx.emit("stock.low", {**payload, "threshold": low})


def level_key(sku: str, location: str) -> ColumnElement[bool]:
    return and_(stock_levels.c.sku == sku, stock_levels.c.location_code == location)
