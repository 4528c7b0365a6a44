"""DESIGN.md §4 as a property: whatever sequence of stock calls, the invariant holds.

A hypothesis state machine drives ``commerce.stock`` with receipts, holds (with and
without a location, short and long TTLs), releases, counts, adjustments, transfers,
sales, allocations, consumptions, safety stock, time moving on and sweeps. After
every step it reads the tables and checks, for every level:
``Σ active holds ≤ max(0, on_hand - safety_stock)``, ``reserved == Σ hold rows``,
``on_hand == Σ ledger deltas == what the calls said``, ``on_hand ≥ 0``.
Each rule also checks its own outcome against the availability read just before.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from helpers.stock_world import build_world, invariant_violations, snapshot
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from omnicore import Commerce
from omnicore.errors import Conflict, InvalidInput, NotFound, OutOfStock
from omnicore.stock import HoldKind
from omnicore.store.tables import stock_levels
from omnicore.testing import FakeClock

T = TypeVar("T")
#: Makes a fresh database holding the world (``build_world``) for one example:
#: returns its URL and how to drop it.
DatabaseFactory = Callable[[], Awaitable[tuple[str, Callable[[], Awaitable[None]]]]]

# Weighted towards few levels, so that calls meet on the same level often.
SKUS = st.sampled_from(["TEE-M", "TEE-M", "TEE-M", "CAP"])
LOCATIONS = ["wh", "paris-1", "paris-2"]  # paris-2: no channel sells from it
PLACES = st.sampled_from(["wh", "paris-1", "wh", "paris-1", "paris-2"])
CHANNELS = {"web": {"wh", "paris-1"}, "amazon": {"wh"}, "pos-paris-1": {"paris-1"}}
#: (channel, location): split by priority (None), a location it sells from, or one it
#: may not sell from (refused with ``InvalidInput``).
HOLD_TARGETS = st.sampled_from([
    ("web", None), ("web", "wh"), ("web", "paris-1"), ("amazon", None), ("amazon", "wh"),
    ("pos-paris-1", None), ("pos-paris-1", "paris-1"), ("amazon", "paris-1"),
    ("pos-paris-1", "paris-2"),
])
#: Examples per run on SQLite (a quarter of it on PostgreSQL); raise it for a deeper search:
#: ``OMNICORE_STOCK_EXAMPLES=500 pytest tests/stock/test_stock_invariant.py``.
EXAMPLES = int(os.environ.get("OMNICORE_STOCK_EXAMPLES", "15"))
TTLS = st.sampled_from([None, dt.timedelta(minutes=2), dt.timedelta(minutes=20)])


class StockMachine(RuleBasedStateMachine):
    databases: ClassVar[DatabaseFactory]

    holds = Bundle("holds")
    transfers = Bundle("transfers")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.url, self.drop = self.run(type(self).databases())
        self.commerce = self.run(Commerce.open(
            self.url, clock=self.clock, dispatch=False, load_entry_points=False,
            auto_migrate=True, config={"database": {"pool_size": 2}},
        ))
        self.stock = self.commerce.stock
        #: on_hand of every level, as the calls' results say it must be.
        self.on_hand: dict[tuple[str, str], int] = defaultdict(int)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self.run(self.commerce.close())
            self.run(self.drop())
        finally:
            self.loop.close()

    def unchanged(self, before: dict[str, Any]) -> None:
        assert self.run(snapshot(self.commerce)) == before

    @initialize(quantities=st.lists(st.integers(0, 10), min_size=6, max_size=6))
    def stock_every_level(self, quantities: list[int]) -> None:
        levels = [(sku, where) for sku in ("TEE-M", "CAP") for where in LOCATIONS]
        for (sku, where), quantity in zip(levels, quantities, strict=True):
            if quantity:
                self.receive(sku, where, quantity)

    # -- the ledger -------------------------------------------------------------------------

    @rule(sku=SKUS, where=PLACES, quantity=st.integers(1, 8))
    def receive(self, sku: str, where: str, quantity: int) -> None:
        level = self.run(self.stock.receive(sku, where, quantity, source="erp"))
        self.on_hand[(sku, where)] += quantity
        assert level.on_hand == self.on_hand[(sku, where)]

    @rule(sku=SKUS, where=PLACES, quantity=st.integers(0, 10))
    def count(self, sku: str, where: str, quantity: int) -> None:
        level = self.run(self.stock.count(sku, where, quantity, source="staff"))
        self.on_hand[(sku, where)] = quantity
        assert level.on_hand == quantity

    @rule(sku=SKUS, where=PLACES, delta=st.integers(-6, 4).filter(bool))
    def adjust(self, sku: str, where: str, delta: int) -> None:
        if self.on_hand[(sku, where)] + delta < 0:
            before = self.run(snapshot(self.commerce))
            with pytest.raises(InvalidInput):
                self.run(self.stock.adjust(sku, where, delta, source="staff"))
            self.unchanged(before)
            return
        self.run(self.stock.adjust(sku, where, delta, source="staff"))
        self.on_hand[(sku, where)] += delta

    @rule(sku=SKUS, where=PLACES, quantity=st.integers(0, 6))
    def set_safety_stock(self, sku: str, where: str, quantity: int) -> None:
        level = self.run(self.stock.set_safety_stock(sku, where, quantity))
        assert (level.on_hand, level.safety_stock) == (self.on_hand[(sku, where)], quantity)

    @rule(sku=SKUS, where=PLACES, quantity=st.integers(1, 4))
    def sell(self, sku: str, where: str, quantity: int) -> None:
        free = self.run(self.stock.level(sku, where)).available
        if free < quantity:
            before = self.run(snapshot(self.commerce))
            with pytest.raises(OutOfStock) as info:
                self.run(self.stock.sell(sku, where, quantity, source="pos"))
            assert info.value.available == free
            self.unchanged(before)
            return
        self.run(self.stock.sell(sku, where, quantity, source="pos"))
        self.on_hand[(sku, where)] -= quantity

    @rule(target=transfers, sku=SKUS, route=st.permutations(LOCATIONS),
          quantity=st.integers(1, 5))
    def transfer(self, sku: str, route: list[str], quantity: int) -> Any:
        source, destination = route[0], route[1]
        free = self.run(self.stock.level(sku, source)).available
        if free < quantity:
            with pytest.raises(OutOfStock):
                self.run(self.stock.transfer(sku, source, destination, quantity, source="s"))
            return multiple()
        transfer = self.run(self.stock.transfer(sku, source, destination, quantity, source="s"))
        self.on_hand[(sku, source)] -= quantity
        return transfer

    @rule(transfer=consumes(transfers))
    def receive_transfer(self, transfer: Any) -> None:
        self.run(self.stock.receive_transfer(transfer.id, source="store"))
        self.on_hand[(transfer.sku, transfer.to_location)] += transfer.quantity

    # -- holds ------------------------------------------------------------------------------

    @rule(target=holds, sku=SKUS, quantity=st.integers(1, 5), to=HOLD_TARGETS, ttl=TTLS)
    def hold(self, sku: str, quantity: int, to: tuple[str, str | None],
             ttl: dt.timedelta | None) -> Any:
        return self.take_hold(sku, quantity, *to, ttl)

    @rule(target=holds, sku=SKUS, quantity=st.integers(1, 3), to=HOLD_TARGETS)
    def hold_briefly(self, sku: str, quantity: int, to: tuple[str, str | None]) -> Any:
        return self.take_hold(sku, quantity, *to, dt.timedelta(seconds=30))

    def take_hold(self, sku: str, quantity: int, channel: str, where: str | None,
                  ttl: dt.timedelta | None) -> Any:
        seen = self.run(self.stock.availability(sku, channel=channel))
        share = {loc.location: loc.available for loc in seen.locations}
        before = self.run(snapshot(self.commerce))
        call = self.stock.hold(sku, quantity, channel=channel, location=where, ttl=ttl)
        if where is not None and where not in CHANNELS[channel]:
            with pytest.raises(InvalidInput) as bad:
                self.run(call)
            assert bad.value.field == "location"
            self.unchanged(before)
            return multiple()
        can = share[where] if where is not None else seen.total
        if can < quantity:
            with pytest.raises(OutOfStock) as out:
                self.run(call)
            assert out.value.available == can
            self.unchanged(before)
            return multiple()
        hold = self.run(call)
        assert hold.quantity == quantity
        assert all(share[p.location] >= p.quantity for p in hold.parts)
        after = self.run(self.stock.availability(sku, channel=channel))
        assert after.total == seen.total - quantity
        return hold.id

    @rule(hold_id=consumes(holds))
    def release(self, hold_id: str) -> None:
        with contextlib.suppress(NotFound):  # revoked by a count, reclaimed or swept
            self.run(self.stock.release(hold_id))
        with pytest.raises(NotFound):
            self.run(self.stock.get_hold(hold_id))

    @rule(hold_id=holds)
    def allocate(self, hold_id: str) -> None:
        try:
            hold = self.run(self.stock.get_hold(hold_id))
        except NotFound:
            return
        expired = hold.expires_at is not None and hold.expires_at <= self.clock.now
        if expired:
            with pytest.raises(Conflict):
                self.run(self.stock.allocate(hold_id))
            return
        allocated = self.run(self.stock.allocate(hold_id, reference="order"))
        assert (allocated.kind, allocated.expires_at) == (HoldKind.ALLOCATION, None)

    @rule(hold_id=consumes(holds))
    def consume(self, hold_id: str) -> None:
        try:
            hold = self.run(self.stock.get_hold(hold_id))
        except NotFound:
            return
        if hold.expires_at is not None and hold.expires_at <= self.clock.now:
            with pytest.raises(Conflict):
                self.run(self.stock.consume(hold_id, source="wms"))
            return
        consumed = self.run(self.stock.consume(hold_id, source="wms"))
        assert consumed.parts == hold.parts
        for part in consumed.parts:
            self.on_hand[(consumed.sku, part.location)] -= part.quantity

    @rule(seconds=st.integers(1, 1500))
    def advance_clock(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def sweep(self) -> None:
        self.run(self.stock.sweep())
        levels = self.run(snapshot(self.commerce))["levels"]
        reserved = {(sku, where): r for sku, where, _, _, r in levels}
        assert reserved == {
            (lv.sku, lv.location): lv.reserved
            for lv in (self.run(self.stock.level(s, w)) for s, w in reserved)
        }  # nothing expired is left: stored and active reservations agree

    # -- the invariant ----------------------------------------------------------------------

    @invariant()
    def never_oversold(self) -> None:
        async def check() -> tuple[list[str], dict[tuple[str, str], int]]:
            async with self.commerce.db.read() as conn:
                problems = await invariant_violations(conn, self.clock.now)
                rows = await conn.execute(
                    select(stock_levels.c.sku, stock_levels.c.location_code,
                           stock_levels.c.on_hand))
                return problems, {(r.sku, r.location_code): r.on_hand for r in rows}

        problems, on_hand = self.run(check())
        assert problems == []
        keys = set(on_hand) | set(self.on_hand)
        assert {k: on_hand.get(k, 0) for k in keys} == {k: self.on_hand[k] for k in keys}


def run_machine(databases: DatabaseFactory, *, examples: int, steps: int) -> None:
    machine = type("Machine", (StockMachine,), {"databases": staticmethod(databases)})
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ))


async def built_world(url: str) -> None:
    async with Commerce.open(url, dispatch=False, load_entry_points=False,
                             auto_migrate=True) as commerce:
        await build_world(commerce, skus=("TEE-M", "CAP"))


def test_stock_invariant_on_sqlite(tmp_path: Path) -> None:
    template = tmp_path / "world.db"
    asyncio.run(built_world(f"sqlite+aiosqlite:///{template}"))

    async def databases() -> tuple[str, Callable[[], Awaitable[None]]]:
        path = tmp_path / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(template, path)  # closed cleanly: the WAL is checkpointed

        async def drop() -> None:
            for suffix in ("", "-wal", "-shm"):
                await asyncio.to_thread(Path(f"{path}{suffix}").unlink, missing_ok=True)

        return f"sqlite+aiosqlite:///{path}", drop

    run_machine(databases, examples=EXAMPLES, steps=30)


@pytest.mark.postgres
def test_stock_invariant_on_postgres(postgres_admin: str, postgres_template: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    def url_of(name: str) -> str:
        return make_url(postgres_admin).set(database=name).render_as_string(hide_password=False)

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(postgres_admin, timeout=5)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    world = f"omnicore_hw_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin(f'CREATE DATABASE "{world}" TEMPLATE "{postgres_template}"'))
    try:
        asyncio.run(built_world(url_of(world)))

        async def databases() -> tuple[str, Callable[[], Awaitable[None]]]:
            name = f"omnicore_h_{uuid.uuid4().hex[:10]}"
            await admin(f'CREATE DATABASE "{name}" TEMPLATE "{world}"')

            async def drop() -> None:
                await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

            return url_of(name), drop

        run_machine(databases, examples=max(3, EXAMPLES // 4), steps=25)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{world}" WITH (FORCE)'))
