"""A small retail world for the cart tests, and a snapshot of everything a cart call touches.

``seed_minimal`` (warehouse ``wh``, store ``paris-1``, channel ``web``, SKUs
``TEE-M`` with 10 at ``wh`` and ``TEE-L``) plus:

- stores ``paris-2`` and ``lyon-1`` (pickup), ``marais`` (pickup, 3 km from paris-1);
- channel ``app`` (EUR): wh, paris-1, paris-2; channel ``app-stores`` (app, EUR):
  paris-1 and paris-2 only; channel ``uk-web`` (GBP): wh;
- store channels ``pos-paris-1`` (paris-1) and ``pos-paris-2`` (paris-2);
- stock: TEE-M 3 at paris-1 and 2 at paris-2; TEE-L 5 at wh and 1 at paris-1.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from omnicore.store.tables import cart_trail, carts, outbox_events, stock_holds, stock_levels
from omnicore.testing import paris_address, seed_minimal

if TYPE_CHECKING:
    from omnicore.commerce import Commerce

HOURS = {"weekly": {d: [{"open": "10:00", "close": "19:00"}]
                    for d in ("mon", "tue", "wed", "thu", "fri", "sat")}}


def store(code: str, lat: float, lng: float, capabilities: list[str]) -> dict[str, Any]:
    return {
        "code": code, "name": code.replace("-", " ").title(), "kind": "store",
        "address": paris_address(), "geo": {"lat": lat, "lng": lng},
        "timezone": "Europe/Paris", "hours": HOURS, "capabilities": capabilities,
    }


async def build_world(commerce: Commerce) -> None:
    await seed_minimal(commerce)
    await commerce.locations.save(store("paris-2", 48.8420, 2.3200, ["pickup"]))
    await commerce.locations.save(store("marais", 48.8590, 2.3620, ["pickup"]))
    await commerce.locations.save(store("lyon-1", 45.7640, 4.8357, ["pickup"]))
    for code, kind, currency, locations in (
        ("app", "app", "EUR", ["wh", "paris-1", "paris-2"]),
        ("app-stores", "app", "EUR", ["paris-1", "paris-2"]),
        ("uk-web", "web", "GBP", ["wh"]),
        ("pos-paris-1", "store", "EUR", ["paris-1"]),
        ("pos-paris-2", "store", "EUR", ["paris-2"]),
    ):
        await commerce.channels.save({
            "code": code, "name": code, "kind": kind, "currency": currency,
            "locations": [{"location": loc, "priority": i} for i, loc in enumerate(locations)],
        })
    await commerce.stock.receive("TEE-M", "paris-1", 3, source="seed")
    await commerce.stock.receive("TEE-M", "paris-2", 2, source="seed")
    await commerce.stock.receive("TEE-L", "wh", 5, source="seed")
    await commerce.stock.receive("TEE-L", "paris-1", 1, source="seed")


async def events(commerce: Commerce, topic: str | None = None) -> list[dict[str, Any]]:
    """Payloads in the outbox (of ``topic``), oldest first."""
    query = select(outbox_events.c.topic, outbox_events.c.payload).order_by(outbox_events.c.id)
    async with commerce.db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [json.loads(r.payload) for r in rows if topic is None or r.topic == topic]


async def held(commerce: Commerce, sku: str, location: str) -> int:
    """Units reserved at a level (hold rows, active or not yet swept)."""
    async with commerce.db.read() as conn:
        value = (await conn.execute(select(stock_levels.c.reserved).where(
            stock_levels.c.sku == sku, stock_levels.c.location_code == location))).scalar()
    return int(value or 0)


async def snapshot(commerce: Commerce, cart_id: str | None = None) -> dict[str, Any]:
    """Everything a cart call could change, straight from the tables."""
    async with commerce.db.read() as conn:
        cart_rows = sorted(tuple(r) for r in await conn.execute(select(
            carts.c.id, carts.c.channel_code, carts.c.currency, carts.c.customer_id,
            carts.c.status, carts.c.version, carts.c.note, carts.c.discount_codes,
            carts.c.handoff_code, carts.c.handoff_consent, carts.c.updated_at)))
        holds = sorted(tuple(r) for r in await conn.execute(select(
            stock_holds.c.id, stock_holds.c.sku, stock_holds.c.location_code,
            stock_holds.c.quantity, stock_holds.c.expires_at, stock_holds.c.reference)))
        levels = sorted(tuple(r) for r in await conn.execute(select(
            stock_levels.c.sku, stock_levels.c.location_code, stock_levels.c.reserved)))
        trail = (await conn.execute(select(func.count()).select_from(cart_trail))).scalar()
        count = (await conn.execute(select(func.count()).select_from(outbox_events))).scalar()
    lines = None
    if cart_id is not None:
        cart = await commerce.carts.get(cart_id)
        lines = [(line.id, line.sku, line.quantity, line.fulfilment, line.location, line.hold_id)
                 for line in cart.lines]
    return {"carts": cart_rows, "holds": holds, "levels": levels, "trail": trail,
            "events": count, "lines": lines}
