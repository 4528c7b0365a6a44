"""Fixtures and fakes for tests — ours and plugin authors'.

    from omnicore.testing import FakeClock, RecordingPlugin, seed_minimal

``FakeClock`` lets a test move time (hold expiry, back-off) without sleeping;
``RecordingPlugin`` collects the events delivered to it; ``seed_minimal``
creates a warehouse, a store, a web channel and a product with stock;
``counting_statements`` lists the SQL statements run inside a block.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import event

from omnicore.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from omnicore.commerce import Commerce
    from omnicore.events import Event

__all__ = ["FakeClock", "RecordingPlugin", "counting_statements", "paris_address",
           "seed_minimal"]


class FakeClock:
    """A clock that stands still until told to move."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float = 0, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds, **delta)
        return self.now


class RecordingPlugin:
    """Records every event delivered to it; can be told to fail the next ``fail_times`` calls."""

    def __init__(self, name: str = "recorder", *, fail_times: int = 0) -> None:
        self.name = name
        self.events: list[Event] = []
        self.fail_times = fail_times
        self.calls = 0

    @hookimpl
    def on_event(self, event: Event) -> None:
        self.calls += 1
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("recorder told to fail")
        self.events.append(event)

    def topics(self) -> list[str]:
        return [e.topic for e in self.events]


def paris_address(line1: str = "1 rue de Rivoli", postal_code: str = "75001") -> dict[str, Any]:
    return {"line1": line1, "city": "Paris", "postal_code": postal_code, "country": "FR"}


async def seed_minimal(commerce: Commerce, *, on_hand: int = 10) -> dict[str, Any]:
    """A warehouse ``wh``, a store ``paris-1``, channel ``web`` (EUR) and SKU ``TEE-M``."""
    hours = {"weekly": {d: [{"open": "10:00", "close": "19:00"}]
                        for d in ("mon", "tue", "wed", "thu", "fri", "sat")}}
    await commerce.locations.save({
        "code": "wh", "name": "Central warehouse", "kind": "warehouse",
        "address": paris_address("5 avenue du Port", "93200"), "geo": {"lat": 48.93, "lng": 2.36},
        "timezone": "Europe/Paris", "capabilities": ["ship"], "priority": 10,
    })
    await commerce.locations.save({
        "code": "paris-1", "name": "Paris Rivoli", "kind": "store", "address": paris_address(),
        "geo": {"lat": 48.8606, "lng": 2.3376}, "timezone": "Europe/Paris", "hours": hours,
        "capabilities": ["pickup", "ship_from_store", "returns"], "priority": 50,
    })
    channel = await commerce.channels.save({
        "code": "web", "name": "Web shop", "kind": "web", "currency": "EUR",
        "locations": [{"location": "wh", "priority": 0}, {"location": "paris-1", "priority": 1}],
    })
    product = await commerce.catalog.save_product({
        "handle": "classic-tee", "title": "Classic tee",
        "variants": [{"sku": "TEE-M", "title": "M"}, {"sku": "TEE-L", "title": "L"}],
    })
    await commerce.catalog.set_prices([
        {"sku": "TEE-M", "amount": {"amount": "19.90", "currency": "EUR"}},
        {"sku": "TEE-L", "amount": {"amount": "19.90", "currency": "EUR"}},
    ])
    if on_hand:
        await commerce.stock.receive("TEE-M", "wh", on_hand, source="seed")
    return {"channel": channel, "product": product}


@contextmanager
def counting_statements(commerce: Commerce) -> Iterator[list[str]]:
    """Every SQL statement ``commerce`` runs inside the block, in order (SQLite's
    ``BEGIN`` included) — on each of its engines: writes and inline SQLite reads."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engines = commerce.db.sync_engines()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
