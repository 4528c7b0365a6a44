"""Reading and claiming cart rows: the optimistic-concurrency core of ``commerce.carts``.

Every change first *claims* the cart with one conditional update::

    UPDATE carts SET version = version + 1, updated_at = :now, abandoned_at = NULL
     WHERE id = :id AND status = 'open' AND version = :version

The database evaluates the condition under the row lock (PostgreSQL re-checks
it after waiting for a concurrent writer; SQLite has one writer at a time), so
of two changes made from the same version exactly one matches; the other finds
no row and raises ``Conflict(field="version")`` before it has written anything.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import insert, select, update

from omnicore.carts._models import (
    Cart,
    CartLine,
    CartStatus,
    Fulfilment,
    TrailAction,
    TrailEntry,
)
from omnicore.customers import resolve
from omnicore.delivery import DeliveryGroup
from omnicore.errors import Conflict, InvalidInput, NotFound
from omnicore.network import Channel, get_channel
from omnicore.serialization import structure
from omnicore.stock import channel_share, level_figures
from omnicore.store.tables import cart_lines, cart_trail, carts, stock_holds

if TYPE_CHECKING:
    import datetime as dt

    from omnicore.store.uow import Tx

MAX_MERGE_CHAIN = 20


def new_cart_id() -> str:
    return f"cart_{secrets.token_urlsafe(24)}"


def new_line_id() -> str:
    return f"line_{secrets.token_hex(10)}"


def check_version(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput("must be the cart version you read (an integer ≥ 1)", field="version")
    return version


def check_actor(actor: object, field: str = "actor") -> str | None:
    if actor is None:
        return None
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 100:
        raise InvalidInput("must be 1 to 100 characters", field=field)
    return actor


async def cart_row(tx: Tx, cart_id: object, *, lock: bool = False) -> Any:
    """The row of ``cart_id``, or ``NotFound``."""
    if not isinstance(cart_id, str) or not cart_id:
        raise NotFound("no such cart", field="cart_id")
    query = select(carts).where(carts.c.id == cart_id)
    if lock:
        query = query.with_for_update()
    row = (await tx.conn.execute(query)).first()
    if row is None:
        raise NotFound("no such cart", field="cart_id")
    return row


def _not_open(row: Any) -> Conflict:
    if row.status == CartStatus.MERGED:
        return Conflict(
            "the cart was merged into the customer's cart on sign-in: read it with get",
            field="cart_id",
        )
    return Conflict(f"the cart is {row.status} and can no longer change", field="cart_id")


async def claim(tx: Tx, cart_id: object, version: int | None) -> Any:
    """Bump the version of an open cart read at ``version`` (any version when None).

    Returns the updated row. ``Conflict`` (``version``)
    when another change came first, ``Conflict`` (``cart_id``) when the cart is
    merged or completed, ``NotFound`` when there is no such cart.
    """
    if not isinstance(cart_id, str) or not cart_id:
        raise NotFound("no such cart", field="cart_id")
    conditions = [carts.c.id == cart_id, carts.c.status == CartStatus.OPEN.value]
    if version is not None:
        conditions.append(carts.c.version == version)
    result = await tx.conn.execute(
        update(carts)
        .where(*conditions)
        .values(version=carts.c.version + 1, updated_at=tx.now, abandoned_at=None)
    )
    row = await cart_row(tx, cart_id)
    if not result.rowcount:  # type: ignore[attr-defined]
        if row.status != CartStatus.OPEN:
            raise _not_open(row)
        raise Conflict(
            f"the cart changed since you read it (it is at version {row.version}, not "
            f"{version}): read it again and redo your change",
            field="version",
        )
    return row


async def lock_open(tx: Tx, cart_id: object) -> Any:
    """Lock an open cart's row without changing it (a refresh)."""
    row = await cart_row(tx, cart_id, lock=True)
    if row.status != CartStatus.OPEN:
        raise _not_open(row)
    return row


