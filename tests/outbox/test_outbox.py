"""The outbox in one process: retries with back-off, dead letters, re-drive, dispatcher."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from omnicore import Commerce, InvalidInput, hookimpl
from omnicore.config import OutboxConfig
from omnicore.events import Event
from omnicore.outbox._service import backoff_delay
from omnicore.testing import FakeClock, RecordingPlugin, paris_address

LOCATION = {
    "code": "wh", "name": "Warehouse", "kind": "warehouse", "address": paris_address(),
    "geo": {"lat": 48.9, "lng": 2.4},
}

Opener = Callable[..., Any]


@pytest.fixture
async def open_commerce(db_url: str, clock: FakeClock) -> AsyncIterator[Opener]:
    """Opens Commerce instances on this test's database; closes them at the end."""
    opened: list[Commerce] = []

    async def opener(*plugins: object, **kwargs: Any) -> Commerce:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("dispatch", False)
        commerce = await Commerce.open(db_url, plugins=plugins, load_entry_points=False,
                                       auto_migrate=True, **kwargs)
        opened.append(commerce)
        return commerce

    yield opener
    for commerce in opened:
        await commerce.close()


async def test_delivered_after_two_failures(open_commerce: Opener, clock: FakeClock) -> None:
    recorder = RecordingPlugin(fail_times=2)
    commerce = await open_commerce(recorder)
    await commerce.locations.save(LOCATION)

    assert await commerce.outbox.drain() == 1  # first attempt fails
    [delivery] = await commerce.outbox.deliveries()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_error is not None and "recorder told to fail" in delivery.last_error
    # back-off of the first retry: base 1 s ± 20 % jitter
    wait = (delivery.next_attempt_at - clock.now).total_seconds()
    assert 0.8 <= wait <= 1.2

    assert await commerce.outbox.drain() == 0  # not due yet
    clock.advance(0.75)
    assert await commerce.outbox.drain() == 0
    clock.advance(0.5)
    assert await commerce.outbox.drain() == 1  # second attempt fails
    [delivery] = await commerce.outbox.deliveries()
    assert (delivery.status, delivery.attempts) == ("pending", 2)
    wait = (delivery.next_attempt_at - clock.now).total_seconds()
    assert 1.6 <= wait <= 2.4  # doubled

    assert await commerce.outbox.drain() == 0
    clock.advance(2.5)
    assert await commerce.outbox.drain() == 1  # third attempt succeeds
    [delivery] = await commerce.outbox.deliveries()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert delivery.delivered_at == clock.now
    assert recorder.calls == 3
    assert recorder.topics() == ["location.updated"]  # exactly one recorded event
    clock.advance(3600)
    assert await commerce.outbox.drain() == 0  # never delivered again
    assert len(recorder.events) == 1
    assert await commerce.outbox.counts() == {"delivered": 1}


async def test_dead_letter_and_retry(open_commerce: Opener, clock: FakeClock) -> None:
    failing = RecordingPlugin("failing", fail_times=1000)
    other = RecordingPlugin("other", fail_times=1000)
    commerce = await open_commerce(failing, other, config={"outbox": {"max_attempts": 3}})
    await commerce.locations.save(LOCATION)

    for attempt in range(1, 4):
        assert await commerce.outbox.drain() == 2
        if attempt < 3:
            assert await commerce.outbox.counts() == {"pending": 2}
        clock.advance(3600)
    assert await commerce.outbox.counts() == {"dead": 2}
    dead = await commerce.outbox.deliveries(status="dead", consumer="failing")
    assert len(dead) == 1 and dead[0].attempts == 3
    assert "recorder told to fail" in (dead[0].last_error or "")
    clock.advance(days=30)
    assert await commerce.outbox.drain() == 0  # dead letters are not retried by themselves
    assert failing.calls == 3

    # re-drive one consumer's dead letters once the vendor is back
    failing.fail_times = 0
    assert await commerce.outbox.retry(consumer="failing") == 1
    [redriven] = await commerce.outbox.deliveries(consumer="failing")
    assert (redriven.status, redriven.attempts) == ("pending", 0)
    assert await commerce.outbox.drain() == 1
    [redriven] = await commerce.outbox.deliveries(consumer="failing")
    assert (redriven.status, redriven.attempts) == ("delivered", 1)
    assert failing.topics() == ["location.updated"]
    assert (await commerce.outbox.deliveries(consumer="other"))[0].status == "dead"

    # by id; a delivered one is not re-driven
    other.fail_times = 0
    [other_dead] = await commerce.outbox.deliveries(consumer="other")
    assert await commerce.outbox.retry([other_dead.id, redriven.id]) == 1
    assert await commerce.outbox.drain() == 1
    assert other.topics() == ["location.updated"]
    assert await commerce.outbox.retry() == 0
    assert await commerce.outbox.counts() == {"delivered": 2}


