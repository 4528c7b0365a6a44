"""Child processes for the outbox tests (run with ``sys.executable``).

    outbox_child.py commit-then-die URL
        open Commerce with a consumer named ``recorder`` (no dispatcher), save a
        location, print ``saved``, then SIGKILL itself: the event is committed
        but never delivered.

    outbox_child.py die-during-delivery URL
        save a location, then drain: the ``recorder`` consumer SIGKILLs the
        process from inside ``on_event``, after the dispatcher took its lease.

    outbox_child.py worker URL OUTPUT CONSUMER [CONSUMER …]
        open Commerce with one file-appending consumer per name, print
        ``ready``, wait for ``go`` on stdin, then drain until no delivery is
        pending; every delivery appends ``<consumer> <event id> <pid>`` to
        OUTPUT. Prints ``done <deliveries attempted>``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import IO, Any

from omnicore import Commerce, hookimpl
from omnicore.testing import paris_address

LOCATION = {
    "code": "wh", "name": "Central warehouse", "kind": "warehouse",
    "address": paris_address("5 avenue du Port", "93200"), "geo": {"lat": 48.93, "lng": 2.36},
}
WORKER_DEADLINE_SECONDS = 120


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class Recorder:
    name = "recorder"

    def __init__(self, die_on_event: bool = False) -> None:
        self.die_on_event = die_on_event

    @hookimpl
    def on_event(self, event: Any) -> None:
        if self.die_on_event:
            print(f"delivering {event.id}", flush=True)
            die()


class FileSink:
    """Appends every event it receives to a file of this process."""

    def __init__(self, name: str, output: IO[str]) -> None:
        self.name = name
        self.output = output
        self.received = 0

    @hookimpl
    def on_event(self, event: Any) -> None:
        self.output.write(f"{self.name} {event.id} {os.getpid()}\n")
        self.received += 1


async def open_commerce(url: str, plugins: list[object]) -> Commerce:
    return await Commerce.open(url, plugins=plugins, load_entry_points=False, dispatch=False,
                               auto_migrate=False)


async def commit_then_die(url: str) -> None:
    commerce = await open_commerce(url, [Recorder()])
    await commerce.locations.save(LOCATION)
    print("saved", flush=True)
    die()


async def die_during_delivery(url: str) -> None:
    commerce = await open_commerce(url, [Recorder(die_on_event=True)])
    await commerce.locations.save(LOCATION)
    print("saved", flush=True)
    await commerce.outbox.drain()
    print("not killed", flush=True)  # the test fails if this is reached


async def worker(url: str, output: IO[str], consumers: list[str]) -> None:
    sinks = [FileSink(name, output) for name in consumers]
    commerce = await open_commerce(url, list(sinks))
    try:
        print("ready", flush=True)
        go = await asyncio.to_thread(sys.stdin.readline)
        if go.strip() != "go":
            raise SystemExit(f"expected go, got {go!r}")
        attempted = 0
        deadline = time.monotonic() + WORKER_DEADLINE_SECONDS
        while True:
            count = await commerce.outbox.drain()
            attempted += count
            if count:
                continue
            if not (await commerce.outbox.counts()).get("pending", 0):
                break
            if time.monotonic() > deadline:
                raise SystemExit("deliveries still pending at the deadline")
            # What is left is leased by the other worker: poll until it settles it.
            await asyncio.sleep(0.01)
        output.flush()
        print(f"done {attempted} {sum(s.received for s in sinks)}", flush=True)
    finally:
        await commerce.close()


def main(argv: list[str]) -> None:
    mode, url, *rest = argv
    if mode == "commit-then-die":
        asyncio.run(commit_then_die(url))
    elif mode == "die-during-delivery":
        asyncio.run(die_during_delivery(url))
    elif mode == "worker":
        with open(rest[0], "a", encoding="utf-8") as output:
            asyncio.run(worker(url, output, rest[1:]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