async def resolve_merged(tx: Tx, cart_id: object) -> Any:
    """The row of ``cart_id``, following merges to the surviving cart."""
    row = await cart_row(tx, cart_id)
    for _ in range(MAX_MERGE_CHAIN):
        if row.status != CartStatus.MERGED or row.merged_into is None:
            return row
        row = await cart_row(tx, row.merged_into)
    raise Conflict("the merges of this cart form a chain too long to follow", field="cart_id")


async def open_cart_of(tx: Tx, customer_id: str, *, other_than: str | None = None) -> Any:
    """The customer's most recently touched open cart, or None."""
    query = (
        select(carts)
        .where(carts.c.customer_id == customer_id, carts.c.status == CartStatus.OPEN.value)
        .order_by(carts.c.updated_at.desc(), carts.c.id)
        .limit(1)
    )
    if other_than is not None:
        query = query.where(carts.c.id != other_than)
    return (await tx.conn.execute(query)).first()


async def create_cart(tx: Tx, channel: object, currency: str | None, customer_id: str | None,
                      actor: str | None) -> Cart:
    """``carts.create``: a new open cart at version 1 (``Conflict`` when the customer has
    an open cart already); emits ``cart.created``."""
    chosen = await channel_for(tx, channel)
    if currency is not None and currency != chosen.currency:
        raise InvalidInput(f"channel {chosen.code} sells in {chosen.currency}", field="currency")
    owner = None
    if customer_id is not None:
        owner = (await resolve(tx, customer_id, lock=True)).id
        if await open_cart_of(tx, owner) is not None:
            raise Conflict("the customer has an open cart: continue it (open_cart_for)",
                           field="customer_id")
    cart_id = new_cart_id()
    await tx.conn.execute(insert(carts).values(
        id=cart_id, channel_code=chosen.code, currency=chosen.currency,
        customer_id=owner, status=CartStatus.OPEN.value, version=1, note=None,
        attributes={}, discount_codes=[], handoff_consent=False, created_at=tx.now,
        updated_at=tx.now,
    ))
    await add_trail(tx, cart_id, chosen.code, TrailAction.CREATED, actor)
    cart = await reload(tx, cart_id)
    tx.emit("cart.created", cart_payload(cart, actor=actor))
    return cart


async def line_rows(tx: Tx, cart_id: str) -> list[Any]:
    rows = await tx.conn.execute(
        select(cart_lines)
        .where(cart_lines.c.cart_id == cart_id)
        .order_by(cart_lines.c.position, cart_lines.c.id)
    )
    return list(rows.all())


async def add_trail(
    tx: Tx, cart_id: str, channel: str, action: TrailAction, actor: str | None
) -> None:
    """Record a step of the cart's journey (``Cart.trail``)."""
    await tx.conn.execute(
        insert(cart_trail).values(
            cart_id=cart_id, channel_code=channel, action=action.value, actor=actor, at=tx.now
        )
    )


@attrs.frozen
class HoldState:
    """What is left of a hold: its units per location, and those still active."""

    total: int
    active: int
    expires_at: dt.datetime | None
    active_parts: dict[str, int]
    locations: frozenset[str]


async def hold_states(tx: Tx, hold_ids: Iterable[str | None]) -> dict[str, HoldState]:
    wanted = sorted({h for h in hold_ids if h})
    if not wanted:
        return {}
    rows = (
        await tx.conn.execute(select(stock_holds).where(stock_holds.c.group_id.in_(wanted)))
    ).all()
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.group_id, []).append(row)
    states = {}
    for hold_id, parts in grouped.items():
        active: dict[str, int] = {}
        for part in parts:
            if part.expires_at is None or part.expires_at > tx.now:
                active[part.location_code] = active.get(part.location_code, 0) + part.quantity
        states[hold_id] = HoldState(
            total=sum(p.quantity for p in parts),
            active=sum(active.values()),
            expires_at=parts[0].expires_at,
            active_parts=active,
            locations=frozenset(p.location_code for p in parts),
        )
    return states


def is_held(row: Any, state: HoldState | None) -> bool:
    return state is not None and state.active == state.total == row.quantity


def relevant_locations(row: Any, channel: Channel) -> list[str]:
    if row.pickup_location:
        return [row.pickup_location]
    return [link.location for link in channel.ordered_locations()]


