"""Sourcing: the default strategy, the plan check, a plugin strategy, candidates from a database."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Iterable
from typing import Any

import attrs
import pytest
from helpers.stock_world import build_world, location

from omnicore import Commerce, hookimpl
from omnicore.errors import InvalidInput, OutOfStock, PluginError
from omnicore.network import Capability, GeoPoint, LocationKind, distance_km, get_channel
from omnicore.sourcing import (
    Assignment,
    Candidate,
    GroupKind,
    SourcingGroup,
    SourcingLine,
    SourcingPlan,
    SourcingRequest,
    choose,
    load_candidates,
)
from omnicore.sourcing import _search as search
from omnicore.sourcing._service import check_plan
from omnicore.sourcing._strategy import default_plan
from omnicore.testing import FakeClock

NOW = dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)
LEAD = dt.timedelta(hours=2)
HOME = GeoPoint(48.8566, 2.3522)  # Paris, Hôtel de Ville
SHIP = frozenset({Capability.SHIP})
STORE_SHIPS = frozenset({Capability.PICKUP, Capability.SHIP_FROM_STORE})
STORE_ONLY = frozenset({Capability.PICKUP})


def warehouse(code: str, km_east: float, stock: dict[str, int], rank: int = 0,
              *, north: float = 0.0) -> Candidate:
    return Candidate(code, LocationKind.WAREHOUSE, _at(km_east, north), rank, SHIP, stock)


def store(code: str, km_east: float, stock: dict[str, int], rank: int = 5,
          capabilities: frozenset[Capability] = STORE_SHIPS, *, north: float = 0.0) -> Candidate:
    return Candidate(code, LocationKind.STORE, _at(km_east, north), rank, capabilities, stock)


def _at(km_east: float, km_north: float = 0.0) -> GeoPoint:
    """A point ``km_east`` / ``km_north`` kilometres from HOME (near enough for tests)."""
    return GeoPoint(HOME.lat + km_north / 111.2, HOME.lng + km_east / 73.2)


def request(lines: Iterable[tuple[str, str, int, str]], candidates: Iterable[Candidate],
            groups: Iterable[SourcingGroup] | None = None) -> SourcingRequest:
    lines = [SourcingLine(*line) for line in lines]
    if groups is None:
        groups = [SourcingGroup("home", GroupKind.SHIP, HOME)]
    return SourcingRequest("web", lines, tuple(groups), tuple(candidates), NOW, LEAD)


def where(plan: SourcingPlan) -> dict[str, list[tuple[str, int]]]:
    """line id → [(location, quantity)] in plan order."""
    found: dict[str, list[tuple[str, int]]] = {}
    for a in plan.assignments:
        found.setdefault(a.line_id, []).append((a.location, a.quantity))
    return found


def planned(req: SourcingRequest) -> SourcingPlan:
    """``default_plan``, which must also pass ``check_plan``."""
    plan = default_plan(req)
    check_plan(req, plan, plugin="self-check")
    return plan


# -- ship groups ----------------------------------------------------------------------------


def test_one_shipment_is_preferred_over_a_nearer_split() -> None:
    req = request(
        [("l1", "A", 1, "home"), ("l2", "B", 1, "home")],
        [warehouse("WH-FAR", 40, {"A": 5, "B": 5}),
         store("S-A", 1, {"A": 5}), store("S-B", 2, {"B": 5})],
    )
    plan = planned(req)
    assert where(plan) == {"l1": [("WH-FAR", 1)], "l2": [("WH-FAR", 1)]}
    assert plan.shipments == 1
    assert plan.strategy == "default"
    assert plan.explanation[0].startswith("group 'home': all 2 lines ship from WH-FAR: "
                                          "one shipment, 40.")


def test_distance_breaks_a_tie_of_shipments() -> None:
    req = request([("l1", "A", 2, "home")],
                  [warehouse("WH-1", 30, {"A": 5}), warehouse("WH-2", 10, {"A": 5}, rank=1)])
    assert where(planned(req)) == {"l1": [("WH-2", 2)]}


def test_rank_breaks_a_tie_of_distance_then_the_code() -> None:
    same_place = [warehouse("WH-B", 10, {"A": 5}, rank=3), warehouse("WH-A", 10, {"A": 5}, rank=1)]
    assert where(planned(request([("l1", "A", 1, "home")], same_place))) == {"l1": [("WH-A", 1)]}
    tied = [warehouse("WH-B", 10, {"A": 5}, rank=1), warehouse("WH-A", 10, {"A": 5}, rank=1)]
    assert where(planned(request([("l1", "A", 1, "home")], tied))) == {"l1": [("WH-A", 1)]}


def test_distance_is_ignored_without_a_destination() -> None:
    req = request([("l1", "A", 1, "home")],
                  [warehouse("WH-NEAR", 1, {"A": 5}, rank=2), warehouse("WH-FAR", 90, {"A": 5})],
                  [SourcingGroup("home", GroupKind.SHIP, None)])
    plan = planned(req)
    assert where(plan) == {"l1": [("WH-FAR", 1)]}
    assert "km" not in plan.explanation[0]


def test_a_store_ships_when_the_warehouse_lacks_a_line() -> None:
    req = request(
        [("l1", "A", 1, "home"), ("l2", "B", 1, "home")],
        [warehouse("WH", 5, {"A": 9}), store("STORE-07", 12, {"A": 1, "B": 1})],
    )
    plan = planned(req)
    assert where(plan) == {"l1": [("STORE-07", 1)], "l2": [("STORE-07", 1)]}
    assert "STORE-07" in plan.explanation[0]


def test_a_store_without_ship_from_store_never_ships() -> None:
    lines = [("l1", "A", 1, "home")]
    near = store("STORE-NEAR", 1, {"A": 9}, capabilities=STORE_ONLY)
    plan = planned(request(lines, [near, warehouse("WH", 50, {"A": 9})]))
    assert where(plan) == {"l1": [("WH", 1)]}
    with pytest.raises(OutOfStock) as caught:
        default_plan(request(lines, [near]))
    assert (caught.value.sku, caught.value.requested, caught.value.available) == ("A", 1, 0)


def test_the_best_pair_when_no_location_holds_everything() -> None:
    req = request(
        [("l1", "A", 1, "home"), ("l2", "B", 1, "home"), ("l3", "C", 1, "home")],
        [warehouse("WH", 30, {"A": 5, "B": 5}),  # with S-C: 30 + 3
         store("S-AB", 4, {"A": 1, "B": 1}),  # with S-C: 4 + 3, the best pair
         store("S-C", 3, {"C": 1}),
         store("S-BC", 20, {"B": 1, "C": 1})],  # with S-AB: 4 + 20
    )
    plan = planned(req)
    assert where(plan) == {"l1": [("S-AB", 1)], "l2": [("S-AB", 1)], "l3": [("S-C", 1)]}
    assert plan.shipments == 2
    assert "2 shipments" in plan.explanation[0]
    assert "S-AB (l1, l2; 4.0 km)" in plan.explanation[0]


def test_a_line_splits_only_when_no_location_has_its_quantity() -> None:
    lines = [("l1", "A", 5, "home")]
    near = [store("S-1", 1, {"A": 3}), store("S-2", 2, {"A": 3})]
    assert where(planned(request(lines, [*near, warehouse("WH", 80, {"A": 5})]))) == {
        "l1": [("WH", 5)]}
    plan = planned(request(lines, near))
    assert where(plan) == {"l1": [("S-1", 3), ("S-2", 2)]}
    assert any(s.startswith("line l1 (A ×5) splits: 3 from S-1, 2 from S-2")  # noqa: RUF001
               for s in plan.explanation)


def test_lines_of_one_sku_take_turns_at_a_location() -> None:
    req = request([("l1", "A", 2, "home"), ("l2", "A", 2, "home")],
                  [store("S-1", 1, {"A": 3}), warehouse("WH", 9, {"A": 4})])
    plan = planned(req)
    assert where(plan) == {"l1": [("WH", 2)], "l2": [("WH", 2)]}  # 4 whole beats a split


def test_groups_sharing_a_sku_take_what_is_left() -> None:
    groups = [SourcingGroup("home", GroupKind.SHIP, HOME),
              SourcingGroup("office", GroupKind.SHIP, _at(2)),
              SourcingGroup("relay", GroupKind.RELAY, _at(1))]
    req = request(
        [("l1", "A", 3, "home"), ("l2", "A", 2, "office"), ("l3", "A", 1, "relay")],
        [warehouse("WH", 10, {"A": 4}), store("S-1", 2, {"A": 2})],
        groups,
    )
    plan = planned(req)
    assert where(plan) == {"l1": [("WH", 3)], "l2": [("S-1", 2)], "l3": [("WH", 1)]}
    assert plan.shipments == 3
    assert "to the relay point" in plan.explanation[2]


def test_out_of_stock_names_the_sku_and_the_line() -> None:
    req = request([("l1", "A", 1, "home"), ("l2", "B", 4, "home")],
                  [warehouse("WH", 10, {"A": 5, "B": 1}), store("S", 3, {"B": 2})])
    with pytest.raises(OutOfStock) as caught:
        default_plan(req)
    error = caught.value
    assert (error.sku, error.requested, error.available, error.field) == (
        "B", 4, 3, "lines[1].quantity")
    assert "B" in error.message


def test_the_greedy_fallback_when_the_search_budget_runs_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(search, "SEARCH_BUDGET", 1)
    req = request(
        [("l1", "A", 1, "home"), ("l2", "B", 1, "home"), ("l3", "C", 1, "home")],
        [store("S-AB", 4, {"A": 1, "B": 1}), store("S-C", 3, {"C": 1}),
         store("S-BC", 20, {"B": 1, "C": 1}), store("S-A", 1, {"A": 1})],
    )
    plan = planned(req)
    assert plan.shipments == 2
    assert "greedily" in plan.explanation[-1]


def _brute_force(req: SourcingRequest) -> tuple[int, float]:
    """Fewest shipments, then least distance, by trying every subset (one ship group)."""
    demand: dict[str, int] = {}
    for line in req.lines:
        demand[line.sku] = demand.get(line.sku, 0) + line.quantity
    ships = [c for c in req.candidates if not c.capabilities.isdisjoint(search.SHIPPING)]
    whole = {s: any(c.available.get(s, 0) >= q for c in ships) for s, q in demand.items()}

    def feasible(subset: tuple[Candidate, ...]) -> bool:
        for sku, q in demand.items():
            if whole[sku]:
                if not any(c.available.get(sku, 0) >= q for c in subset):
                    return False
            elif sum(c.available.get(sku, 0) for c in subset) < q:
                return False
        return True

    for size in range(1, len(ships) + 1):
        found = [round(sum(distance_km(HOME, c.geo) for c in subset), 3)
                 for subset in itertools.combinations(ships, size) if feasible(subset)]
        if found:
            return size, min(found)
    raise AssertionError("infeasible")


@pytest.mark.parametrize("seed", range(60))
def test_the_exact_search_matches_a_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    skus = [f"S{i}" for i in range(rng.randint(2, 6))]
    candidates = []
    for i in range(rng.randint(3, 9)):
        stock = {s: rng.randint(1, 4) for s in skus if rng.random() < 0.45}
        caps = rng.choice([SHIP, STORE_SHIPS, STORE_SHIPS, STORE_ONLY])
        candidates.append(Candidate(f"L{i}", LocationKind.STORE, _at(rng.uniform(-30, 30),
                                    rng.uniform(-30, 30)), rng.randint(0, 3), caps, stock))
    lines = [(f"l{i}", s, rng.randint(1, 3), "home") for i, s in enumerate(skus)]
    req = request(lines, candidates)
    try:
        plan = planned(req)
    except OutOfStock:
        with pytest.raises(AssertionError, match="infeasible"):
            _brute_force(req)
        return
    size, km = _brute_force(req)
    used = {a.location for a in plan.assignments}
    assert plan.shipments == size
    if size <= search.EXACT_MAX_SHIPMENTS:
        total = sum(distance_km(HOME, c.geo) for c in candidates if c.location in used)
        assert round(total, 3) == km


@pytest.mark.parametrize("seed", range(40))
def test_every_plan_of_random_orders_passes_the_check(seed: int) -> None:
    """Several groups, pickups included, shared SKUs: a plan, or OutOfStock; never a bad plan."""
    rng = random.Random(1000 + seed)
    skus = [f"S{i}" for i in range(5)]
    candidates = [
        Candidate(f"L{i}", LocationKind.STORE, _at(rng.uniform(-30, 30), rng.uniform(-30, 30)),
                  i, rng.choice([SHIP, STORE_SHIPS, STORE_ONLY]),
                  {s: rng.randint(1, 6) for s in skus if rng.random() < 0.6})
        for i in range(rng.randint(2, 12))
    ]
    groups = [SourcingGroup("a", GroupKind.SHIP, _at(1)),
              SourcingGroup("b", GroupKind.RELAY, None),
              SourcingGroup("c", GroupKind.PICKUP, _at(2), rng.choice(["L0", "L1", "ELSEWHERE"]))]
    lines = [(f"l{i}", rng.choice(skus), rng.randint(1, 4), rng.choice("abc"))
             for i in range(rng.randint(1, 8))]
    req = request(lines, candidates, groups)
    try:
        plan = planned(req)
    except OutOfStock as error:
        assert error.sku in skus and error.available < error.requested
        return
    assert len(plan.explanation) >= len({a.group for a in plan.assignments})


# -- pickup groups --------------------------------------------------------------------------

PICKUP = SourcingGroup("collect", GroupKind.PICKUP, _at(3), "STORE-07")


def test_pickup_from_the_shelf() -> None:
    req = request([("l1", "A", 2, "collect"), ("l2", "B", 1, "collect")],
                  [warehouse("WH", 1, {"A": 9, "B": 9}), store("STORE-07", 3, {"A": 2, "B": 4})],
                  [PICKUP])
    plan = planned(req)
    assert where(plan) == {"l1": [("STORE-07", 2)], "l2": [("STORE-07", 1)]}
    assert all(a.transfer_to is None and a.eta is None for a in plan.assignments)
    assert plan.shipments == 0
    assert plan.explanation == (
        "line l1 (A ×2) is on the shelf at STORE-07 (group 'collect')",  # noqa: RUF001
        "line l2 (B ×1) is on the shelf at STORE-07 (group 'collect')",  # noqa: RUF001
    )


def test_pickup_with_a_partial_transfer_from_the_nearest_warehouse() -> None:
    req = request(
        [("l1", "A", 3, "collect"), ("l2", "B", 2, "collect")],
        [warehouse("WH-FAR", 40, {"A": 9, "B": 9}, rank=0),
         warehouse("WH-PARIS", 8, {"A": 9, "B": 9}, rank=1),
         store("STORE-02", 3.1, {"A": 9, "B": 9}),  # a store never transfers
         store("STORE-07", 3, {"A": 1})],
        [PICKUP],
    )
    plan = planned(req)
    eta = NOW + LEAD
    assert list(plan.assignments) == [
        Assignment("l1", "A", "collect", "STORE-07", 1),
        Assignment("l1", "A", "collect", "WH-PARIS", 2, transfer_to="STORE-07", eta=eta),
        Assignment("l2", "B", "collect", "WH-PARIS", 2, transfer_to="STORE-07", eta=eta),
    ]
    assert plan.explanation == (
        "line l1 (A ×3): 1 on the shelf at STORE-07, 2 transfer from WH-PARIS to "  # noqa: RUF001
        "STORE-07, ready 2026-11-30 18:00 UTC",
        "line l2 (B ×2) transfers from WH-PARIS to STORE-07, ready 2026-11-30 18:00 UTC",  # noqa: RUF001
    )


def test_pickup_at_a_store_the_channel_does_not_sell_from() -> None:
    req = request([("l1", "A", 2, "collect")],
                  [warehouse("WH-1", 20, {"A": 1}), warehouse("WH-2", 30, {"A": 5})], [PICKUP])
    plan = planned(req)
    assert where(plan) == {"l1": [("WH-2", 2)]}  # whole from one beats nearest first
    assert plan.assignments[0].transfer_to == "STORE-07"


def test_pickup_out_of_stock() -> None:
    req = request([("l1", "A", 5, "collect")],
                  [warehouse("WH", 20, {"A": 2}), store("STORE-07", 3, {"A": 1})], [PICKUP])
    with pytest.raises(OutOfStock) as caught:
        default_plan(req)
    error = caught.value
    assert (error.sku, error.requested, error.available) == ("A", 5, 3)
    assert error.by_location == {"STORE-07": 1, "WH": 2}


def test_pickup_groups_are_served_before_ship_groups() -> None:
    groups = [SourcingGroup("home", GroupKind.SHIP, _at(3)), PICKUP]
    req = request([("l1", "A", 1, "home"), ("l2", "A", 1, "collect")],
                  [warehouse("WH", 30, {"A": 1}), store("STORE-07", 3, {"A": 1})], groups)
    plan = planned(req)
    assert where(plan) == {"l2": [("STORE-07", 1)], "l1": [("WH", 1)]}
    assert plan.shipments == 1


# -- the request and the plan ------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lines": [SourcingLine("l1", "A", 1, "nowhere")]}, "lines[0].group"),
        ({"lines": [SourcingLine("l1", "A", 1, "home")] * 2}, "lines[1]"),
        ({"groups": [SourcingGroup("home", GroupKind.PICKUP, None)]}, "groups[0].pickup_location"),
        ({"candidates": [warehouse("WH", 1, {})] * 2}, "candidates[1]"),
        ({"transfer_lead": dt.timedelta(hours=-1)}, "transfer_lead"),
    ],
)
def test_a_malformed_request_is_refused(change: dict[str, Any], field: str) -> None:
    fields = {"channel": "web", "lines": [SourcingLine("l1", "A", 1, "home")],
              "groups": [SourcingGroup("home", GroupKind.SHIP, HOME)], "candidates": [],
              "now": NOW, "transfer_lead": LEAD}
    with pytest.raises(InvalidInput) as caught:
        SourcingRequest(**(fields | change))
    assert caught.value.field == field


def _checked() -> SourcingRequest:
    return request(
        [("l1", "A", 2, "home"), ("l2", "B", 1, "collect")],
        [warehouse("WH", 10, {"A": 2, "B": 5}), store("STORE-07", 3, {"A": 1})],
        [SourcingGroup("home", GroupKind.SHIP, HOME), PICKUP],
    )


GOOD = [Assignment("l1", "A", "home", "WH", 2),
        Assignment("l2", "B", "collect", "WH", 1, transfer_to="STORE-07", eta=NOW + LEAD)]


def test_check_plan_accepts_a_correct_plan() -> None:
    check_plan(_checked(), SourcingPlan(GOOD, ["mine"]), plugin="p")
    check_plan(_checked(), default_plan(_checked()), plugin="p")


@pytest.mark.parametrize(
    ("assignments", "field", "words"),
    [
        ([GOOD[0], attrs.evolve(GOOD[1], line_id="l9")], "assignments[1].line_id", "no line"),
        ([attrs.evolve(GOOD[0], sku="B"), GOOD[1]], "assignments[0].sku", "is A"),
        ([attrs.evolve(GOOD[0], group="collect"), GOOD[1]], "assignments[0].group", "home"),
        ([attrs.evolve(GOOD[0], location="MARS"), GOOD[1]], "assignments[0].location",
         "not a candidate"),
        ([attrs.evolve(GOOD[0], quantity=1), GOOD[1]], "lines[0].quantity", "gives 1"),
        ([GOOD[0], GOOD[0], GOOD[1]], "lines[0].quantity", "gives 4"),
        ([GOOD[0]], "lines[1].quantity", "gives 0"),
        ([attrs.evolve(GOOD[0], quantity=1), Assignment("l1", "A", "home", "STORE-07", 1),
          attrs.evolve(GOOD[1], location="STORE-07", transfer_to=None)],
         "assignments[2].quantity", "takes 1 of B at STORE-07, which has 0"),
        ([Assignment("l1", "A", "home", "STORE-07", 2), GOOD[1]],
         "assignments[0].quantity", "takes 2 of A at STORE-07, which has 1"),
        ([attrs.evolve(GOOD[0], transfer_to="STORE-07"), GOOD[1]],
         "assignments[0].transfer_to", "no transfer"),
        ([GOOD[0], attrs.evolve(GOOD[1], transfer_to=None)], "assignments[1].transfer_to",
         "must transfer"),
        ([GOOD[0], attrs.evolve(GOOD[1], transfer_to="STORE-99")],
         "assignments[1].transfer_to", "not STORE-99"),
    ],
)
def test_check_plan_refuses(assignments: list[Assignment], field: str, words: str) -> None:
    with pytest.raises(PluginError) as caught:
        check_plan(_checked(), SourcingPlan(assignments, []), plugin="acme-oms")
    assert caught.value.plugin == "acme-oms"
    assert caught.value.field == field
    assert words in caught.value.message


def test_an_assignment_has_a_positive_quantity() -> None:
    with pytest.raises(InvalidInput):
        Assignment("l1", "A", "home", "WH", 0)


# -- a plugin's strategy ------------------------------------------------------------------


class FarthestFirst:
    """Ships everything from the last-ranked candidate that has it (a test strategy)."""

    name = "farthest-first"

    def __init__(self, answer: str = "plan") -> None:
        self.answer = answer
        self.requests: list[SourcingRequest] = []

    @hookimpl
    async def choose_sources(self, commerce: Commerce,
                             request: SourcingRequest) -> SourcingPlan | None:
        self.requests.append(request)
        if self.answer == "none":
            return None
        line = request.lines[0]
        last = max((c for c in request.candidates if c.available.get(line.sku, 0)),
                   key=lambda c: c.rank)
        quantity = line.quantity + (1 if self.answer == "too many" else 0)
        return SourcingPlan([Assignment(line.line_id, line.sku, line.group, last.location,
                                        quantity)],
                            [f"{last.location}: the last resort"])


async def _with_plugin(url: str, clock: FakeClock, plugin: FarthestFirst) -> SourcingPlan:
    req = request([("l1", "A", 1, "home")],
                  [warehouse("WH", 1, {"A": 5}), store("S", 20, {"A": 5}, rank=9)])
    async with Commerce.open(url, clock=clock, plugins=[plugin], dispatch=False,
                             load_entry_points=False, auto_migrate=True) as commerce:
        plan = await choose(commerce, req)
    assert plugin.requests == [req]
    return plan


async def test_a_plugin_replaces_the_default_strategy(sqlite_url: str, clock: FakeClock) -> None:
    plan = await _with_plugin(sqlite_url, clock, FarthestFirst())
    assert where(plan) == {"l1": [("S", 1)]}
    assert plan.strategy == "farthest-first"
    assert plan.explanation == ("S: the last resort",)
    assert plan.shipments == 1


async def test_a_plugin_returning_none_leaves_the_default(
    sqlite_url: str, clock: FakeClock
) -> None:
    plan = await _with_plugin(sqlite_url, clock, FarthestFirst("none"))
    assert (where(plan), plan.strategy) == ({"l1": [("WH", 1)]}, "default")


async def test_a_plugin_may_name_its_strategy(sqlite_url: str, clock: FakeClock) -> None:
    class Named(FarthestFirst):
        @hookimpl
        async def choose_sources(self, commerce: Commerce,
                                 request: SourcingRequest) -> SourcingPlan | None:
            plan = await super().choose_sources(commerce, request)
            return attrs.evolve(plan, strategy="farthest-first/v2")

    plan = await _with_plugin(sqlite_url, clock, Named())
    assert plan.strategy == "farthest-first/v2"


async def test_a_plugin_returning_something_else_is_refused(
    sqlite_url: str, clock: FakeClock
) -> None:
    class Confused(FarthestFirst):
        @hookimpl
        def choose_sources(self, commerce: Commerce,
                           request: SourcingRequest) -> SourcingPlan | None:
            self.requests.append(request)
            return {"l1": "S"}  # type: ignore[return-value]

    with pytest.raises(PluginError) as caught:
        await _with_plugin(sqlite_url, clock, Confused())
    assert caught.value.plugin == "farthest-first"
    assert "returned dict, not a SourcingPlan" in caught.value.message


async def test_a_wrong_plugin_plan_is_refused(sqlite_url: str, clock: FakeClock) -> None:
    with pytest.raises(PluginError) as caught:
        await _with_plugin(sqlite_url, clock, FarthestFirst("too many"))
    assert caught.value.plugin == "farthest-first"
    assert "wants 1 of A, the plan gives 2" in caught.value.message


# -- candidates from the database ---------------------------------------------------------


async def test_load_candidates(commerce: Commerce, monkeypatch: pytest.MonkeyPatch) -> None:
    await build_world(commerce)
    await commerce.locations.save(location("lyon-1", "store", 45.76, 4.83,
                                           capabilities=["ship_from_store"], active=False))
    await commerce.channels.save({
        "code": "web", "name": "Web shop", "kind": "web", "currency": "EUR",
        "locations": [{"location": "wh", "priority": 0, "buffer": 1},
                      {"location": "paris-1", "priority": 1},
                      {"location": "lyon-1", "priority": 2}],
    })
    await commerce.stock.receive("TEE-M", "wh", 10, source="test")
    await commerce.stock.receive("TEE-L", "wh", 1, source="test")  # all hidden by the buffer
    await commerce.stock.receive("TEE-M", "paris-1", 3, source="test")
    await commerce.stock.receive("CAP", "paris-1", 2, source="test")
    await commerce.stock.receive("TEE-M", "lyon-1", 7, source="test")  # inactive
    await commerce.stock.receive("TEE-M", "paris-2", 5, source="test")  # not sold by web
    cap = await commerce.stock.hold("CAP", 2, channel="web", location="paris-1")
    tee = await commerce.stock.hold("TEE-M", 4, channel="web", location="wh")
    skus = ["TEE-M", "TEE-L", "CAP"]

    async def load(**kwargs: Any) -> tuple[Candidate, ...]:
        async with commerce.uow.read() as tx:
            channel = await get_channel(tx, "web")
            return await load_candidates(tx, channel, skus, **kwargs)

    found = await load()
    assert [(c.location, c.rank, c.kind) for c in found] == [
        ("wh", 0, LocationKind.WAREHOUSE), ("paris-1", 1, LocationKind.STORE)]
    wh, paris = found
    assert dict(wh.available) == {"TEE-M": 5}  # 10 - 4 held - buffer 1
    assert dict(paris.available) == {"TEE-M": 3}  # CAP is all held
    assert wh.capabilities == {Capability.SHIP}
    assert paris.capabilities == {Capability.PICKUP, Capability.SHIP_FROM_STORE}
    assert (paris.geo.lat, paris.geo.lng) == (48.8606, 2.3376)

    # the order's own cart holds count for it
    mine = await load(add_back={("CAP", "paris-1"): cap.quantity, ("TEE-M", "wh"): tee.quantity})
    assert [dict(c.available) for c in mine] == [{"TEE-M": 9}, {"TEE-M": 3, "CAP": 2}]

    # read every location's levels
    monkeypatch.setattr("omnicore.sourcing._service.CODES_IN_QUERY", 0)
    assert await load() == found


async def test_load_candidates_then_plan(commerce: Commerce) -> None:
    await build_world(commerce)
    await commerce.stock.receive("TEE-M", "wh", 5, source="test")
    await commerce.stock.receive("TEE-L", "paris-1", 2, source="test")
    await commerce.stock.receive("TEE-M", "paris-1", 1, source="test")
    async with commerce.uow.read() as tx:
        channel = await get_channel(tx, "web")
        candidates = await load_candidates(tx, channel, ["TEE-M", "TEE-L"])
    req = SourcingRequest(
        "web",
        [SourcingLine("l1", "TEE-M", 1, "home"), SourcingLine("l2", "TEE-L", 1, "home"),
         SourcingLine("l3", "TEE-M", 2, "collect")],
        [SourcingGroup("home", GroupKind.SHIP, GeoPoint(48.85, 2.35)),
         SourcingGroup("collect", GroupKind.PICKUP, GeoPoint(48.8606, 2.3376), "paris-1")],
        candidates, commerce.clock(), LEAD,
    )
    plan = await choose(commerce, req)
    # the pickup takes paris-1's only TEE-M: home gets TEE-M from wh, TEE-L from paris-1
    assert where(plan) == {"l3": [("paris-1", 1), ("wh", 1)], "l1": [("wh", 1)],
                           "l2": [("paris-1", 1)]}
    assert plan.shipments == 2
    assert plan.strategy == "default"
