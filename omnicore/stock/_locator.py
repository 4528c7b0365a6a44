"""The store locator: which nearby locations can serve these SKUs, and when.

A channel may sell from thousands of stores, so ``nearby`` reads no ``Channel``
object and as few rows as it can:

1. the nearest ``limit x 3`` of the channel's active locations in the bounding
   box, chosen in SQL by a lower bound of their distance (arithmetic only, so the
   same SQL on SQLite and PostgreSQL) and then sorted by the exact distance;
2. the stock figures of those;
3. only if fewer than ``limit`` of them serve every SKU, every other location in
   range (a farther one serving every SKU comes before a nearer partial one) and
   their figures;
4. the full rows of the answers alone.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Float, Integer, String, bindparam, func, select

from omnicore.errors import NotFound
from omnicore.network import EARTH_RADIUS_KM, Capability, Channel, GeoPoint, location_from_row
from omnicore.stock._figures import channel_share, level_figures
from omnicore.stock._models import NearbyLocation
from omnicore.store.tables import channel_locations, channels, locations

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

KM_PER_DEGREE_LAT = 111.32
#: Candidates first read: ``limit`` times this (then, if too few serve, all the others).
FIRST_READ_FACTOR = 3
_EVERY_ROW = 2**31 - 1
#: Relative safety margin between the SQL lower bound and the distance computed here.
_MARGIN = 1e-9


def _distance_bound() -> ColumnElement[float]:
    """SQL: a lower bound of the haversine term ``h`` of a location's distance.

    ``h = sin²(Δφ/2) + cos φ0 cos φ sin²(Δλ/2)`` and the distance is
    ``2R asin(√h)``. With ``sin x ≥ x - x³/6`` (x ≥ 0; here x ≤ π/2, where the right
    side is ≥ 0) and ``cos φ0 cos φ ≥ :weight`` (``_weight``: the smallest over the
    bounding box), ``(a - a³/6)² + weight (b - b³/6)² ≤ h`` for
    ``a = |Δφ|/2``, ``b = |Δλ|/2`` in radians.
    """
    half_radian = math.pi / 360
    a = func.abs(locations.c.lat - bindparam("lat0", type_=Float())) * half_radian
    b = func.abs(locations.c.lng - bindparam("lng0", type_=Float())) * half_radian
    sin_a = a - a * a * a / 6
    sin_b = b - b * b * b / 6
    return sin_a * sin_a + bindparam("weight", type_=Float()) * sin_b * sin_b


_BOUND = _distance_bound().label("bound")
# Built once (a statement object keeps its cache key): see ``stock_figures``.
_NEAREST = (
    select(locations.c.code, locations.c.lat, locations.c.lng, channel_locations.c.buffer, _BOUND)
    .join(channel_locations, channel_locations.c.location_code == locations.c.code)
    .where(
        channel_locations.c.channel_code == bindparam("channel", type_=String()),
        locations.c.active.is_(True),
        locations.c.lat.between(bindparam("min_lat"), bindparam("max_lat")),
        locations.c.lng.between(bindparam("min_lng"), bindparam("max_lng")),
    )
    .order_by(_BOUND, locations.c.code)
    .limit(bindparam("count", type_=Integer()))
)
_ROWS = select(locations).where(
    locations.c.code.in_(bindparam("codes", expanding=True, type_=String()))
)
_CHANNEL = select(channels.c.code).where(channels.c.code == bindparam("channel", type_=String()))


def bounding_box(near: GeoPoint, radius_km: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lng, max_lng) enclosing the circle (prefilter in SQL)."""
    dlat = radius_km / KM_PER_DEGREE_LAT
    cos_lat = max(0.01, math.cos(math.radians(near.lat)))
    dlng = min(180.0, radius_km / (KM_PER_DEGREE_LAT * cos_lat))
    return near.lat - dlat, near.lat + dlat, near.lng - dlng, near.lng + dlng


def _weight(near: GeoPoint, min_lat: float, max_lat: float) -> float:
    """A lower bound of ``cos φ0 cos φ`` for every latitude φ of the box (see above)."""
    farthest = min(90.0, max(abs(min_lat), abs(max_lat)))
    product = math.cos(math.radians(near.lat)) * math.cos(math.radians(farthest))
    return max(0.0, product - 1e-12)  # below any rounding of the floats compared


def _opens_today(next_opening: dt.datetime | None, now_local: dt.datetime) -> bool:
    return next_opening is not None and next_opening.date() == now_local.date()


