"""Reserving units: the one path every hold takes — carts, checkout, order imports and
``commerce.stock.hold``.

A hold reserves each of its parts with one conditional update of the level,
``reserved += n WHERE free_covers(n + buffer)`` (``_figures.free_covers``, the
no-oversell condition, written once). The database evaluates the condition
under the row lock, so no interleaving of processes reserves a unit twice, on
PostgreSQL (row locks, READ COMMITTED re-check) as on SQLite (one writer at a
time). When it fails, the level's expired holds are reclaimed and the update
runs once more; if it fails again the hold raises ``Contention`` (the caller
plans again in a new transaction). Parts are reserved in (location) order and
callers take SKUs in order, so holds taken in opposite orders cannot deadlock.

``reserve`` picks the statements of the dialect:

- PostgreSQL: each part is one statement — the update and, if it matched, the
  hold row (a CTE). A cart hold at a given location that the caller did not
  plan is one statement in all: the channel's link there (an active location,
  the ttl within the channel's maximum), the update, the hold row and what the
  events need. If it matches nothing it wrote nothing, and the general path
  runs in the same transaction and says why;
- SQLite: each part is an ``UPDATE … RETURNING``, then one ``INSERT`` of the
  hold rows.

A hold that ``reserve`` plans reads what it needs first, in one query
(``read_hold_view``: the channel, whether the SKU exists, every figure and
buffer the plan and the events need) and locks last. Each update returns its
level's new figures, so the events need no re-read (``emit_hold_events``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import (
    Float,
    Integer,
    Interval,
    Select,
    String,
    Update,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,
    update,
)

from omnicore.errors import InvalidInput, NotFound, OutOfStock
from omnicore.stock._figures import (
    Figures,
    StockChanges,
    active_reserved,
    channel_share,
    emit_figures,
    free_covers,
    level_figures,
)
from omnicore.stock._ledger import new_id, reclaim_expired
from omnicore.stock._models import Hold, HoldKind, HoldPart
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

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

__all__ = [
    "Contention",
    "HoldContext",
    "Part",
    "Reservation",
    "Reserved",
    "emit_hold_events",
    "reserve",
]

#: A part of a plan: (location, quantity, the channel's buffer there).
Part = tuple[str, int, int]


class Contention(Exception):
    """A planned level lost its units to a concurrent writer: replan in a new transaction."""


@attrs.frozen
class Reservation:
    """``quantity`` units of ``sku`` to reserve for ``channel``, as one hold.

    ``reserve`` plans it from the channel's active locations by priority, splitting
    across them when needed (at ``location`` only, when given), unless the caller
    planned it already: ``parts`` (see ``allocation``).

    :param kind: a ``cart`` hold expires after ``ttl`` (None: the channel's
        ``hold_ttl``); an ``allocation`` (an order's) does not expire.
    :param reference: what the hold is for (a cart id, an order number).
    """

    channel: str
    sku: str
    quantity: int
    kind: HoldKind = HoldKind.CART
    location: str | None = None
    ttl: dt.timedelta | None = None
    reference: str | None = None
    parts: tuple[Part, ...] | None = None

    def __attrs_post_init__(self) -> None:
        if self.parts is not None:
            if sum(quantity for _, quantity, _ in self.parts) != self.quantity:
                raise ValueError("the parts of a reservation must add up to its quantity")
            if self.kind is HoldKind.CART and self.ttl is None:
                raise ValueError("a planned cart hold needs its ttl")

    @classmethod
    def allocation(
        cls, channel: str, sku: str, parts: Sequence[Part], *, reference: str | None
    ) -> Reservation:
        """An order allocation of ``parts`` planned by the caller (sourcing chose them)."""
        return cls(channel, sku, sum(q for _, q, _ in parts), HoldKind.ALLOCATION,
                   reference=reference, parts=tuple(parts))


@attrs.frozen
class HoldContext:
    """What a hold reads before it locks anything, for its plan and its events.

    ``links``: every channel selling from one of the candidate locations → its
    active locations and their buffers; ``figures``: the SKU's levels there;
    ``threshold``: the SKU's low threshold, if set.
    """

    links: dict[str, dict[str, int]]
    figures: dict[tuple[str, str], Figures]
    threshold: int | None


@attrs.frozen
class HoldTerms:
    """What a hold needs of its channel: durations, and its locations by priority.

    ``locations``: (priority, location, buffer), sorted as ``Channel.ordered_locations``.
    """

    channel: str
    hold_ttl_seconds: int
    max_hold_ttl_seconds: int
    locations: list[tuple[int, str, int]]


@attrs.frozen
class Reserved:
    """A hold just taken, and what its events need.

    ``context``: what ``reserve`` read to plan it (None when the caller planned it);
    ``after``: the figures of the levels it changed, as its updates left them.
    """

    hold: Hold
    context: HoldContext | None
    after: dict[tuple[str, str], Figures]


# -- the statements, built once (SQLAlchemy memoizes a statement's cache key, so executing
#    the same object skips building and hashing the expression) ----------------------------


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


class _Binds:
    """The bound parameters of one reserve statement, each made once: a parameter used
    in several places of a statement is one object, so SQLAlchemy fills it once per
    execution (every copy would cost client CPU on every hold)."""

    def __init__(self) -> None:
        self.sku = bindparam("r_sku", type_=String)
        self.location = bindparam("r_location", type_=String)
        self.quantity = bindparam("r_quantity", type_=Integer)
        self.needed = bindparam("r_needed", type_=Integer)
        self.now = bindparam("r_now", type_=UTCDateTime)
        self.hold_id = bindparam("t_id", type_=String)
        self.group = bindparam("t_group", type_=String)
        self.channel = bindparam("t_channel", type_=String)
        self.kind = bindparam("t_kind", type_=String)
        self.reference = bindparam("t_reference", type_=String)
        self.expires_at = bindparam("t_expires_at", type_=UTCDateTime)
        self.ttl_seconds = bindparam("ttl_seconds", type_=Float)


def _expired_here(b: _Binds, *, postgres: bool) -> Any:
    """The units of the expired holds of the updated level.

    On SQLite, those of the bound SKU and location: its ``RETURNING`` names columns
    without their table, so a subquery correlated to the updated row would read
    ``stock_holds.sku = sku`` and match every SKU's expired holds.
    """
    level = (
        (stock_holds.c.sku == stock_levels.c.sku,
         stock_holds.c.location_code == stock_levels.c.location_code)
        if postgres else (stock_holds.c.sku == b.sku, stock_holds.c.location_code == b.location)
    )
    return (
        select(func.coalesce(func.sum(stock_holds.c.quantity), _ZERO))
        .where(*level, stock_holds.c.expires_at <= b.now)
        .scalar_subquery()
    )


_ZERO = literal_column("0", Integer)


def _reserve_part(b: _Binds, needed: Any, *, postgres: bool) -> Update:
    """The conditional update of the bound level, matching only if its free units cover
    ``needed``; it returns the level's new figures and the units of its expired holds
    (in the statement's snapshot)."""
    return (
        update(stock_levels)
        .where(stock_levels.c.sku == b.sku, stock_levels.c.location_code == b.location,
               free_covers(needed))
        .values(reserved=stock_levels.c.reserved + b.quantity)
        .returning(
            stock_levels.c.on_hand,
            stock_levels.c.safety_stock,
            stock_levels.c.reserved,
            _expired_here(b, postgres=postgres).label("expired"),
        )
    )


HOLD_COLUMNS = ("id", "group_id", "sku", "location_code", "quantity", "channel_code",
                "kind", "reference", "expires_at", "created_at")


def _hold_row(b: _Binds, source: Any, expires_at: Any) -> Select[Any]:
    """The hold row to insert, selected from ``source`` (a CTE of the matched update)."""
    return select(b.hold_id, b.group, b.sku, b.location, b.quantity, b.channel, b.kind,
                  b.reference, expires_at, b.now).select_from(source)


def _reserve_part_pg() -> Select[Any]:
    """PostgreSQL: the conditional update and, if it matched, the hold row — one statement."""
    b = _Binds()
    reserved = _reserve_part(b, b.needed, postgres=True).cte("reserved")
    held = (insert(stock_holds).from_select(list(HOLD_COLUMNS), _hold_row(b, reserved,
                                                                          b.expires_at))
            .cte("held"))
    return select(reserved).add_cte(held)


def _reserve_at_pg() -> Select[Any]:
    """PostgreSQL: a cart hold at a location, unplanned, in one statement.

    The channel's link there (an active location; the ttl, if given, within the
    channel's maximum), the conditional update with that link's buffer, the hold row
    (expiring at ``t_expires_at``, else after the channel's ``hold_ttl``), and what the
    events need: every channel selling from the location with its active locations,
    the SKU's figures there (``seen``: one snapshot, so the updated level as it was
    before the update) and its low threshold. No row back: the update did not match
    (unknown channel or SKU, no such link, too few free units, expired holds to
    reclaim …) and nothing was written.
    """
    b = _Binds()
    link = (
        select(channel_locations.c.buffer, channels.c.hold_ttl_seconds)
        .select_from(channels)
        .join(channel_locations, channel_locations.c.channel_code == channels.c.code)
        .join(locations, locations.c.code == channel_locations.c.location_code)
        .where(
            channels.c.code == b.channel,
            channel_locations.c.location_code == b.location,
            locations.c.active,
            or_(b.ttl_seconds.is_(None), b.ttl_seconds <= channels.c.max_hold_ttl_seconds),
        )
        .cte("link")
    )
    reserved = (
        _reserve_part(b, b.quantity + link.c.buffer, postgres=True)
        .returning(link.c.hold_ttl_seconds)
        .cte("reserved")
    )
    one_second = literal_column("interval '1 second'", type_=Interval)
    expires_at = func.coalesce(
        b.expires_at, b.now + reserved.c.hold_ttl_seconds * one_second, type_=UTCDateTime
    )
    held = (
        insert(stock_holds)
        .from_select(list(HOLD_COLUMNS), _hold_row(b, reserved, expires_at))
        .cte("held")
    )
    sellers = select(channel_locations.c.channel_code).where(
        channel_locations.c.location_code == b.location
    )
    expired = (
        select(func.coalesce(func.sum(stock_holds.c.quantity), _ZERO))
        .where(stock_holds.c.sku == stock_levels.c.sku,
               stock_holds.c.location_code == stock_levels.c.location_code,
               stock_holds.c.expires_at <= b.now)
        .scalar_subquery()
    )
    seen = (
        select(
            channel_locations.c.channel_code,
            channel_locations.c.location_code,
            channel_locations.c.buffer,
            stock_levels.c.on_hand,
            stock_levels.c.safety_stock,
            (stock_levels.c.reserved - expired).label("active_reserved"),
        )
        .join(locations, and_(locations.c.code == channel_locations.c.location_code,
                              locations.c.active))
        .outerjoin(stock_levels, and_(stock_levels.c.sku == b.sku,
                                      stock_levels.c.location_code
                                      == channel_locations.c.location_code))
        .where(channel_locations.c.channel_code.in_(sellers))
        .subquery("seen")
    )
    low = select(stock_thresholds.c.low).where(stock_thresholds.c.sku == b.sku).scalar_subquery()
    return (
        select(
            reserved.c.on_hand.label("level_on_hand"),
            reserved.c.safety_stock.label("level_safety_stock"),
            reserved.c.reserved.label("level_reserved"),
            reserved.c.expired.label("level_expired"),
            reserved.c.hold_ttl_seconds,
            seen.c.channel_code,
            seen.c.location_code,
            seen.c.buffer,
            seen.c.on_hand,
            seen.c.safety_stock,
            seen.c.active_reserved,
            low.label("low"),
        )
        .select_from(reserved.outerjoin(seen, true()))
        .add_cte(held)
    )


HOLD_VIEW = _hold_view_query(at_location=False)
HOLD_VIEW_AT = _hold_view_query(at_location=True)
_PART = _Binds()
RESERVE_PART = _reserve_part(_PART, _PART.needed, postgres=False)
RESERVE_PART_PG = _reserve_part_pg()
RESERVE_AT_PG = _reserve_at_pg()
INSERT_HOLD = insert(stock_holds)


# -- planning ---------------------------------------------------------------------------


async def read_hold_view(
    tx: Tx, channel: str, sku: str, location: str | None
) -> tuple[HoldTerms, HoldContext]:
    """One query for everything a hold checks, plans and reports, before any lock.

    Raises ``NotFound`` for an unknown channel, then for an unknown SKU.
    """
    params: dict[str, Any] = {"v_channel": channel, "v_sku": sku, "v_now": tx.now}
    if location is not None:
        params["v_location"] = location
    query = HOLD_VIEW if location is None else HOLD_VIEW_AT
    rows = (await tx.conn.execute(query, params)).all()
    if not rows:
        raise NotFound(f"no channel {channel!r}", field="channel")
    first = rows[0]
    if not first.known:
        raise NotFound(f"no variant {sku!r}", field="sku")
    own: list[tuple[int, str, int]] = []
    links: dict[str, dict[str, int]] = defaultdict(dict)
    figures: dict[tuple[str, str], Figures] = {}
    for row in rows:
        code, where = row.channel_code, row.location_code
        if code is None:  # a channel without locations
            continue
        if code == channel:
            own.append((row.priority, where, row.buffer))
        if row.active:
            links[code][where] = row.buffer
        if row.on_hand is not None:
            figures[(sku, where)] = Figures(row.on_hand, row.safety_stock, int(row.active_reserved))
    own.sort()
    terms = HoldTerms(channel, first.hold_ttl_seconds, first.max_hold_ttl_seconds, own)
    return terms, HoldContext(links, figures, first.low)


def not_sold(channel: str, location: str) -> InvalidInput:
    """The error of a hold at a location the channel does not sell from."""
    return InvalidInput(f"channel {channel} may not sell from {location!r}", field="location")


def plan_parts(
    terms: HoldTerms, context: HoldContext, sku: str, quantity: int, location: str | None
) -> list[Part]:
    """(location, quantity, buffer) parts: the channel's active locations by priority (or
    ``location`` alone); ``InvalidInput`` for a location the channel does not sell from,
    ``OutOfStock`` (with what is available where) if they cannot cover ``quantity``."""
    if location is None:
        candidates = [(where, buffer) for _, where, buffer in terms.locations]
    else:
        buffers = [buffer for _, where, buffer in terms.locations if where == location]
        if not buffers:
            raise not_sold(terms.channel, location)
        candidates = [(location, buffers[0])]
    active = context.links.get(terms.channel, {})
    plan: list[Part] = []
    missing = quantity
    shares = {}
    for where, buffer in candidates:
        if where not in active:
            continue
        share = channel_share(context.figures.get((sku, where)), buffer)
        shares[where] = share
        if missing and share:
            take = min(share, missing)
            plan.append((where, take, buffer))
            missing -= take
    if missing:
        total = sum(shares.values())
        raise OutOfStock(
            f"only {total} of {sku} available to {terms.channel}, {quantity} requested",
            sku=sku,
            requested=quantity,
            available=total,
            by_location=shares,
        )
    return plan


def _positive(ttl: object) -> bool:
    return isinstance(ttl, dt.timedelta) and ttl.total_seconds() > 0


def check_ttl(ttl: object, *, default_seconds: int, max_seconds: int) -> dt.timedelta:
    """A cart hold's duration: ``ttl`` if positive and at most ``max_seconds`` (the
    channel's maximum), else ``InvalidInput``; None: ``default_seconds`` (its ``hold_ttl``)."""
    if ttl is None:
        return dt.timedelta(seconds=default_seconds)
    if not isinstance(ttl, dt.timedelta) or not _positive(ttl):
        raise InvalidInput("must be a positive duration", field="ttl")
    if ttl.total_seconds() > max_seconds:
        raise InvalidInput(f"above the channel's maximum of {max_seconds} s", field="ttl")
    return ttl


# -- reserving ---------------------------------------------------------------------------


async def reserve(tx: Tx, ask: Reservation, changes: StockChanges) -> Reserved:
    """Reserve ``ask`` in ``tx`` and write its hold: the one way units are reserved.

    Plans it first unless the caller did; errors come in the order channel, SKU
    (``NotFound``), ttl, location (``InvalidInput``), stock (``OutOfStock``), before
    anything is written. ``Contention`` when a planned level lost its units
    meanwhile: run the whole transaction again. Records each level's change of free
    units in ``changes`` for the stock events.
    """
    postgres = tx.conn.dialect.name == "postgresql"
    context: HoldContext | None = None
    if ask.parts is not None:
        parts: Sequence[Part] = ask.parts
        expires_at = None if ask.kind is HoldKind.ALLOCATION else tx.now + _checked(ask.ttl)
    else:
        if (postgres and ask.location is not None and ask.kind is HoldKind.CART
                and (ask.ttl is None or _positive(ask.ttl))):
            done = await _reserve_at(tx, ask, ask.location, changes)
            if done is not None:
                return done
        terms, context = await read_hold_view(tx, ask.channel, ask.sku, ask.location)
        expires_at = None if ask.kind is HoldKind.ALLOCATION else tx.now + check_ttl(
            ask.ttl, default_seconds=terms.hold_ttl_seconds,
            max_seconds=terms.max_hold_ttl_seconds)
        parts = plan_parts(terms, context, ask.sku, ask.quantity, ask.location)
    hold, after = await _reserve_parts(tx, ask, parts, changes, expires_at, postgres=postgres)
    return Reserved(hold, context, after)


def _checked(ttl: dt.timedelta | None) -> dt.timedelta:
    if ttl is None or not _positive(ttl):
        raise InvalidInput("must be a positive duration", field="ttl")
    return ttl


def _figures(row: Any) -> tuple[Figures, bool]:
    """A level's figures from its ``RETURNING`` row, and whether they are exact.

    ``reserved`` is the row as updated, under its lock. The expired units are summed
    in the statement's snapshot: on PostgreSQL a transaction that committed while the
    update waited for the lock may have deleted (swept, released, consumed) some of
    them, so when there are any the level is read again. None in the snapshot, none
    missed: a hold already expired at ``now`` that committed after the snapshot would
    come from a clock behind ours by more than its ttl.
    """
    expired = int(row.expired)
    return Figures(row.on_hand, row.safety_stock, row.reserved - expired), expired == 0


async def _reserve_parts(
    tx: Tx, ask: Reservation, parts: Sequence[Part], changes: StockChanges,
    expires_at: dt.datetime | None, *, postgres: bool,
) -> tuple[Hold, dict[tuple[str, str], Figures]]:
    """Reserve the parts in lock order and write the hold; ``Contention`` if one fails."""
    group = new_id("hold")
    kind = ask.kind
    rows = [
        {"id": f"{group}.{index}", "group_id": group, "sku": ask.sku, "location_code": location,
         "quantity": quantity, "channel_code": ask.channel, "kind": kind.value,
         "reference": ask.reference, "expires_at": expires_at, "created_at": tx.now}
        for index, (location, quantity, _) in enumerate(parts)
    ]
    statement = RESERVE_PART_PG if postgres else RESERVE_PART  # PG: the hold row joins in
    after: dict[tuple[str, str], Figures] = {}
    stale = []
    for index, (location, quantity, buffer) in sorted(enumerate(parts), key=lambda p: p[1]):
        params: dict[str, Any] = {
            "r_sku": ask.sku,
            "r_location": location,
            "r_needed": quantity + buffer,
            "r_quantity": quantity,
            "r_now": tx.now,
        }
        if postgres:
            params.update(t_id=rows[index]["id"], t_group=group, t_channel=ask.channel,
                          t_kind=kind.value, t_reference=ask.reference, t_expires_at=expires_at)
        for attempt in range(2):
            found = (await tx.conn.execute(statement, params)).first()
            if found is not None:
                changes.add(ask.sku, location, -quantity)
                after[(ask.sku, location)], exact = _figures(found)
                if not exact and postgres:  # SQLite: one writer, the snapshot is current
                    stale.append(location)
                break
            if attempt == 0 and not await reclaim_expired(tx, ask.sku, location, changes):
                raise Contention(ask.sku)
        else:
            raise Contention(ask.sku)
    if not postgres:
        await tx.conn.execute(INSERT_HOLD, rows)
    if stale:
        after.update(await level_figures(tx, [ask.sku], sorted(stale)))
    hold = Hold(group, ask.sku, sum(q for _, q, _ in parts), ask.channel, kind,
                [HoldPart(location, q) for location, q, _ in parts], expires_at, ask.reference)
    return hold, after


async def _reserve_at(
    tx: Tx, ask: Reservation, location: str, changes: StockChanges
) -> Reserved | None:
    """PostgreSQL: an unplanned cart hold at ``location`` in one statement
    (``RESERVE_AT_PG``); None when the statement could not (it wrote nothing)."""
    group = new_id("hold")
    expires_at = None if ask.ttl is None else tx.now + ask.ttl
    params = {
        "t_channel": ask.channel,
        "r_location": location,
        "r_sku": ask.sku,
        "r_quantity": ask.quantity,
        "ttl_seconds": None if ask.ttl is None else ask.ttl.total_seconds(),
        "r_now": tx.now,
        "t_expires_at": expires_at,
        "t_id": f"{group}.0",
        "t_group": group,
        "t_kind": HoldKind.CART.value,
        "t_reference": ask.reference,
    }
    rows = (await tx.conn.execute(RESERVE_AT_PG, params)).all()
    if not rows:
        return None
    first = rows[0]
    links: dict[str, dict[str, int]] = defaultdict(dict)
    figures: dict[tuple[str, str], Figures] = {}
    for row in rows:
        if row.channel_code is None:  # (the channel itself always sells from there)
            continue
        links[row.channel_code][row.location_code] = row.buffer
        if row.on_hand is not None:
            figures[(ask.sku, row.location_code)] = Figures(
                row.on_hand, row.safety_stock, int(row.active_reserved)
            )
    changes.add(ask.sku, location, -ask.quantity)
    if first.level_expired:  # see _figures
        after = await level_figures(tx, [ask.sku], [location])
    else:
        level = Figures(first.level_on_hand, first.level_safety_stock, first.level_reserved)
        after = {(ask.sku, location): level}
    if expires_at is None:
        expires_at = tx.now + dt.timedelta(seconds=first.hold_ttl_seconds)
    hold = Hold(group, ask.sku, ask.quantity, ask.channel, HoldKind.CART,
                [HoldPart(location, ask.quantity)], expires_at, ask.reference)
    return Reserved(hold, HoldContext(links, figures, first.low), after)


def emit_hold_events(
    tx: Tx, reserved: Reserved, changes: StockChanges, *, low_default: int
) -> None:
    """``emit_stock_events`` for a hold ``reserve`` planned, from figures already read.

    Every figure comes from the context read before the row locks, except those of
    the levels the hold changed: ``reserved.after`` has them as their update left them.
    """
    context = reserved.context
    if context is None:
        raise ValueError("the caller planned this hold: emit its events with emit_stock_events")
    if not changes.deltas:
        return
    touched = {location for _, location in changes.deltas}
    figures = dict(context.figures)
    figures.update(reserved.after)
    seen = {
        channel: links
        for channel, links in context.links.items()
        if not touched.isdisjoint(links)
    }
    sku = reserved.hold.sku
    thresholds = {} if context.threshold is None else {sku: context.threshold}
    emit_figures(tx, changes, seen, figures, thresholds, low_default=low_default)
