"""The store locator: which nearby locations can serve these SKUs, and when."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select

from omnicore.channels import Channel
from omnicore.geo import GeoPoint, distance_km
from omnicore.locations import Capability, location_from_row
from omnicore.stock_figures import channel_share, level_figures
from omnicore.stock_models import NearbyLocation
from omnicore.store.tables import channel_locations, locations

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

KM_PER_DEGREE_LAT = 111.32


def bounding_box(near: GeoPoint, radius_km: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lng, max_lng) enclosing the circle (prefilter in SQL)."""
    dlat = radius_km / KM_PER_DEGREE_LAT
    cos_lat = max(0.01, math.cos(math.radians(near.lat)))
    dlng = min(180.0, radius_km / (KM_PER_DEGREE_LAT * cos_lat))
    return near.lat - dlat, near.lat + dlat, near.lng - dlng, near.lng + dlng


def _opens_today(next_opening: dt.datetime | None, now_local: dt.datetime) -> bool:
    return next_opening is not None and next_opening.date() == now_local.date()


async def nearby(
    tx: Tx,
    channel: Channel,
    skus: Sequence[str],
    near: GeoPoint,
    *,
    radius_km: float,
    limit: int,
    require_all: bool,
) -> list[NearbyLocation]:
    links = {link.location: link.buffer for link in channel.locations}
    if not links:
        return []
    min_lat, max_lat, min_lng, max_lng = bounding_box(near, radius_km)
    rows = (
        await tx.conn.execute(
            select(locations.c.code, locations.c.lat, locations.c.lng)
            .join(channel_locations, channel_locations.c.location_code == locations.c.code)
            .where(
                channel_locations.c.channel_code == channel.code,
                locations.c.active.is_(True),
                locations.c.lat.between(min_lat, max_lat),
                locations.c.lng.between(min_lng, max_lng),
            )
        )
    ).all()
    in_range = []
    for row in rows:
        distance = distance_km(near, GeoPoint(row.lat, row.lng))
        if distance <= radius_km:
            in_range.append((distance, row))
    if not in_range:
        return []
    figures = await level_figures(tx, list(skus), [row.code for _, row in in_range])
    answers = []
    for distance, row in in_range:
        quantities = {
            sku: channel_share(figures.get((sku, row.code)), links[row.code]) for sku in skus
        }
        serves_all = all(quantities.values())
        if (require_all and not serves_all) or not any(quantities.values()):
            continue
        answers.append((not serves_all, distance, row, quantities, serves_all))
    answers.sort(key=lambda a: (a[0], a[1], a[2].code))
    result = []
    now = tx.now
    chosen = answers[:limit]
    full = {
        row.code: row
        for row in await tx.conn.execute(
            select(locations).where(locations.c.code.in_([a[2].code for a in chosen]))
        )
    }
    for _, distance, light, quantities, serves_all in chosen:
        row = full[light.code]
        location = location_from_row(row)
        open_now = location.hours.is_open(now, location.timezone)
        next_opening = location.hours.next_opening(now, location.timezone)
        closes_at = location.hours.closes_at(now, location.timezone) if open_now else None
        local_now = now.astimezone(closes_at.tzinfo if closes_at else dt.UTC)
        if next_opening is not None:
            local_now = now.astimezone(next_opening.tzinfo)
        pickup_today = (
            location.can(Capability.PICKUP)
            and serves_all
            and (open_now or _opens_today(next_opening, local_now))
        )
        result.append(
            NearbyLocation(
                location,
                round(distance, 3),
                quantities,
                serves_all,
                open_now,
                next_opening,
                closes_at,
                pickup_today,
            )
        )
    return result
