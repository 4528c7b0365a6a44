"""``commerce.stock.hold`` in as few round trips as the invariants allow.

The rules are those of ``stock_holds``: one conditional ``UPDATE`` per level, in
lock order, expired holds reclaimed when it fails. What differs is the traffic:
one query reads everything before any lock (``read_hold_view``: the channel, the
SKU, every figure and buffer the plan and the events need); each ``UPDATE``
returns its level's new figures instead of a re-read and, on PostgreSQL, writes
the hold row in the same statement; on PostgreSQL a hold at a given location is
one statement in all (``hold_at``). With the outbox insert, BEGIN and COMMIT: four
round trips, against three for the bare conditional update. A hot level stays
locked for the outbox insert and the COMMIT only. The events are those of
``emit_stock_events``: changed levels as their update left them, the others as
read before the lock (same transaction, READ COMMITTED; neither locks them).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from omnicore.errors import NotFound
from omnicore.stock._figures import Figures, StockChanges, emit_figures, level_figures
from omnicore.stock._hold_statements import (
    HOLD_AT_PG,
    HOLD_VIEW,
    HOLD_VIEW_AT,
    INSERT_HOLD,
    RESERVE_RETURNING,
    TAKE_PART,
)
from omnicore.stock._holds import (
    Contention,
    HoldContext,
    Part,
    hold_rows,
    not_sold,
    plan_candidates,
)
from omnicore.stock._ledger import new_id, reclaim_expired
from omnicore.stock._models import Hold, HoldKind, HoldPart

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

__all__ = ["HoldTerms", "emit_hold_events", "hold_at", "plan_parts", "read_hold_view", "take"]


@attrs.frozen
class HoldTerms:
    """What a hold needs of its channel: durations, and its locations by priority.

    ``locations``: (priority, location, buffer), sorted as ``Channel.ordered_locations``.
    """

    channel: str
    hold_ttl_seconds: int
    max_hold_ttl_seconds: int
    locations: list[tuple[int, str, int]]


# -- the hold --------------------------------------------------------------------------


async def read_hold_view(
    tx: Tx, channel: str, sku: str, location: str | None
) -> tuple[HoldTerms, HoldContext]:
    """One query for everything a hold checks, plans and reports, before any lock.

    Raises ``NotFound`` for an unknown channel, then for an unknown SKU (as
    ``get_channel`` and ``existing_skus`` would).
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


def plan_parts(
    terms: HoldTerms, context: HoldContext, sku: str, quantity: int, location: str | None
) -> list[Part]:
    """``stock_holds.plan_hold``, from what ``read_hold_view`` read."""
    if location is None:
        candidates = [(where, buffer) for _, where, buffer in terms.locations]
    else:
        buffers = [buffer for _, where, buffer in terms.locations if where == location]
        if not buffers:
            raise not_sold(terms.channel, location)
        candidates = [(location, buffers[0])]
    return plan_candidates(terms.channel, candidates, context, sku, quantity)


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


async def take(
    tx: Tx,
    channel: str,
    sku: str,
    parts: Sequence[Part],
    changes: StockChanges,
    *,
    expires_at: dt.datetime | None,
    reference: str | None,
) -> tuple[Hold, dict[tuple[str, str], Figures]]:
    """Reserve the parts in lock order and write the hold; ``Contention`` if one fails.

    Returns the hold and the figures of the levels it changed, after their update.
    """
    group = new_id("hold")
    kind = HoldKind.CART if expires_at is not None else HoldKind.ALLOCATION
    rows = hold_rows(group, channel, sku, parts, kind, expires_at, reference, tx.now)
    in_update = tx.conn.dialect.name == "postgresql"  # the hold row joins the update
    statement = TAKE_PART if in_update else RESERVE_RETURNING
    after: dict[tuple[str, str], Figures] = {}
    stale = []
    for index, (location, quantity, buffer) in sorted(enumerate(parts), key=lambda p: p[1]):
        params: dict[str, Any] = {
            "r_sku": sku,
            "r_location": location,
            "r_needed": quantity + buffer,
            "r_quantity": quantity,
            "r_now": tx.now,
        }
        if in_update:
            params.update(t_id=rows[index]["id"], t_group=group, t_channel=channel,
                          t_kind=kind.value, t_reference=reference, t_expires_at=expires_at)
        for attempt in range(2):
            found = (await tx.conn.execute(statement, params)).first()
            if found is not None:
                changes.add(sku, location, -quantity)
                after[(sku, location)], exact = _figures(found)
                if not exact and in_update:  # SQLite: one writer, the snapshot is current
                    stale.append(location)
                break
            if attempt == 0 and not await reclaim_expired(tx, sku, location, changes):
                raise Contention(sku)
        else:
            raise Contention(sku)
    if not in_update:
        await tx.conn.execute(INSERT_HOLD, rows)
    if stale:
        after.update(await level_figures(tx, [sku], sorted(stale)))
    parts_held = [HoldPart(location, q) for location, q, _ in parts]
    hold = Hold(group, sku, sum(q for _, q, _ in parts), channel, kind, parts_held,
                expires_at, reference)
    return hold, after


async def hold_at(
    tx: Tx,
    channel: str,
    sku: str,
    quantity: int,
    location: str,
    changes: StockChanges,
    *,
    ttl: dt.timedelta | None,
    reference: str | None,
) -> tuple[Hold, HoldContext, dict[tuple[str, str], Figures]] | None:
    """PostgreSQL: a cart hold at ``location`` in one statement (``HOLD_AT_PG``).

    ``ttl`` is None or positive. Returns the hold, the context of its events and the
    level's figures after the update; None when the statement could not (it wrote
    nothing).
    """
    group = new_id("hold")
    expires_at = None if ttl is None else tx.now + ttl
    params = {
        "channel": channel,
        "location": location,
        "sku": sku,
        "quantity": quantity,
        "ttl_seconds": None if ttl is None else ttl.total_seconds(),
        "now": tx.now,
        "expires_at": expires_at,
        "hold_id": f"{group}.0",
        "group_id": group,
        "reference": reference,
    }
    rows = (await tx.conn.execute(HOLD_AT_PG, params)).all()
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
            figures[(sku, row.location_code)] = Figures(
                row.on_hand, row.safety_stock, int(row.active_reserved)
            )
    changes.add(sku, location, -quantity)
    if first.level_expired:  # see _figures
        after = await level_figures(tx, [sku], [location])
    else:
        level = Figures(first.level_on_hand, first.level_safety_stock, first.level_reserved)
        after = {(sku, location): level}
    if expires_at is None:
        expires_at = tx.now + dt.timedelta(seconds=first.hold_ttl_seconds)
    hold = Hold(group, sku, quantity, channel, HoldKind.CART, [HoldPart(location, quantity)],
                expires_at, reference)
    return hold, HoldContext(links, figures, first.low), after


def emit_hold_events(
    tx: Tx,
    sku: str,
    changes: StockChanges,
    context: HoldContext,
    after: dict[tuple[str, str], Figures],
    *,
    low_default: int,
) -> None:
    """``emit_stock_events`` for a hold, from figures already read.

    Every figure comes from the ``context`` read before the row locks, except those
    of the levels the hold changed: ``after`` has them as their update left them.
    """
    if not changes.deltas:
        return
    touched = {location for _, location in changes.deltas}
    figures = dict(context.figures)
    figures.update(after)
    seen = {
        channel: links
        for channel, links in context.links.items()
        if not touched.isdisjoint(links)
    }
    thresholds = {} if context.threshold is None else {sku: context.threshold}
    emit_figures(tx, changes, seen, figures, thresholds, low_default=low_default)
