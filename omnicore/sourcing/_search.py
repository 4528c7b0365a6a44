"""The search behind the default sourcing strategy (internal to ``omnicore.sourcing``).

A ship or relay group is a set-cover problem: find the fewest locations (with
``ship`` or ``ship_from_store``) that together hold the group's lines, then the
smallest total distance to the destination, then the best ranks (the sorted
ranks compared in order), then the location codes. The lines of one SKU in a
group are one *demand*. A demand that some location holds whole must come whole
from one location of the set (a "binary" demand: a bit in a mask); one that no
location holds whole may split across the set (a "splittable" demand: units
add up).

Exact search (``Cover.single``, ``Cover.exact``): a depth-first branch and bound
over sets of a given size, sizes 1, 2, … ``EXACT_MAX_SHIPMENTS``. Any set that
meets every demand contains a holder of the rarest unmet one, so each level
branches only on the holders of that demand, nearest first, and stops as soon as
the distance so far exceeds the best set found. One location costs
O(holders of the rarest SKU); a pair O(holders of the rarest x holders of the
rarest SKU the first leaves unmet). After ``SEARCH_BUDGET`` branches the search
stops: the best set of that size found so far is kept, else ``Cover.greedy``
decides — the classic greedy set cover (take the location meeting the most
unmet demands, then the most units, the nearest, the best rank, until none is
left): O(shipments x Σ holders), fast, not always the fewest.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from omnicore.errors import OutOfStock
from omnicore.network import EARTH_RADIUS_KM, Capability, GeoPoint
from omnicore.sourcing._models import SourcingGroup, SourcingLine, SourcingRequest

__all__ = ["EXACT_MAX_SHIPMENTS", "SEARCH_BUDGET", "Cover", "Distances", "Stock", "fill"]

#: The exact search tries sets of up to this many locations.
EXACT_MAX_SHIPMENTS = 3
#: Branches the exact search may visit per group before it gives up.
SEARCH_BUDGET = 20_000
SHIPPING = frozenset({Capability.SHIP, Capability.SHIP_FROM_STORE})

SetKey = tuple[float, tuple[int, ...], tuple[str, ...]]


class Stock:
    """What is left at each candidate as the plan takes units.

    ``units[sku]`` maps a candidate (its index) to the units it still has, for every
    SKU of the request; ``ships[i]`` / ``transfers[i]`` say whether candidate ``i``
    may ship to a customer (``ship`` or ``ship_from_store``) / send a transfer
    (``ship``). Built in one pass over the candidates' ``available``, skipping the
    candidates that can neither ship nor serve a pickup from their shelf.
    """

    def __init__(self, request: SourcingRequest) -> None:
        self.candidates = request.candidates
        stores = {g.pickup_location for g in request.groups if g.pickup_location is not None}
        #: pickup store → its index, for the stores that are candidates
        self.index: dict[str, int] = {}
        skus = {line.sku for line in request.lines}
        units: dict[str, dict[int, int]] = {sku: {} for sku in skus}
        candidates = self.candidates
        ships = [not SHIPPING.isdisjoint(c.capabilities) for c in candidates]
        transfers = [Capability.SHIP in c.capabilities for c in candidates]
        for i, candidate in enumerate(candidates):
            if not ships[i]:
                if candidate.location not in stores:
                    continue  # it can neither ship nor be a pickup's shelf: never used
                self.index[candidate.location] = i
            elif stores and candidate.location in stores:
                self.index[candidate.location] = i
            available = candidate.available
            if len(available) <= len(skus):
                for sku, count in available.items():
                    if count > 0 and sku in units:
                        units[sku][i] = count
            else:
                for sku in skus:
                    count = available.get(sku, 0)
                    if count > 0:
                        units[sku][i] = count
        self.units = units
        self.ships = ships
        self.transfers = transfers

    def left(self, i: int, sku: str) -> int:
        return self.units[sku].get(i, 0)

    def take(self, i: int, sku: str, count: int) -> None:
        self.units[sku][i] -= count

    def code(self, i: int) -> str:
        return self.candidates[i].location


class Distances:
    """Kilometres from each candidate to one point (0 for all when the point is unknown).

    The haversine of ``omnicore.network.distance_km``, same operations in the same
    order (so the same floats), with the point's part computed once: sorting
    thousands of candidates by distance is most of a large search.
    """

    def __init__(self, stock: Stock, point: GeoPoint | None) -> None:
        self._candidates = stock.candidates
        self._point = point
        self._km: dict[int, float] = {}
        if point is not None:
            self._lat = math.radians(point.lat)
            self._cos_lat = math.cos(self._lat)

    def __call__(self, i: int) -> float:
        km = self._km.get(i)
        if km is None:
            km = self._km[i] = self._compute(i)
        return km

    def _compute(self, i: int) -> float:
        point = self._point
        if point is None:
            return 0.0
        geo = self._candidates[i].geo
        lat2 = math.radians(geo.lat)
        dlat = lat2 - self._lat
        dlng = math.radians(geo.lng - point.lng)
        h = math.sin(dlat / 2) ** 2 + self._cos_lat * math.cos(lat2) * math.sin(dlng / 2) ** 2
        return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))

    def key(self, i: int) -> tuple[float, int, str]:
        """Nearest (to the metre), then best rank, then code."""
        candidate = self._candidates[i]
        return (round(self(i), 3), candidate.rank, candidate.location)

    def ordered(self, indices: Iterable[int]) -> list[int]:
        """``indices`` sorted by ``key``."""
        candidates, km = self._candidates, self
        keyed = [(round(km(i), 3), candidates[i].rank, candidates[i].location, i)
                 for i in indices]
        keyed.sort()
        return [entry[3] for entry in keyed]


def fill(stock: Stock, ordered: Sequence[int], sku: str, units: int) -> list[tuple[int, int]]:
    """Where to take ``units``: the first of ``ordered`` that has them all, else split in order.

    Takes nothing (the caller does); assumes ``ordered`` holds enough in all.
    """
    for i in ordered:
        if stock.left(i, sku) >= units:
            return [(i, units)]
    parts = []
    for i in ordered:
        take = min(units, stock.left(i, sku))
        if take > 0:
            parts.append((i, take))
            units -= take
            if not units:
                break
    return parts


class Cover:
    """One ship or relay group's demands and the search for the locations that meet them.

    Raises ``OutOfStock`` when built if the shipping candidates together lack a demand.
    """

    def __init__(
        self, stock: Stock, group: SourcingGroup, lines: Iterable[tuple[int, SourcingLine]]
    ) -> None:
        self.stock = stock
        self.distances = Distances(stock, group.destination)
        demand: dict[str, int] = {}
        first_line: dict[str, int] = {}
        for index, line in lines:
            demand[line.sku] = demand.get(line.sku, 0) + line.quantity
            first_line.setdefault(line.sku, index)
        self.demand = demand
        self.members: dict[str, list[int]] = {}  # demand → the candidates that can serve it
        self.binary: dict[str, int] = {}  # binary demand → its bit
        self.splittable: list[str] = []
        ships = stock.ships
        for sku, wanted in demand.items():
            held = stock.units[sku]
            whole = [i for i, count in held.items() if count >= wanted and ships[i]]
            if whole:
                self.binary[sku] = 1 << len(self.binary)
                self.members[sku] = whole
                continue
            holders = [i for i, count in held.items() if count > 0 and ships[i]]
            supply = sum(held[i] for i in holders)
            if supply < wanted:
                raise OutOfStock(
                    f"only {supply} of {sku} can ship to group {group.key!r}, {wanted} requested",
                    field=f"lines[{first_line[sku]}].quantity",
                    sku=sku,
                    requested=wanted,
                    available=supply,
                )
            self.splittable.append(sku)
            self.members[sku] = holders
        self.full = (1 << len(self.binary)) - 1
        self._covers: dict[int, int] = {}
        # branch on the rarest demand first: it has the fewest holders to try
        self.order = sorted(demand, key=lambda sku: (len(self.members[sku]), sku))
        self._sorted: dict[str, list[int]] = {}
        self.visits = 0
        self.exhausted = False
        self.best: tuple[SetKey, tuple[int, ...]] | None = None

    def cover(self, i: int) -> int:
        """The bits of the binary demands candidate ``i`` can serve whole."""
        mask = self._covers.get(i)
        if mask is None:
            units, demand = self.stock.units, self.demand
            mask = 0
            if self.stock.ships[i]:
                for sku, bit in self.binary.items():
                    if units[sku].get(i, 0) >= demand[sku]:
                        mask |= bit
            self._covers[i] = mask
        return mask

    def choose(self) -> tuple[tuple[int, ...], str]:
        """The chosen locations, nearest first, and how: ``exact``, ``budget`` or ``greedy``."""
        chosen = self.single()
        size = 2
        while chosen is None and size <= EXACT_MAX_SHIPMENTS and not self.exhausted:
            self.exact(size)
            if self.best is not None:
                chosen = self.best[1]
            size += 1
        how = "budget" if self.exhausted else "exact"
        if chosen is None:
            chosen, how = self.greedy(), "greedy"
        return tuple(self.distances.ordered(chosen)), how

    def _sorted_members(self, sku: str) -> list[int]:
        found = self._sorted.get(sku)
        if found is None:
            found = self._sorted[sku] = self.distances.ordered(self.members[sku])
        return found

    def _set_key(self, chosen: Iterable[int]) -> SetKey:
        candidates = self.stock.candidates
        members = list(chosen)
        return (
            round(sum(self.distances(i) for i in members), 3),
            tuple(sorted(candidates[i].rank for i in members)),
            tuple(sorted(candidates[i].location for i in members)),
        )

    def _unmet(self, mask: int, residual: dict[str, int]) -> str | None:
        """The rarest demand not met yet, or None."""
        for sku in self.order:
            bit = self.binary.get(sku)
            if (not mask & bit) if bit is not None else residual[sku] > 0:
                return sku
        return None

    def _after(self, i: int, residual: dict[str, int]) -> dict[str, int]:
        left = self.stock.left
        return {sku: need - left(i, sku) if need > 0 else need for sku, need in residual.items()}

    # exact search --------------------------------------------------------------------------

    def single(self) -> tuple[int, ...] | None:
        """The best location holding every demand whole, if any (no sort needed)."""
        if self.splittable:
            return None
        units, demand = self.stock.units, self.demand
        covering = self.members[self.order[0]]
        for sku in self.order[1:]:  # rarest first: the list shrinks fastest
            held, wanted = units[sku], demand[sku]
            covering = [i for i in covering if held.get(i, 0) >= wanted]
            if not covering:
                return None
        return (min(covering, key=self.distances.key),)

    def exact(self, size: int) -> None:
        """Search the sets of ``size`` locations; ``self.best`` gets the best one found."""
        self._search(size, (), 0, {sku: self.demand[sku] for sku in self.splittable}, 0.0)

    def _search(
        self, left: int, chosen: tuple[int, ...], mask: int, residual: dict[str, int], km: float
    ) -> None:
        sku = self._unmet(mask, residual)
        assert sku is not None
        for i in self._sorted_members(sku):
            self.visits += 1
            if self.visits > SEARCH_BUDGET:
                self.exhausted = True
                return
            if i in chosen:
                continue
            total = km + self.distances(i)
            if self.best is not None and round(total, 3) > self.best[0][0]:
                break  # members are sorted by distance: every later one is farther
            now_mask = mask | self.cover(i)
            now_residual = self._after(i, residual)
            if self._unmet(now_mask, now_residual) is None:
                found = (*chosen, i)
                key = self._set_key(found)
                if self.best is None or key < self.best[0]:
                    self.best = (key, found)
            elif left > 1:
                self._search(left - 1, (*chosen, i), now_mask, now_residual, total)
                if self.exhausted:
                    return

    # greedy fallback -----------------------------------------------------------------------

    def greedy(self) -> tuple[int, ...]:
        """The greedy set cover: the location meeting the most unmet demands, until none is."""
        chosen: list[int] = []
        mask = 0
        residual = {sku: self.demand[sku] for sku in self.splittable}
        while self._unmet(mask, residual) is not None:
            meets: dict[int, int] = defaultdict(int)
            units: dict[int, int] = defaultdict(int)
            for sku, bit in self.binary.items():
                if not mask & bit:
                    for i in self.members[sku]:
                        meets[i] += 1
            for sku, need in residual.items():
                if need > 0:
                    for i in self.members[sku]:
                        if i not in chosen:
                            meets[i] += 1
                            units[i] += min(need, self.stock.left(i, sku))
            best = min(meets, key=lambda i: (-meets[i], -units[i], self.distances.key(i)))
            chosen.append(best)
            mask |= self.cover(best)
            residual = self._after(best, residual)
        return tuple(chosen)
