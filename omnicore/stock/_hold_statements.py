"""The statements of ``stock_hold_take``, built once (SQLAlchemy memoizes a statement's
cache key, so executing the same object skips building and hashing the expression)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    Select,
    String,
    Update,
    and_,
    bindparam,
    column,
    exists,
    insert,
    select,
    text,
    true,
)

from omnicore.stock._figures import active_reserved, expired_units
from omnicore.stock._holds import reserve_query
from omnicore.store.tables import (
    channel_locations,
    channels,
    locations,
    stock_holds,
    stock_levels,
    stock_thresholds,
    variants,
)
from omnicore.store.types import UTCDateTime


def _hold_view_query(*, at_location: bool) -> Select[Any]:
    """The channel — a row per link of every channel selling from a candidate location
    (the channel's own locations, or ``v_location``) and per link of the channel itself,
    each with the SKU's figures there; one row with NULL links if there are none; no
    row for an unknown channel — whether the SKU exists, and its low threshold."""
    code = bindparam("v_channel", type_=channels.c.code.type)
    sku = bindparam("v_sku", type_=stock_levels.c.sku.type)
    now = bindparam("v_now", type_=stock_holds.c.expires_at.type)
    own = channel_locations.alias("own")
    candidates = select(own.c.location_code).where(own.c.channel_code == code)
    if at_location:
        location = bindparam("v_location", type_=channel_locations.c.location_code.type)
        candidates = candidates.where(own.c.location_code == location)
    sellers = select(channel_locations.c.channel_code).where(
        channel_locations.c.location_code.in_(candidates)
    )
    links = (
        select(
            channel_locations.c.channel_code,
            channel_locations.c.location_code,
            channel_locations.c.buffer,
            channel_locations.c.priority,
            locations.c.active,
            stock_levels.c.on_hand,
            stock_levels.c.safety_stock,
            active_reserved(now).label("active_reserved"),
        )
        .join(locations, locations.c.code == channel_locations.c.location_code)
        .outerjoin(
            stock_levels,
            and_(
                stock_levels.c.sku == sku,
                stock_levels.c.location_code == channel_locations.c.location_code,
            ),
        )
        .where(
            (channel_locations.c.channel_code == code)
            | channel_locations.c.channel_code.in_(sellers)
        )
        .subquery("links")
    )
    low = select(stock_thresholds.c.low).where(stock_thresholds.c.sku == sku).scalar_subquery()
    known = exists().where(variants.c.sku == sku)
    return (
        select(
            channels.c.hold_ttl_seconds,
            channels.c.max_hold_ttl_seconds,
            known.label("known"),
            low.label("low"),
            links,
        )
        .select_from(channels.outerjoin(links, true()))
        .where(channels.c.code == code)
    )


def _reserve_returning() -> Update:
    """The conditional update, returning the level's new figures and its expired units."""
    now = bindparam("r_now", type_=stock_holds.c.expires_at.type)
    return reserve_query().returning(
        stock_levels.c.on_hand,
        stock_levels.c.safety_stock,
        stock_levels.c.reserved,
        expired_units(now).label("expired"),
    )


HOLD_COLUMNS = ("id", "group_id", "sku", "location_code", "quantity", "channel_code",
                 "kind", "reference", "expires_at", "created_at")


def _take_part_query() -> Select[Any]:
    """PostgreSQL: the conditional update and, if it matched, the hold row — one statement."""
    reserved = _reserve_returning().cte("reserved")
    row = select(
        bindparam("t_id", type_=String),
        bindparam("t_group", type_=String),
        bindparam("r_sku", type_=String),
        bindparam("r_location", type_=String),
        bindparam("r_quantity", type_=Integer),
        bindparam("t_channel", type_=String),
        bindparam("t_kind", type_=String),
        bindparam("t_reference", type_=String),
        bindparam("t_expires_at", type_=UTCDateTime),
        bindparam("r_now", type_=UTCDateTime),
    ).select_from(reserved)
    held = insert(stock_holds).from_select(list(HOLD_COLUMNS), row).cte("held")
    return select(reserved).add_cte(held)


HOLD_VIEW = _hold_view_query(at_location=False)
HOLD_VIEW_AT = _hold_view_query(at_location=True)
RESERVE_RETURNING = _reserve_returning()
TAKE_PART = _take_part_query()
INSERT_HOLD = insert(stock_holds)

# PostgreSQL, a cart hold at a given location in one statement: the channel's link there
# (an active location; the ttl within the channel's maximum), the conditional update, the
# hold row, and what the events need — every channel selling from the location with its
# active locations, the SKU's figures there, its low threshold. No row back: the update
# did not match (unknown channel or SKU, no such link, too few free units, expired holds
# to reclaim …) and nothing was written; ``take_hold`` then takes the general path, which
# says why. All parts of one statement see one snapshot: ``seen`` has the updated level
# as it was before the update, ``reserved`` as the update left it.
HOLD_AT_PG = text(
    """
WITH link AS (
    SELECT channel_locations.buffer, channels.hold_ttl_seconds
    FROM channels
    JOIN channel_locations ON channel_locations.channel_code = channels.code
    JOIN locations ON locations.code = channel_locations.location_code
    WHERE channels.code = :channel AND channel_locations.location_code = :location
      AND locations.active
      AND (:ttl_seconds IS NULL OR :ttl_seconds <= channels.max_hold_ttl_seconds)
), reserved AS (
    UPDATE stock_levels SET reserved = stock_levels.reserved + :quantity
    FROM link
    WHERE stock_levels.sku = :sku AND stock_levels.location_code = :location
      AND stock_levels.on_hand - stock_levels.safety_stock - stock_levels.reserved
          >= :quantity + link.buffer
    RETURNING stock_levels.on_hand, stock_levels.safety_stock, stock_levels.reserved,
        (SELECT coalesce(sum(stock_holds.quantity), 0) FROM stock_holds
         WHERE stock_holds.sku = stock_levels.sku
           AND stock_holds.location_code = stock_levels.location_code
           AND stock_holds.expires_at <= :now) AS expired,
        link.hold_ttl_seconds
), held AS (
    INSERT INTO stock_holds (id, group_id, sku, location_code, quantity, channel_code, kind,
                             reference, expires_at, created_at)
    SELECT :hold_id, :group_id, :sku, :location, :quantity, :channel, 'cart', :reference,
        coalesce(:expires_at, :now + reserved.hold_ttl_seconds * interval '1 second'), :now
    FROM reserved
)
SELECT reserved.on_hand AS level_on_hand, reserved.safety_stock AS level_safety_stock,
    reserved.reserved AS level_reserved, reserved.expired AS level_expired,
    reserved.hold_ttl_seconds, seen.channel_code, seen.location_code, seen.buffer,
    seen.on_hand, seen.safety_stock, seen.active_reserved,
    (SELECT low FROM stock_thresholds WHERE stock_thresholds.sku = :sku) AS low
FROM reserved LEFT JOIN (
    SELECT cl.channel_code, cl.location_code, cl.buffer, sl.on_hand, sl.safety_stock,
        sl.reserved - (SELECT coalesce(sum(h.quantity), 0) FROM stock_holds AS h
                       WHERE h.sku = sl.sku AND h.location_code = sl.location_code
                         AND h.expires_at <= :now) AS active_reserved
    FROM channel_locations AS cl
    JOIN locations AS loc ON loc.code = cl.location_code AND loc.active
    LEFT JOIN stock_levels AS sl ON sl.sku = :sku AND sl.location_code = cl.location_code
    WHERE cl.channel_code IN (
        SELECT channel_code FROM channel_locations WHERE location_code = :location)
) AS seen ON true
"""
).bindparams(
    bindparam("channel", type_=String),
    bindparam("location", type_=String),
    bindparam("sku", type_=String),
    bindparam("quantity", type_=Integer),
    bindparam("ttl_seconds", type_=Float),
    bindparam("now", type_=UTCDateTime),
    bindparam("expires_at", type_=UTCDateTime),
    bindparam("hold_id", type_=String),
    bindparam("group_id", type_=String),
    bindparam("reference", type_=String),
).columns(  # typed and positional: SQLAlchemy then caches the result's metadata
    *(column(name, Integer) for name in (
        "level_on_hand", "level_safety_stock", "level_reserved", "level_expired",
        "hold_ttl_seconds")),
    column("channel_code", String),
    column("location_code", String),
    *(column(name, Integer) for name in (
        "buffer", "on_hand", "safety_stock", "active_reserved", "low")),
)



__all__ = [
    "HOLD_AT_PG",
    "HOLD_COLUMNS",
    "HOLD_VIEW",
    "HOLD_VIEW_AT",
    "INSERT_HOLD",
    "RESERVE_RETURNING",
    "TAKE_PART",
]