async def _nearest(
    tx: Tx, channel: str, near: GeoPoint, radius_km: float, count: int | None
) -> tuple[list[tuple[float, str, int]], bool]:
    """``(distance_km, code, buffer)`` of the channel's active locations within
    ``radius_km``, nearest first (then by code), and whether that is all of them.

    With a ``count``, about the nearest ``count``: SQL returns the ``count`` smallest
    lower bounds, so every location it leaves out is at least ``reach`` away, and
    only the locations nearer than that are kept. Without, every one in range.
    """
    min_lat, max_lat, min_lng, max_lng = bounding_box(near, radius_km)
    wanted = _EVERY_ROW if count is None else count
    params = {
        "channel": channel,
        "min_lat": min_lat,
        "max_lat": max_lat,
        "min_lng": min_lng,
        "max_lng": max_lng,
        "lat0": near.lat,
        "lng0": near.lng,
        "weight": _weight(near, min_lat, max_lat),
        "count": wanted,
    }
    rows = (await tx.conn.execute(_NEAREST, params)).all()
    reach = math.inf
    if len(rows) == wanted:
        bound = min(1.0, math.sqrt(max(0.0, rows[-1].bound)))
        reach = 2 * EARTH_RADIUS_KM * math.asin(bound) * (1 - _MARGIN)
    # geo.distance_km, inlined with the same operations in the same order (so the same
    # floats): a GeoPoint per row would cost more than the rest of the loop.
    radians, sin, cos = math.radians, math.sin, math.cos
    lat1 = radians(near.lat)
    cos_lat1 = cos(lat1)
    found = []
    for code, lat, lng, buffer, _ in rows:
        lat2 = radians(lat)
        h = (
            sin((lat2 - lat1) / 2) ** 2
            + cos_lat1 * cos(lat2) * sin(radians(lng - near.lng) / 2) ** 2
        )
        distance = 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
        if distance <= radius_km and distance < reach:
            found.append((distance, code, buffer))
    found.sort()
    return found, reach > radius_km


async def _channel_exists(tx: Tx, code: str) -> bool:
    return (await tx.conn.execute(_CHANNEL, {"channel": code})).first() is not None


async def nearby(
    tx: Tx,
    channel: Channel | str,
    skus: Sequence[str],
    near: GeoPoint,
    *,
    radius_km: float,
    limit: int,
    require_all: bool,
) -> list[NearbyLocation]:
    """The ``limit`` best locations of ``channel`` within ``radius_km`` of ``near``.

    Those serving every SKU first, then by distance, then by code; a location with
    none of the SKUs is never an answer (nor, with ``require_all``, one missing any).
    Given a channel code rather than a ``Channel``, raises ``NotFound`` (field
    ``channel``) when there is no such channel.
    """
    code = channel if isinstance(channel, str) else channel.code
    wanted = list(skus)
    answers: list[tuple[bool, float, str, dict[str, int], bool]] = []
    serving_all = read = 0
    count: int | None = limit * FIRST_READ_FACTOR
    while True:
        # Each read returns a longer prefix of the same order: only its new part is new.
        candidates, complete = await _nearest(tx, code, near, radius_km, count)
        fresh, read = candidates[read:], len(candidates)
        figures = await level_figures(tx, wanted, [loc for _, loc, _ in fresh]) if fresh else {}
        for distance, loc, buffer in fresh:
            quantities = {sku: channel_share(figures.get((sku, loc)), buffer) for sku in wanted}
            serves_all = all(quantities.values())
            if (require_all and not serves_all) or not any(quantities.values()):
                continue
            answers.append((not serves_all, distance, loc, quantities, serves_all))
            serving_all += serves_all
        # Once ``limit`` of the nearest serve every SKU, no farther location comes first.
        if complete or serving_all >= limit:
            break
        count = None
    if not read and isinstance(channel, str) and not await _channel_exists(tx, code):
        raise NotFound(f"no channel {code!r}", field="channel")
    answers.sort(key=lambda a: (a[0], a[1], a[2]))
    chosen = answers[:limit]
    if not chosen:
        return []
    full = {
        row.code: row for row in await tx.conn.execute(_ROWS, {"codes": [a[2] for a in chosen]})
    }
    now = tx.now
    result = []
    for _, distance, loc, quantities, serves_all in chosen:
        location = location_from_row(full[loc])
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