async def build_lines(tx: Tx, rows: Sequence[Any], channel: Channel) -> list[CartLine]:
    """Cart lines with their hold state and what the channel could supply of each."""
    states = await hold_states(tx, [r.hold_id for r in rows])
    buffers = {link.location: link.buffer for link in channel.locations}
    locations = {loc for r in rows for loc in relevant_locations(r, channel)}
    figures = await level_figures(tx, sorted({r.sku for r in rows}), sorted(locations))
    lines = []
    for row in rows:
        state = states.get(row.hold_id) if row.hold_id else None
        here = relevant_locations(row, channel)
        free = sum(channel_share(figures.get((row.sku, loc)), buffers.get(loc, 0)) for loc in here)
        own = sum(q for loc, q in state.active_parts.items() if loc in here) if state else 0
        held = is_held(row, state)
        lines.append(
            CartLine(
                id=row.id,
                sku=row.sku,
                quantity=row.quantity,
                fulfilment=Fulfilment(row.fulfilment),
                location=row.pickup_location,
                hold_id=row.hold_id if state is not None else None,
                hold_expires_at=state.expires_at if state is not None else None,
                held=held,
                available=held or free + own >= row.quantity,
                available_quantity=free + own,
                added_at=row.added_at,
            )
        )
    return lines


async def load_cart(tx: Tx, row: Any, *, channel: Channel | None = None) -> Cart:
    """The cart of ``row``; ``channel``: its channel when the caller read it already."""
    if channel is None or channel.code != row.channel_code:
        channel = await get_channel(tx, row.channel_code)
    lines = await build_lines(tx, await line_rows(tx, row.id), channel)
    trail = await tx.conn.execute(
        select(cart_trail).where(cart_trail.c.cart_id == row.id).order_by(cart_trail.c.id)
    )
    consent_live = bool(
        row.handoff_consent
        and row.handoff_expires_at is not None
        and row.handoff_expires_at > tx.now
    )
    return Cart(
        id=row.id,
        channel=row.channel_code,
        currency=row.currency,
        customer_id=row.customer_id,
        status=CartStatus(row.status),
        version=row.version,
        lines=lines,
        note=row.note,
        attributes=dict(row.attributes or {}),
        discount_codes=list(row.discount_codes or []),
        trail=[TrailEntry(t.channel_code, TrailAction(t.action), t.actor, t.at) for t in trail],
        created_at=row.created_at,
        updated_at=row.updated_at,
        merged_into=row.merged_into,
        handoff_allowed=consent_live,
        handoff_expires_at=row.handoff_expires_at if consent_live else None,
        abandoned_at=row.abandoned_at,
        delivery=groups_of(row.delivery),
    )


def groups_of(raw: object) -> list[DeliveryGroup]:
    """The groups stored on a cart row (``carts.delivery``)."""
    if not isinstance(raw, list) or not raw:
        return []
    return [structure(item, DeliveryGroup, field="delivery") for item in raw]


async def reload(tx: Tx, cart_id: str, *, channel: Channel | None = None) -> Cart:
    return await load_cart(tx, await cart_row(tx, cart_id), channel=channel)


async def channel_for(tx: Tx, code: object, *, field: str = "channel") -> Channel:
    if not isinstance(code, str) or not code:
        raise InvalidInput("must be a channel code", field=field)
    channel = await get_channel(tx, code, field=field)
    if not channel.active:
        raise InvalidInput(f"channel {code} is not active", field=field)
    return channel


def line_payload(line: CartLine) -> dict[str, Any]:
    return {
        "line_id": line.id,
        "sku": line.sku,
        "quantity": line.quantity,
        "fulfilment": line.fulfilment.value,
        "location": line.location,
        "held": line.held,
        "available": line.available,
    }


def cart_payload(cart: Cart, **extra: Any) -> dict[str, Any]:
    """What cart events carry (never the discount codes nor a hand-off code)."""
    return {
        "cart_id": cart.id,
        "version": cart.version,
        "channel": cart.channel,
        "currency": cart.currency,
        "customer_id": cart.customer_id,
        "lines": [line_payload(line) for line in cart.lines],
        **extra,
    }
