"""The built-in sourcing strategy: ``default_plan`` (re-exported by ``omnicore.sourcing``).

Groups are sourced one after the other, pickup groups first (they are tied to
one store's shelf, and only warehouses can top them up), then ship and relay
groups in the request's order; the units one group takes are gone for the next
group and for the next line of the same SKU.

- **Pickup**: each line takes what the store's shelf has; the units it lacks
  travel from a candidate with the ``ship`` capability — the nearest to the
  store that has them all, else the nearest ones in turn — with
  ``transfer_to=<store>`` and ``eta = now + transfer_lead``.
- **Ship / relay**: the fewest locations with ``ship`` or ``ship_from_store``,
  then the shortest total distance to the destination, then the best ranks,
  then the codes (``omnicore.sourcing._search``). A line comes whole from the
  nearest chosen location that has it, and splits only when none has it all.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from omnicore.errors import OutOfStock
from omnicore.sourcing._models import (
    Assignment,
    GroupKind,
    SourcingGroup,
    SourcingLine,
    SourcingPlan,
    SourcingRequest,
)
from omnicore.sourcing._search import Cover, Distances, Stock, fill

__all__ = ["default_plan"]

Lines = list[tuple[int, SourcingLine]]  # (index in request.lines, line)


def default_plan(request: SourcingRequest) -> SourcingPlan:
    """Source every line of ``request`` with the built-in strategy (see the module's doc).

    The plan's ``explanation`` has one sentence per decision. Raises ``OutOfStock``
    (``sku``, ``requested``, ``available``; ``field`` = ``lines[i].quantity``) when
    the candidates cannot supply a pickup line or a group's demand of a SKU.
    """
    stock = Stock(request)
    assignments: list[Assignment] = []
    explanation: list[str] = []
    lines_of: dict[str, Lines] = defaultdict(list)
    for index, line in enumerate(request.lines):
        lines_of[line.group].append((index, line))
    for group in sorted(request.groups, key=lambda g: g.kind is not GroupKind.PICKUP):
        lines = lines_of.get(group.key)
        if not lines:
            continue
        if group.kind is GroupKind.PICKUP:
            done, said = _pickup(request, stock, group, lines)
        else:
            done, said = _shipping(stock, group, lines)
        assignments += done
        explanation += said
    return SourcingPlan(
        assignments,
        explanation,
        pickup_groups=frozenset(g.key for g in request.groups if g.kind is GroupKind.PICKUP),
    )


def _pickup(
    request: SourcingRequest, stock: Stock, group: SourcingGroup, lines: Lines
) -> tuple[list[Assignment], list[str]]:
    store = group.pickup_location
    assert store is not None  # SourcingRequest checks it
    at = stock.index.get(store)
    point = stock.candidates[at].geo if at is not None else group.destination
    distances = Distances(stock, point)
    eta = request.now + request.transfer_lead
    done: list[Assignment] = []
    said: list[str] = []
    for index, line in lines:
        shelf = 0
        if at is not None:
            shelf = min(line.quantity, stock.left(at, line.sku))
            if shelf > 0:
                stock.take(at, line.sku, shelf)
                done.append(Assignment(line.line_id, line.sku, group.key, store, shelf))
        missing = line.quantity - shelf
        if not missing:
            said.append(f"line {_line(line)} is on the shelf at {store} (group {group.key!r})")
            continue
        transfers = stock.transfers
        sources = distances.ordered(
            i for i, count in stock.units[line.sku].items()
            if count > 0 and transfers[i] and i != at
        )
        supply = sum(stock.left(i, line.sku) for i in sources)
        if supply < missing:
            raise OutOfStock(
                f"only {shelf + supply} of {line.sku} can be ready at {store}, "
                f"{line.quantity} requested",
                field=f"lines[{index}].quantity",
                sku=line.sku,
                requested=line.quantity,
                available=shelf + supply,
                by_location={store: shelf} | {stock.code(i): stock.left(i, line.sku)
                                              for i in sources},
            )
        parts = fill(stock, sources, line.sku, missing)
        for i, units in parts:
            stock.take(i, line.sku, units)
            done.append(Assignment(line.line_id, line.sku, group.key, stock.code(i), units,
                                   transfer_to=store, eta=eta))
        origin = stock.code(parts[0][0])
        if len(parts) > 1:
            origin = " and ".join(f"{units} from {stock.code(i)}" for i, units in parts)
        ready = f"ready {_when(eta)}"
        if shelf:
            said.append(f"line {_line(line)}: {shelf} on the shelf at {store}, {missing} "
                        f"transfer from {origin} to {store}, {ready}")
        else:
            said.append(f"line {_line(line)} transfers from {origin} to {store}, {ready}")
    return done, said


def _shipping(
    stock: Stock, group: SourcingGroup, lines: Lines
) -> tuple[list[Assignment], list[str]]:
    cover = Cover(stock, group, lines)
    chosen, how = cover.choose()
    done: list[Assignment] = []
    splits: list[str] = []
    used: dict[int, list[str]] = {i: [] for i in chosen}
    for _, line in lines:
        parts = fill(stock, chosen, line.sku, line.quantity)
        for i, units in parts:
            stock.take(i, line.sku, units)
            done.append(Assignment(line.line_id, line.sku, group.key, stock.code(i), units))
            used[i].append(line.line_id)
        if len(parts) > 1:
            split = ", ".join(f"{units} from {stock.code(i)}" for i, units in parts)
            splits.append(f"line {_line(line)} splits: {split} (no location can ship "
                          f"{line.quantity} on its own)")
    said = [_ship_sentence(cover, group, len(lines), {i: ids for i, ids in used.items() if ids})]
    said += splits
    if how == "greedy":
        said.append(f"group {group.key!r}: too many combinations to search them all "
                    f"({cover.visits:,} tried): these locations were picked greedily, and "
                    "fewer shipments may exist")
    elif how == "budget":
        said.append(f"group {group.key!r}: the search stopped after {cover.visits:,} "
                    f"combinations: {len(chosen)} shipments is the fewest, but a nearer set "
                    "of that size may exist")
    return done, said


def _ship_sentence(cover: Cover, group: SourcingGroup, count: int,
                   used: dict[int, list[str]]) -> str:
    code = cover.stock.code
    to = " to the relay point" if group.kind is GroupKind.RELAY else ""
    known = group.destination is not None
    lines = f"{count} line{'s' if count != 1 else ''}"
    if len(used) == 1:
        (i,) = used
        where = f": one shipment, {cover.distances(i):.1f} km" if known else ": one shipment"
        everything = "the line ships" if count == 1 else f"all {lines} ship"
        return f"group {group.key!r}: {everything} from {code(i)}{to}{where}"
    parts = []
    for i, ids in used.items():
        km = f"; {cover.distances(i):.1f} km" if known else ""
        parts.append(f"{code(i)} ({', '.join(ids)}{km})")
    total = f", {sum(cover.distances(i) for i in used):.1f} km in all" if known else ""
    return (f"group {group.key!r}: no single location can ship all {lines}{to}; "
            f"{len(used)} shipments{total}: {', '.join(parts)}")


def _line(line: SourcingLine) -> str:
    return f"{line.line_id} ({line.sku} ×{line.quantity})"  # noqa: RUF001 (a times sign)


def _when(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
