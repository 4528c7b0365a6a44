"""The outbox across processes: a killed process loses nothing, two workers never duplicate.

Real OS processes (``tests/helpers/outbox_child.py`` run with ``sys.executable``) on a
real SQLite file and the real PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from omnicore import Commerce
from omnicore.store.tables import outbox_events
from omnicore.testing import FakeClock, RecordingPlugin

CHILD = Path(__file__).parents[1] / "helpers" / "outbox_child.py"
EVENTS = 5_000
BATCH = 500
CONSUMERS = ("sink-a", "sink-b")


def child_env() -> dict[str, str]:
    """The parent's environment without omnicore configuration."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OMNICORE_")}


async def run_child(*args: str, cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), *args, cwd=cwd, env=child_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def migrated_sqlite(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/shop.db"
    async with Commerce.open(url, load_entry_points=False, dispatch=False):
        pass
    return url


async def test_event_committed_before_kill_is_delivered_after_restart(tmp_path: Path) -> None:
    url = await migrated_sqlite(tmp_path)
    code, out, err = await run_child("commit-then-die", url, cwd=tmp_path)
    assert code == -signal.SIGKILL, err
    assert out.splitlines() == ["saved"]

    recorder = RecordingPlugin("recorder")
    async with Commerce.open(url, plugins=[recorder], load_entry_points=False,
                             dispatch=False) as commerce:
        assert (await commerce.locations.get("wh")).name == "Central warehouse"
        assert await commerce.outbox.counts() == {"pending": 1}
        assert await commerce.outbox.drain() == 1
        assert await commerce.outbox.drain() == 0
        assert recorder.topics() == ["location.updated"]
        assert recorder.events[0].payload["code"] == "wh"
        assert await commerce.outbox.counts() == {"delivered": 1}


async def test_worker_killed_mid_delivery_is_redelivered_after_its_lease(
    tmp_path: Path,
) -> None:
    url = await migrated_sqlite(tmp_path)
    code, out, err = await run_child("die-during-delivery", url, cwd=tmp_path)
    assert code == -signal.SIGKILL, err
    lines = out.splitlines()
    assert lines[0] == "saved" and lines[1].startswith("delivering ")
    assert "not killed" not in out

    clock = FakeClock(dt.datetime.now(dt.UTC))
    recorder = RecordingPlugin("recorder")
    async with Commerce.open(url, plugins=[recorder], load_entry_points=False,
                             dispatch=False, clock=clock) as commerce:
        lease = commerce.config.outbox.lease_seconds
        assert await commerce.outbox.drain() == 0  # the dead worker's lease still holds
        clock.advance(lease + 1)
        assert await commerce.outbox.drain() == 1
        assert recorder.topics() == ["location.updated"]
        [delivery] = await commerce.outbox.deliveries()
        assert delivery.status == "delivered"
        assert str(delivery.event_id) == lines[1].split()[1]


@pytest.mark.postgres
async def test_two_workers_deliver_5000_events_without_duplicates(
    postgres_url: str, tmp_path: Path
) -> None:
    sinks = [RecordingPlugin(name) for name in CONSUMERS]
    async with Commerce.open(postgres_url, plugins=sinks, load_entry_points=False,
                             dispatch=False) as commerce:
        for start in range(0, EVENTS, BATCH):
            async with commerce.uow() as tx:
                for n in range(start, start + BATCH):
                    tx.emit("test.ping", {"n": n})
        assert await commerce.outbox.counts() == {"pending": EVENTS * len(CONSUMERS)}
        async with commerce.db.read() as conn:
            event_ids = set((await conn.execute(select(outbox_events.c.id))).scalars())
    assert len(event_ids) == EVENTS

    outputs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(CHILD), "worker", postgres_url, str(output), *CONSUMERS,
            cwd=tmp_path, env=child_env(), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        for output in outputs
    ]
    try:
        for worker in workers:  # both are connected before either starts
            assert worker.stdout is not None
            ready = await asyncio.wait_for(worker.stdout.readline(), timeout=60)
            assert ready == b"ready\n", ready
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        results = await asyncio.wait_for(
            asyncio.gather(*(w.communicate() for w in workers)), timeout=120
        )
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    for worker, (out, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err.decode()
        assert out.decode().startswith("done "), out

    lines = [line.split() for output in outputs for line in output.read_text().splitlines()]
    per_worker = Counter(pid for _, _, pid in lines)
    assert len(per_worker) == 2, per_worker  # both workers really shared the work
    for consumer in CONSUMERS:
        received = Counter(int(event) for name, event, _ in lines if name == consumer)
        duplicates = {event: n for event, n in received.items() if n > 1}
        assert duplicates == {}, f"{consumer} received {len(duplicates)} events twice"
        assert set(received) == event_ids
    assert len(lines) == EVENTS * len(CONSUMERS)

    async with Commerce.open(postgres_url, load_entry_points=False, dispatch=False) as commerce:
        assert await commerce.outbox.counts() == {"delivered": EVENTS * len(CONSUMERS)}
        failed = await commerce.outbox.deliveries(status="pending")
        assert failed == []
