"""One racing OS process for ``tests/stock/test_stock_races.py``.

    python tests/helpers/stock_race_worker.py '<json config>'

The worker opens its own ``Commerce`` on the shared database, warms its connection
pool, prints ``ready`` and blocks on stdin until the test writes ``go`` to every
worker at once (the barrier); then it runs ``tasks`` asyncio tasks concurrently and
prints one JSON line: how each call ended.

Modes:

- ``hold``: each task tries once to hold 1 unit of ``sku`` for ``channel``.
- ``mixed``: each task runs ``rounds`` rounds of hold(A) then hold(B) (or B then A),
  counts, receipts, short-lived holds, sweeps, allocations, consumes and releases.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import sys
from collections import Counter
from typing import Any

from omnicore import Commerce
from omnicore.errors import Conflict, InvalidInput, NotFound, OutOfStock

EXPECTED = (OutOfStock, NotFound, Conflict)


class Tally:
    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.hold_ids: list[str] = []

    async def call(self, name: str, coro: Any, *, also: tuple[type[Exception], ...] = ()) -> Any:
        try:
            result = await coro
        except (*EXPECTED, *also) as exc:
            self.outcomes[f"{name}:{type(exc).__name__}"] += 1
            return None
        except Exception as exc:  # a deadlock, a serialization failure, a lost lock …
            self.outcomes[f"{name}:unexpected"] += 1
            self.unexpected.append(f"{name}: {type(exc).__name__}: {exc}"[:500])
            return None
        self.outcomes[f"{name}:ok"] += 1
        return result


async def hold_once(commerce: Commerce, cfg: dict[str, Any], tally: Tally) -> None:
    hold = await tally.call("hold", commerce.stock.hold(
        cfg["sku"], 1, channel=cfg["channel"], location=cfg.get("location")))
    if hold is not None:
        tally.hold_ids.append(hold.id)


async def mixed(commerce: Commerce, cfg: dict[str, Any], tally: Tally, rng: random.Random) -> None:
    stock = commerce.stock
    a, b = cfg["skus"]
    places = cfg["locations"]
    for _ in range(cfg["rounds"]):
        first, second = (a, b) if rng.random() < 0.5 else (b, a)
        taken = []
        for sku in (first, second):
            ttl = dt.timedelta(seconds=1) if rng.random() < 0.2 else None
            hold = await tally.call("hold", stock.hold(
                sku, rng.randint(1, 3), channel="web", ttl=ttl,
                location=rng.choice([None, None, *places])))
            if hold is not None:
                taken.append(hold)
        roll = rng.random()
        if roll < 0.35:
            await tally.call("count", stock.count(
                rng.choice((a, b)), rng.choice(places), rng.randint(0, 12), source="counter"))
        elif roll < 0.5:
            await tally.call("receive", stock.receive(
                rng.choice((a, b)), rng.choice(places), rng.randint(1, 4), source="erp"))
        elif roll < 0.6:
            await tally.call("adjust", stock.adjust(
                rng.choice((a, b)), rng.choice(places), -1, source="staff"),
                also=(InvalidInput,))  # refused when nothing is left on the shelf
        elif roll < 0.7:
            await tally.call("sweep", stock.sweep())
        elif roll < 0.8:
            await tally.call("sell", stock.sell(
                rng.choice((a, b)), rng.choice(places), 1, source="pos"))
        rng.shuffle(taken)
        for hold in taken:
            end = rng.random()
            if end < 0.2:
                if await tally.call("allocate", stock.allocate(hold.id)) is not None:
                    await tally.call("consume", stock.consume(hold.id, source="wms"))
            elif end < 0.9:
                await tally.call("release", stock.release(hold.id))
            # else: abandoned, left to expire or to be revoked


async def main(cfg: dict[str, Any]) -> None:
    pool = cfg.get("pool_size", 3)
    async with Commerce.open(
        cfg["url"], dispatch=False, load_entry_points=False, auto_migrate=False,
        config={"database": {"pool_size": pool}},
    ) as commerce:
        probe = cfg.get("sku") or cfg["skus"][0]
        # Open the pool's connections now, so the race is not a race to connect.
        await asyncio.gather(*(commerce.stock.availability(probe, channel="web")
                               for _ in range(pool)))
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("no go")
        tally = Tally()
        if cfg["mode"] == "hold":
            jobs = [hold_once(commerce, cfg, tally) for _ in range(cfg["tasks"])]
        else:
            jobs = [mixed(commerce, cfg, tally, random.Random(f"{cfg['seed']}-{i}"))
                    for i in range(cfg["tasks"])]
        await asyncio.gather(*jobs)
        print(json.dumps({"outcomes": dict(tally.outcomes), "unexpected": tally.unexpected,
                          "hold_ids": tally.hold_ids}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
