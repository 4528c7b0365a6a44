"""Sourcing: which locations an order's lines are fulfilled from.

Checkout builds a ``SourcingRequest`` — the lines, their delivery groups (ship to
an address, pick up at a store, a relay point) and the candidate locations with
what each may supply (``load_candidates``) — and asks ``choose`` for a
``SourcingPlan``. A plugin may answer through the ``choose_sources`` hook; its
plan is checked (``check_plan``). Otherwise the built-in strategy decides
(``default_plan``, see ``omnicore.sourcing._strategy``): pickup lines from the
chosen store's shelf or by transfer from a warehouse, ship lines from the fewest
locations, then the nearest, then the channel's preferred ones.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import String, bindparam, select, type_coerce

from omnicore.errors import PluginError
from omnicore.network import Capability, GeoPoint, LocationKind
from omnicore.sourcing._models import (
    Assignment,
    Candidate,
    GroupKind,
    SourcingGroup,
    SourcingLine,
    SourcingPlan,
    SourcingRequest,
)
from omnicore.sourcing._strategy import default_plan
from omnicore.stock import Figures, channel_share, level_figures
from omnicore.store.tables import channel_locations, locations

if TYPE_CHECKING:
    from omnicore.commerce import Commerce
    from omnicore.network import Channel
    from omnicore.store.uow import Tx

__all__ = [
    "Assignment",
    "Candidate",
    "GroupKind",
    "SourcingGroup",
    "SourcingLine",
    "SourcingPlan",
    "SourcingRequest",
    "check_plan",
    "choose",
    "default_plan",
    "load_candidates",
]

#: Up to this many locations, stock figures are read with the location codes in the
#: query; beyond, for every location of the SKUs, filtered here (a long ``IN`` list
#: costs more than the extra rows).
CODES_IN_QUERY = 500

# Built once (see stock_figures): the channel's active locations. Capabilities come as
# the column's JSON text, parsed once per distinct value: decoding 2,000 rows' JSON
# costs more than the rest of the query.
_CHANNEL_LOCATIONS = (
    select(
        locations.c.code,
        locations.c.kind,
        locations.c.lat,
        locations.c.lng,
        type_coerce(locations.c.capabilities, String).label("capabilities"),
    )
    .join(channel_locations, channel_locations.c.location_code == locations.c.code)
    .where(
        channel_locations.c.channel_code == bindparam("channel", type_=String()),
        locations.c.active.is_(True),
    )
)


async def choose(commerce: Commerce, request: SourcingRequest) -> SourcingPlan:
    """The plan for ``request``: the first plugin's (``choose_sources``), else the default.

    A plugin's plan is checked with ``check_plan`` (``PluginError`` naming the
    plugin when it is wrong); its ``strategy`` becomes the plugin's name unless
    the plugin set one. Raises ``OutOfStock`` when the default strategy cannot
    source a line.
    """
    answer = await commerce.plugins.choose_sources(commerce=commerce, request=request)
    if answer is None:
        return default_plan(request)
    plugin, plan = answer.plugin, answer.value
    check_plan(request, plan, plugin=plugin)
    return attrs.evolve(
        plan,
        strategy=plugin if plan.strategy == "default" else plan.strategy,
        pickup_groups=frozenset(g.key for g in request.groups if g.kind is GroupKind.PICKUP),
    )


def check_plan(request: SourcingRequest, plan: SourcingPlan, *, plugin: str) -> None:
    """Refuse a plan that does not source ``request`` exactly; ``PluginError`` names ``plugin``.

    Every assignment names a line of the request with its SKU and group, a
    candidate location and a positive quantity; a pickup group's units come from
    its store or travel to it (``transfer_to``), other groups have no transfer;
    every line's quantity is covered exactly; and no (SKU, location) gives more
    than the candidate's ``available``.
    """
    lines = {line.line_id: line for line in request.lines}
    groups = {group.key: group for group in request.groups}
    candidates = {c.location: c for c in request.candidates}
    covered: dict[str, int] = defaultdict(int)
    taken: dict[tuple[str, str], int] = defaultdict(int)
    first: dict[tuple[str, str], int] = {}  # (SKU, location) → its first assignment

    def refuse(message: str, field: str) -> PluginError:
        return PluginError(f"choose_sources: {message}", plugin=plugin, field=field)

    for index, a in enumerate(plan.assignments):
        at = f"assignments[{index}]"
        line = lines.get(a.line_id)
        if line is None:
            raise refuse(f"no line {a.line_id!r} in the request", f"{at}.line_id")
        if a.sku != line.sku:
            raise refuse(f"line {a.line_id} is {line.sku}, not {a.sku}", f"{at}.sku")
        if a.group != line.group:
            raise refuse(f"line {a.line_id} belongs to group {line.group!r}", f"{at}.group")
        if a.location not in candidates:
            raise refuse(f"{a.location!r} is not a candidate location", f"{at}.location")
        if isinstance(a.quantity, bool) or not isinstance(a.quantity, int) or a.quantity <= 0:
            raise refuse(f"quantity {a.quantity!r} is not a positive integer", f"{at}.quantity")
        group = groups[a.group]
        if group.kind is GroupKind.PICKUP:
            store = group.pickup_location
            if a.transfer_to is None and a.location != store:
                raise refuse(f"units for pickup at {store} taken at {a.location} must "
                             f"transfer there", f"{at}.transfer_to")
            if a.transfer_to is not None and a.transfer_to != store:
                raise refuse(f"group {group.key!r} is picked up at {store}, not "
                             f"{a.transfer_to}", f"{at}.transfer_to")
        elif a.transfer_to is not None:
            raise refuse(f"group {group.key!r} ships: no transfer", f"{at}.transfer_to")
        covered[a.line_id] += a.quantity
        taken[(a.sku, a.location)] += a.quantity
        first.setdefault((a.sku, a.location), index)
    for index, line in enumerate(request.lines):
        if covered[line.line_id] != line.quantity:
            raise refuse(f"line {line.line_id} wants {line.quantity} of {line.sku}, the plan "
                         f"gives {covered[line.line_id]}", f"lines[{index}].quantity")
    for (sku, location), units in taken.items():
        available = candidates[location].available.get(sku, 0)
        if units > available:
            raise refuse(f"takes {units} of {sku} at {location}, which has {available}",
                         f"assignments[{first[(sku, location)]}].quantity")


async def load_candidates(
    tx: Tx,
    channel: Channel,
    skus: Sequence[str],
    *,
    add_back: Mapping[tuple[str, str], int] = {},
) -> tuple[Candidate, ...]:
    """The channel's active locations with what each may give of ``skus``, best rank first.

    ``available`` is the channel's share of each level (free units minus the
    channel's buffer, never below zero) after ``add_back[(sku, location)]`` units
    — the order's own cart holds at that level — are added back to the free
    units; SKUs without units are left out. ``rank`` is the location's index in
    ``channel.ordered_locations()``. Two queries: the locations, then the levels
    (``level_figures``, with the location codes up to ``CODES_IN_QUERY`` of them).
    """
    ordered = channel.ordered_locations()
    rank = {link.location: index for index, link in enumerate(ordered)}
    buffers = {link.location: link.buffer for link in ordered}
    rows = (await tx.conn.execute(_CHANNEL_LOCATIONS, {"channel": channel.code})).all()
    rows = [row for row in rows if row[0] in rank]
    if not rows:
        return ()
    wanted = sorted(set(skus))
    codes = [row[0] for row in rows]
    figures = await level_figures(tx, wanted, codes if len(codes) <= CODES_IN_QUERY else None)
    shares: dict[str, dict[str, int]] = {code: {} for code in codes}
    for level_key, level in figures.items():
        into = shares.get(level_key[1])
        if into is None:
            continue  # not an active location of this channel (levels read without codes)
        if add_back and (extra := add_back.get(level_key, 0)):
            level = Figures(level.on_hand, level.safety_stock, level.reserved - extra)
        share = channel_share(level, buffers[level_key[1]])
        if share > 0:
            into[level_key[0]] = share
    asked = set(wanted)
    for (sku, code), extra in add_back.items():  # a hold at a level never read: none yet
        if extra > 0 and code in shares and sku in asked and (sku, code) not in figures:
            share = channel_share(Figures(0, 0, -extra), buffers[code])
            if share > 0:
                shares[code][sku] = share
    capabilities: dict[Any, frozenset[Capability]] = {}
    found = []
    for code, kind, lat, lng, raw in rows:
        key = raw if isinstance(raw, str) else tuple(raw)  # a driver may decode JSON itself
        caps = capabilities.get(key)
        if caps is None:
            values = json.loads(raw) if isinstance(raw, str) else raw
            caps = capabilities[key] = frozenset(Capability(c) for c in values)
        found.append(
            Candidate(code, LocationKind(kind), GeoPoint(lat, lng), rank[code], caps,
                      shares[code])
        )
    found.sort(key=lambda c: c.rank)
    return tuple(found)
