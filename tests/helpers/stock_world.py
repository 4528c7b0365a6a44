"""A small retail world for the stock tests, and readers that look straight at the tables.

Imported by the tests as ``helpers.stock_world`` and by the race workers (run as
scripts from this folder) as ``stock_world``: keep it free of pytest.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from omnicore.store.tables import (
    outbox_events,
    stock_holds,
    stock_levels,
    stock_movements,
    stock_transfers,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from omnicore.commerce import Commerce

WEEKDAYS_10_19 = {
    "weekly": {
        d: [{"open": "10:00", "close": "19:00"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat")
    }
}
SKUS = ("TEE-M", "TEE-L", "CAP")


def address(line1: str = "1 rue de Rivoli", city: str = "Paris", postal_code: str = "75001",
            country: str = "FR") -> dict[str, Any]:
    return {"line1": line1, "city": city, "postal_code": postal_code, "country": country}


def location(code: str, kind: str, lat: float, lng: float, **extra: Any) -> dict[str, Any]:
    return {
        "code": code, "name": code.replace("-", " ").title(), "kind": kind, "address": address(),
        "geo": {"lat": lat, "lng": lng}, "timezone": "Europe/Paris", **extra,
    }


async def build_world(commerce: Commerce, *, skus: tuple[str, ...] = SKUS) -> None:
    """Warehouse ``wh`` and stores ``paris-1`` / ``paris-2``; channels:

    - ``web``: wh (priority 0), paris-1 (priority 1), no buffer;
    - ``amazon``: wh only, buffer 2;
    - ``pos-paris-1``: the till of paris-1, its own shelf only (max hold 1 h).
    """
    await commerce.locations.save(location("wh", "warehouse", 48.93, 2.36, capabilities=["ship"],
                                           priority=10))
    await commerce.locations.save(location("paris-1", "store", 48.8606, 2.3376,
                                           hours=WEEKDAYS_10_19,
                                           capabilities=["pickup", "ship_from_store"]))
    await commerce.locations.save(location("paris-2", "store", 48.8420, 2.3200,
                                           hours=WEEKDAYS_10_19, capabilities=["pickup"]))
    await commerce.channels.save({
        "code": "web", "name": "Web shop", "kind": "web", "currency": "EUR",
        "locations": [{"location": "wh", "priority": 0}, {"location": "paris-1", "priority": 1}],
    })
    await commerce.channels.save({
        "code": "amazon", "name": "Amazon FR", "kind": "marketplace", "currency": "EUR",
        "locations": [{"location": "wh", "buffer": 2}],
    })
    await commerce.channels.save({
        "code": "pos-paris-1", "name": "Paris Rivoli till", "kind": "store", "currency": "EUR",
        "locations": [{"location": "paris-1"}], "hold_ttl_seconds": 600,
        "max_hold_ttl_seconds": 3600,
    })
    await commerce.catalog.save_product({
        "handle": "basics", "title": "Basics", "variants": [{"sku": s} for s in skus],
    })


async def snapshot(commerce: Commerce) -> dict[str, Any]:
    """Everything a stock call could touch, straight from the tables."""
    async with commerce.db.read() as conn:
        def rows(query: Any) -> Any:
            return conn.execute(query)

        levels = sorted(tuple(r) for r in await rows(select(
            stock_levels.c.sku, stock_levels.c.location_code, stock_levels.c.on_hand,
            stock_levels.c.safety_stock, stock_levels.c.reserved)))
        holds = sorted(tuple(r) for r in await rows(select(
            stock_holds.c.id, stock_holds.c.quantity, stock_holds.c.kind,
            stock_holds.c.expires_at, stock_holds.c.reference)))
        transfers = sorted(tuple(r) for r in await rows(select(
            stock_transfers.c.id, stock_transfers.c.status, stock_transfers.c.quantity)))
        movements = (await rows(select(func.count()).select_from(stock_movements))).scalar()
        events = (await rows(select(func.count()).select_from(outbox_events))).scalar()
    return {"levels": levels, "holds": holds, "transfers": transfers,
            "movements": movements, "events": events}


async def invariant_violations(conn: AsyncConnection, now: dt.datetime) -> list[str]:
    """DESIGN §4 checked from the tables, for every level:

    ``Σ active holds ≤ max(0, on_hand - safety_stock)``, ``reserved == Σ hold rows``,
    ``on_hand == Σ ledger deltas``, ``on_hand ≥ 0``, no hold row of quantity ≤ 0.
    """
    levels = {
        (r.sku, r.location_code): r
        for r in await conn.execute(select(stock_levels))
    }
    all_held: dict[tuple[str, str], int] = defaultdict(int)
    active: dict[tuple[str, str], int] = defaultdict(int)
    problems = []
    for h in await conn.execute(select(stock_holds)):
        key = (h.sku, h.location_code)
        if h.quantity <= 0:
            problems.append(f"hold {h.id} has quantity {h.quantity}")
        all_held[key] += h.quantity
        if h.expires_at is None or h.expires_at > now:
            active[key] += h.quantity
    ledger = {
        (r.sku, r.location_code): int(r.total)
        for r in await conn.execute(
            select(stock_movements.c.sku, stock_movements.c.location_code,
                   func.sum(stock_movements.c.delta).label("total"))
            .group_by(stock_movements.c.sku, stock_movements.c.location_code)
        )
    }
    for key in sorted(set(levels) | set(all_held) | set(ledger)):
        level = levels.get(key)
        on_hand = level.on_hand if level else 0
        safety = level.safety_stock if level else 0
        reserved = level.reserved if level else 0
        if active[key] > max(0, on_hand - safety):
            problems.append(f"{key}: {active[key]} actively held > {on_hand} - {safety}")
        if reserved != all_held[key]:
            problems.append(f"{key}: reserved {reserved} != Σ hold rows {all_held[key]}")
        if on_hand != ledger.get(key, 0):
            problems.append(f"{key}: on_hand {on_hand} != Σ ledger {ledger.get(key, 0)}")
        if on_hand < 0:
            problems.append(f"{key}: on_hand {on_hand} < 0")
    return problems


async def held_units(conn: AsyncConnection, sku: str) -> int:
    total = (await conn.execute(
        select(func.coalesce(func.sum(stock_holds.c.quantity), 0)).where(stock_holds.c.sku == sku)
    )).scalar()
    return int(total or 0)
