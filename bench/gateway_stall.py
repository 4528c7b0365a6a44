"""A product query's latency while two clients send stalling documents (issue 15 §1).

Untimed set-up: ``seed_minimal`` in a fresh SQLite file, the gateway app
(``create_app``) in this process, reached through httpx's ASGI transport: the event
loop is what a stalling document blocks, so the app, the attackers and the measured
client share one loop, as they share one uvicorn worker.

Timed, per scenario, ``--stall-requests`` product queries one after the other while
two attacker tasks loop sending the issue's document — 1,600 ``c:channel{code}``
selections (25 KB) — to ``/admin/graphql`` with a bad key (``bad key``) or a good
one (``good key``), and, for comparison, with no attacker (``quiet``). Rows: the
product query's p50 and p99, the attackers' requests answered and the median time
an attacker's refusal took. Target: p50 < 50 ms under attack.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import Report, Table, percentile, verdict

NAME = "gateway_stall"
STALL = "{" + " ".join("c:channel{code}" for _ in range(1600)) + "}"
PRODUCT = ("query($h: String!) { product(handle: $h) { handle title variants { sku "
           "price { amount currency } availability { total inStock } } } }")


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--stall-requests", type=int, default=200,
                       help="product queries timed per scenario (default 200)")


async def _measure(requests: int) -> list[list[Any]]:
    import httpx

    from omnicore import Commerce
    from omnicore.gateway import create_app
    from omnicore.gateway.app import CHANNEL_HEADER
    from omnicore.testing import seed_minimal

    rows = []
    with tempfile.TemporaryDirectory(prefix="omnicore-bench-stall-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'shop.db'}"
        commerce = await Commerce.open(url, dispatch=False, load_entry_points=False,
                                       auto_migrate=True)
        try:
            seeded = await seed_minimal(commerce)
            key = (await commerce.auth.create_staff_key("ops", ["VIEW_ORDERS"])).key
            handle = seeded["product"]["handle"] if isinstance(seeded["product"], dict) \
                else seeded["product"].handle
            transport = httpx.ASGITransport(app=create_app(commerce))
            async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
                token = seeded["channel"].public_token
                for scenario, bearer in (("quiet", None), ("bad key", "not-a-key"),
                                         ("good key", key)):
                    rows.append(await _scenario(client, scenario, bearer, token, handle,
                                                requests, CHANNEL_HEADER))
        finally:
            await commerce.close()
    return rows


async def _scenario(client: Any, scenario: str, bearer: str | None, token: str, handle: str,
                    requests: int, header: str) -> list[Any]:
    stop = False
    refusals: list[float] = []

    async def attacker() -> None:
        while not stop:
            started = time.perf_counter()
            await client.post("/admin/graphql", json={"query": STALL},
                              headers={"authorization": f"Bearer {bearer}"})
            refusals.append(time.perf_counter() - started)
            await asyncio.sleep(0)

    attackers = [asyncio.create_task(attacker()) for _ in range(2 if bearer else 0)]
    latencies = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = await client.post("/graphql", json={"query": PRODUCT, "variables": {"h": handle}},
                                   headers={header: token})
        latencies.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text
        await asyncio.sleep(0)  # the attackers' turn: in one process, requests interleave here
    stop = True
    await asyncio.gather(*attackers)
    p50 = percentile(latencies, 0.5) * 1000
    return [scenario, len(latencies), round(p50, 2), round(percentile(latencies, 0.99) * 1000, 2),
            len(refusals), round(percentile(refusals, 0.5) * 1000, 2) if refusals else "-",
            verdict(p50 < 50)]


def run(options: argparse.Namespace) -> Report:
    report = Report(NAME, params={"requests": options.stall_requests})
    table = Table("A product query while two clients send 1,600-selection documents "
                  "(in-process ASGI, SQLite)",
                  ["attackers", "queries", "p50 ms", "p99 ms", "attacks answered",
                   "attack p50 ms", "target p50 < 50 ms"])
    for row in asyncio.run(_measure(options.stall_requests)):
        table.add(*row)
    report.tables.append(table)
    return report
