"""Abandoned carts: "the product you left is waiting in your store".

An open cart with lines that nobody touched for ``idle`` (``[carts]
abandon_after_minutes``, 60) emits ``cart.abandoned`` once. Each cart is claimed
by a conditional update — ``SET abandoned_at = :now WHERE id = :id AND
abandoned_at IS NULL AND updated_at <= :cutoff`` — in the transaction that
writes the event, so two sweepers (two workers on PostgreSQL) never emit it
twice. Any change to the cart clears ``abandoned_at``: the next idle spell emits
again.

Which stores the event proposes (``stores``):

1. the customer's preferred store, else the pickup store of the cart's first
   pickup line — the *anchor* — followed by the 3 active pickup stores nearest to it;
2. without an anchor (an anonymous cart shipping everything), the cart's
   channel's 3 pickup stores that can serve the most lines.

Each store says how many units of each SKU are free there now (on hand minus
safety stock minus active holds, plus this cart's own active hold there).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, exists, select, update

from omnicore.carts._models import Cart, CartStatus, Fulfilment
from omnicore.carts._state import cart_payload, hold_states, load_cart
from omnicore.customers import resolve
from omnicore.errors import NotFound
from omnicore.network import Capability, Location, distance_km, get_channel, location_from_row
from omnicore.stock import level_figures
from omnicore.store.tables import cart_lines, carts, locations

if TYPE_CHECKING:
    from omnicore.store.uow import Tx, UnitOfWork

NEARBY_STORES = 3


def _idle(cutoff: dt.datetime) -> list[ColumnElement[bool]]:
    return [
        carts.c.status == CartStatus.OPEN.value,
        carts.c.abandoned_at.is_(None),
        carts.c.updated_at <= cutoff,
    ]


async def idle_carts(tx: Tx, cutoff: dt.datetime, limit: int) -> list[str]:
    """Open carts with lines, untouched since ``cutoff`` and not yet reported (oldest first)."""
    rows = await tx.conn.execute(
        select(carts.c.id)
        .where(*_idle(cutoff), exists().where(cart_lines.c.cart_id == carts.c.id))
        .order_by(carts.c.updated_at, carts.c.id)
        .limit(limit)
    )
    return list(rows.scalars())


async def claim_abandoned(tx: Tx, idle: dt.timedelta, limit: int) -> tuple[list[str], int]:
    """Mark up to ``limit`` idle carts abandoned (in id order).

    Returns the ids this transaction won and how many candidates it saw. Another
    sweeper may have seen the same candidates: the condition, re-checked under the
    row lock, lets only one of them claim each cart.
    """
    cutoff = tx.now - idle
    candidates = await idle_carts(tx, cutoff, limit)
    won = []
    for cart_id in sorted(candidates):  # one lock order for every sweeper
        result = await tx.conn.execute(
            update(carts).where(carts.c.id == cart_id, *_idle(cutoff)).values(abandoned_at=tx.now)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            won.append(cart_id)
    return won, len(candidates)


async def abandoned_payload(tx: Tx, cart_id: str) -> dict[str, Any]:
    row = (await tx.conn.execute(select(carts).where(carts.c.id == cart_id))).one()
    cart = await load_cart(tx, row)
    stores = await _stores(tx, cart)
    return cart_payload(
        cart, last_activity_at=cart.updated_at.isoformat(), stores=stores
    )


async def _preferred_store(tx: Tx, customer_id: str | None) -> str | None:
    if customer_id is None:
        return None
    try:
        customer = await resolve(tx, customer_id)
    except NotFound:  # erased since
        return None
    return customer.preferred_store  # type: ignore[no-any-return]


async def _stores(tx: Tx, cart: Cart) -> list[dict[str, Any]]:
    rows = (await tx.conn.execute(select(locations).where(locations.c.active.is_(True)))).all()
    active = {r.code: location_from_row(r) for r in rows}
    pickup = {code: loc for code, loc in active.items() if loc.can(Capability.PICKUP)}
    anchor, why = await _preferred_store(tx, cart.customer_id), "preferred_store"
    if anchor not in active:
        pickups = [line.location for line in cart.lines if line.fulfilment is Fulfilment.PICKUP]
        anchor, why = next((code for code in pickups if code in active), None), "pickup_location"
    skus = sorted({line.sku for line in cart.lines})
    if anchor is not None:
        here = active[anchor].geo
        others = sorted(
            (distance_km(here, loc.geo), code) for code, loc in pickup.items() if code != anchor
        )[:NEARBY_STORES]
        chosen: list[tuple[Location, str, float | None]] = [(active[anchor], why, 0.0)]
        chosen += [(pickup[code], "nearby", round(km, 3)) for km, code in others]
        figures = await _free(tx, cart, skus, [c[0].code for c in chosen])
    else:
        channel = await get_channel(tx, cart.channel)
        codes = [link.location for link in channel.ordered_locations() if link.location in pickup]
        figures = await _free(tx, cart, skus, codes)

        def served(code: str) -> tuple[int, int]:
            lines = sum(figures[(line.sku, code)] >= line.quantity for line in cart.lines)
            return (-lines, -sum(figures[(sku, code)] for sku in skus))

        best = sorted(codes, key=lambda code: (*served(code), codes.index(code)))
        chosen = [(pickup[code], "channel_store", None) for code in best[:NEARBY_STORES]]
    return [_store_payload(cart, loc, why, km, figures) for loc, why, km in chosen]


async def _free(
    tx: Tx, cart: Cart, skus: list[str], codes: list[str]
) -> dict[tuple[str, str], int]:
    found = await level_figures(tx, skus, codes)
    own = await hold_states(tx, [line.hold_id for line in cart.lines])
    free = {(sku, code): max(0, found[(sku, code)].free) if (sku, code) in found else 0
            for sku in skus for code in codes}
    for line in cart.lines:
        state = own.get(line.hold_id) if line.hold_id else None
        for code, quantity in (state.active_parts.items() if state else ()):
            if (line.sku, code) in free:
                free[(line.sku, code)] += quantity
    return free


def _store_payload(
    cart: Cart, location: Location, why: str, km: float | None,
    free: dict[tuple[str, str], int],
) -> dict[str, Any]:
    available = {line.sku: free.get((line.sku, location.code), 0) for line in cart.lines}
    wanted: dict[str, int] = {}
    for line in cart.lines:
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    return {
        "location": location.code,
        "name": location.name,
        "why": why,
        "distance_km": km,
        "pickup": location.can(Capability.PICKUP),
        "available": available,
        "has_everything": all(available[sku] >= n for sku, n in wanted.items()),
    }


async def sweep(uow: UnitOfWork, idle: dt.timedelta, limit: int) -> int:
    """Emit ``cart.abandoned`` once per open cart with lines untouched for ``idle``, up to
    ``limit`` carts per transaction until none is left; returns how many were emitted."""
    emitted = 0
    while True:
        async with uow() as tx:
            won, seen = await claim_abandoned(tx, idle, limit)
            for found in won:
                tx.emit("cart.abandoned", await abandoned_payload(tx, found))
        emitted += len(won)
        if seen < limit:
            return emitted