async def test_a_consumer_is_only_delivered_where_it_is_loaded(
    open_commerce: Opener,
) -> None:
    emitter = await open_commerce(RecordingPlugin("a"), RecordingPlugin("b"))
    await emitter.locations.save(LOCATION)
    assert await emitter.outbox.counts() == {"pending": 2}

    only_a = RecordingPlugin("a")
    worker = await open_commerce(only_a)
    assert await worker.outbox.drain() == 1
    assert only_a.topics() == ["location.updated"]
    assert [d.status for d in await worker.outbox.deliveries(consumer="b")] == ["pending"]

    # events emitted where nobody consumes are kept, without deliveries
    bare = await open_commerce()
    await bare.locations.save({**LOCATION, "code": "store-2"})
    assert await bare.outbox.counts() == {"delivered": 1, "pending": 1}


async def test_deliveries_filters(sqlite_url: str, clock: FakeClock) -> None:
    async with Commerce.open(sqlite_url, clock=clock, dispatch=False, load_entry_points=False,
                             plugins=[RecordingPlugin()]) as commerce:
        with pytest.raises(InvalidInput) as info:
            await commerce.outbox.deliveries(status="lost")
        assert info.value.field == "status"
        for index in range(3):
            await commerce.locations.save({**LOCATION, "code": f"wh-{index}"})
        newest_first = await commerce.outbox.deliveries(limit=2)
        assert len(newest_first) == 2
        assert newest_first[0].event_id > newest_first[1].event_id
        assert await commerce.outbox.deliveries(status="delivered") == []
        assert len(await commerce.outbox.deliveries(status="pending", consumer="recorder")) == 3
        assert await commerce.outbox.deliveries(consumer="nobody") == []


class Signalling:
    """Sets an asyncio.Event when it receives an event; fails while ``failing``."""

    name = "signalling"

    def __init__(self) -> None:
        self.received: list[Event] = []
        self.arrived = asyncio.Event()
        self.attempted = asyncio.Event()
        self.failing = False

    @hookimpl
    async def on_event(self, event: Event) -> None:
        self.attempted.set()
        if self.failing:
            raise RuntimeError("not now")
        self.received.append(event)
        self.arrived.set()


async def test_background_dispatcher_delivers_on_commit(open_commerce: Opener) -> None:
    # A poll interval of an hour: only the wake-up on commit can deliver within the timeout.
    config = {"outbox": {"poll_interval_seconds": 3600, "max_attempts": 1}}
    plugin = Signalling()
    commerce = await open_commerce(plugin, dispatch=True, clock=None, config=config)
    await commerce.locations.save(LOCATION)
    await asyncio.wait_for(plugin.arrived.wait(), timeout=20)
    assert [e.topic for e in plugin.received] == ["location.updated"]

    # a failed attempt goes dead at once (max_attempts 1)
    plugin.failing = True
    plugin.attempted.clear()
    await commerce.locations.save({**LOCATION, "name": "Renamed"})
    await asyncio.wait_for(plugin.attempted.wait(), timeout=20)
    await commerce.close()  # lets the dispatcher finish its batch, settling the failure

    # another instance re-drives it: retry() wakes that instance's dispatcher
    revived = Signalling()
    commerce = await open_commerce(revived, dispatch=True, clock=None, config=config)
    assert await commerce.outbox.counts() == {"delivered": 1, "dead": 1}
    assert await commerce.outbox.retry() == 1
    await asyncio.wait_for(revived.arrived.wait(), timeout=20)
    assert [e.payload["name"] for e in revived.received] == ["Renamed"]
    await commerce.close()

    reader = await open_commerce()
    assert await reader.outbox.counts() == {"delivered": 2}
    assert plugin.received[0].topic == "location.updated"


async def test_a_commit_during_an_empty_poll_is_not_missed(sqlite_url: str) -> None:
    """The wake-up set by a commit while the dispatcher is querying must not be lost."""
    plugin = Signalling()
    async with Commerce.open(
        sqlite_url, plugins=[plugin], load_entry_points=False, dispatch=False,
        config={"outbox": {"poll_interval_seconds": 3600}},
    ) as commerce:
        dispatcher = commerce._dispatcher
        original_claim = dispatcher._claim
        committed: list[bool] = []

        async def claim_then_commit(consumers: Any) -> Any:
            claimed = await original_claim(consumers)
            if not committed:  # the first, empty poll: a save commits before it returns
                committed.append(True)
                await commerce.locations.save(LOCATION)
            return claimed

        dispatcher._claim = claim_then_commit  # type: ignore[method-assign]
        commerce.start_dispatcher()
        await asyncio.wait_for(plugin.arrived.wait(), timeout=20)
        assert committed and [e.topic for e in plugin.received] == ["location.updated"]


def test_backoff_grows_and_is_capped() -> None:
    config = OutboxConfig(base_delay_seconds=2, max_delay_seconds=60)
    rng = random.Random(7)
    for attempts, raw in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 32)]:
        for _ in range(50):
            assert raw * 0.8 <= backoff_delay(attempts, config, rng) <= raw * 1.2
    for attempts in (6, 10, 60):
        assert 48 <= backoff_delay(attempts, config, rng) <= 60
    assert dt.timedelta(seconds=backoff_delay(0, config, rng)) <= dt.timedelta(seconds=2.4)
