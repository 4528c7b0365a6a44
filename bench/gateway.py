"""The GraphQL gateway under load: requests/s and latency at 32 concurrent connections.

Untimed set-up: the demo retailer (``omnicore.demo``: 12 stores, 280 products,
1,064 SKUs) in a fresh SQLite file (with ``--gateway-backends sqlite,postgresql``
also in a fresh PostgreSQL database ``omnicore_bench_gateway_*``), then the real
server — ``uvicorn --factory omnicore.gateway.server:app_factory`` (what
``omnicore serve`` runs), one worker by default, no access log — on a loopback
port.

Timed, by a load generator in a process of its own (``wrk``, ``hey`` and ``ab``
are not assumed: a small asyncio HTTP/1.1 client with keep-alive connections,
lighter than an HTTP library so that the client is not what is measured), each
scenario for ``--gateway-seconds`` after ``--gateway-warmup`` seconds, at
``--gateway-concurrency`` connections each sending its next request when the
previous answer arrives:

- (a) ``product(handle:)`` with its variants, their price and their
  availability per location (a product page), over the 280 handles in turn;
- (b) ``cartLinesAdd`` of one unit of a SKU to a small cart (each connection
  fills ``--gateway-carts`` carts created beforehand in turn, with the
  version read from the previous answer); a ``userError`` counts as an error;
- (c) ``{ __typename }`` on the storefront endpoint: the floor of a request
  (channel token look-up, limits, execution, JSON), on the same server.

(c) and (a) run ``--gateway-rounds`` times, alternated, so that both meet the
same machine (others' work on a shared machine moves the figures by ±20 %);
each row shows the scenario's median round, and a note gives every round's
(a)/(c). Each row gives requests/s, p50 and p99 latency, the server's CPU time per
request (from /proc) and the errors; then the ratios (a)/(c) and (b)/(c).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.report import Report, Table, percentile, verdict
from bench.stock_holds import _pg_database, _pg_execute, add_postgres_url, postgres_problem

NAME = "gateway"
CHANNEL_HEADER = "X-Omnicore-Channel-Token"
PRODUCT = ("query($handle: String!) { product(handle: $handle) { title variants { sku "
           "price { amount currency } availability { total inStock locations { locationCode "
           "available } } } } }")
CART_CREATE = "mutation { cartCreate { cart { id version } userErrors { code message } } }"
CART_ADD = ("mutation($id: ID!, $v: Int!, $lines: [CartLineInput!]!) { cartLinesAdd(cartId: "
            "$id, version: $v, lines: $lines) { cart { version quantity cost { total { amount "
            "currency } } } userErrors { code field message } } }")
TYPENAME = "{ __typename }"
TARGET_RATIO = 0.5


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--gateway-concurrency", type=int, default=32,
                       help="concurrent connections (32)")
    group.add_argument("--gateway-seconds", type=float, default=10.0,
                       help="timed seconds per scenario (10)")
    group.add_argument("--gateway-warmup", type=float, default=2.0,
                       help="untimed seconds before each scenario (2)")
    group.add_argument("--gateway-workers", type=int, default=1,
                       help="uvicorn worker processes (1)")
    group.add_argument("--gateway-rounds", type=int, default=3,
                       help="rounds of (c) then (a), alternated; the median round is shown (3)")
    group.add_argument("--gateway-carts", type=int, default=20,
                       help="carts per connection for cartLinesAdd (20)")
    group.add_argument("--gateway-backends", default="sqlite",
                       help="databases: sqlite, postgresql or both (sqlite)")
    add_postgres_url(group)


# -- the load generator (its own process) ------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection: POST a JSON body, read the answer."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, payload: dict[str, Any]) -> tuple[int, bytes]:
        body = json.dumps(payload).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"{self.extra}\r\n")
        self.writer.write(head.encode() + body)
        first = await self.reader.readline()
        if not first:  # the server closed an idle keep-alive connection: reconnect, resend
            self.close()
            await self.open()
            self.writer.write(head.encode() + body)
            first = await self.reader.readline()
        status = int(first.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


class Client:
    """What one connection sends: a product page, an add to cart, or ``__typename``."""

    def __init__(self, scenario: str, spec: dict[str, Any], index: int) -> None:
        self.scenario, self.spec, self.index = scenario, spec, index
        self.turn = index
        self.carts: list[list[Any]] = []  # [id, version]

    async def prepare(self, connection: Connection) -> None:
        if self.scenario != "cart":
            return
        for _ in range(self.spec["carts"]):
            _, body = await connection.post("/graphql", {"query": CART_CREATE})
            cart = json.loads(body)["data"]["cartCreate"]["cart"]
            self.carts.append([cart["id"], cart["version"]])

    def payload(self) -> dict[str, Any]:
        self.turn += 1
        if self.scenario == "product":
            handles = self.spec["handles"]
            return {"query": PRODUCT, "variables": {"handle": handles[self.turn % len(handles)]}}
        if self.scenario == "cart":
            skus = self.spec["skus"]
            cart = self.carts[self.turn % len(self.carts)]
            sku = skus[(self.index * 7919 + self.turn) % len(skus)]
            return {"query": CART_ADD, "variables": {
                "id": cart[0], "v": cart[1], "lines": [{"sku": sku, "quantity": 1}]}}
        return {"query": TYPENAME}

    def check(self, status: int, body: bytes) -> bool:
        if status != 200:
            return False
        answer = json.loads(body)
        if answer.get("errors"):
            return False
        if self.scenario == "cart":
            result = answer["data"]["cartLinesAdd"]
            if result["userErrors"]:
                return False
            self.carts[self.turn % len(self.carts)][1] = result["cart"]["version"]
        return True


async def _load(scenario: str, spec: dict[str, Any], pipe: Any) -> dict[str, Any]:
    clients = [Client(scenario, spec, i) for i in range(spec["concurrency"])]
    connections = [Connection(spec["host"], spec["port"], spec["headers"]) for _ in clients]
    await asyncio.gather(*(c.open() for c in connections))
    await asyncio.gather(*(client.prepare(c) for client, c in zip(clients, connections,
                                                                     strict=True)))
    pipe.send({"prepared": True})  # the parent starts counting the server's CPU
    samples: list[tuple[float, float, bool]] = []
    started = time.perf_counter()
    timed_from = started + spec["warmup"]
    timed_to = timed_from + spec["seconds"]

    async def loop(client: Client, connection: Connection) -> None:
        while (now := time.perf_counter()) < timed_to:
            status, body = await connection.post("/graphql", client.payload())
            done = time.perf_counter()
            samples.append((now, done, client.check(status, body)))

    usage = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(loop(cl, co) for cl, co in zip(clients, connections, strict=True)))
    after = resource.getrusage(resource.RUSAGE_SELF)
    for connection in connections:
        connection.close()
    timed = [(s, e, ok) for s, e, ok in samples if timed_from <= e <= timed_to]
    latencies = [(e - s) * 1000 for s, e, _ in timed]
    client_cpu = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
    lines = [len(c.carts) for c in clients]
    return {
        "requests": len(timed), "errors": sum(not ok for _, _, ok in timed),
        "rps": len(timed) / spec["seconds"],
        "p50": percentile(latencies, 0.5) if latencies else 0.0,
        "p99": percentile(latencies, 0.99) if latencies else 0.0,
        "client_cpu_share": client_cpu / (spec["warmup"] + spec["seconds"]),
        "carts": sum(lines), "all_requests": len(samples),
    }


def _load_process(scenario: str, spec: dict[str, Any], pipe: Any) -> None:
    try:
        pipe.send(asyncio.run(_load(scenario, spec, pipe)))
    except BaseException as exc:
        pipe.send({"failed": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        pipe.close()


# -- the server and the data ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _demo(url: str, config: Path) -> dict[str, Any]:
    from omnicore import Commerce
    from omnicore.config import load_config
    from omnicore.demo import create_demo

    async with Commerce.open(url, config=load_config(path=config), dispatch=False,
                             auto_migrate=True) as commerce:
        summary = await create_demo(commerce)
        handles, skus, after = [], [], None
        while True:
            page = await commerce.catalog.products(first=250, after=after)
            handles += [p.handle for p in page.items]
            skus += [v.sku for p in page.items for v in p.variants]
            if not page.has_next_page:
                break
            after = page.end_cursor
    web = next(c.public_token for c in summary.channels if c.code == "web")
    random.Random(7).shuffle(skus)
    return {"token": web, "handles": handles, "skus": skus}


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def _server_pids(root: int) -> list[int]:
    """The uvicorn process and its workers (children), from /proc."""
    pids = [root]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == root:
                pids.append(int(entry.name))
    return pids


def _start_server(url: str, config: Path, port: int, workers: int, log: Path) -> Any:
    env = {**os.environ, "OMNICORE_DATABASE_URL": url, "OMNICORE_CONFIG": str(config)}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "omnicore.gateway.server:app_factory",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
         "--no-access-log", "--log-level", "warning"],
        env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.read() == b"ready":
                    return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the server did not become ready in 120 s")


def _probe(port: int, token: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps(payload).encode(), method="POST",
        headers={"content-type": "application/json", CHANNEL_HEADER: token})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as refused:
        answer = json.load(refused)
    return answer


@contextlib.contextmanager
def _database(backend: str, postgres_url: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'demo.db'}"
        return
    name = f"omnicore_bench_gateway_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_execute(postgres_url, f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_database(postgres_url, name)
    finally:
        asyncio.run(_pg_execute(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


LABELS = {"sqlite": "SQLite file", "postgresql": "PostgreSQL"}
ROWS = [("a", "(a) product(handle) + variants, prices, availability per location"),
        ("b", "(b) cartLinesAdd, one unit, small cart"),
        ("c", "(c) { __typename }")]


def run(options: argparse.Namespace) -> Report:
    backends = [b.strip() for b in options.gateway_backends.split(",") if b.strip()]
    report = Report(NAME, params={
        "concurrency": options.gateway_concurrency, "seconds": options.gateway_seconds,
        "rounds": options.gateway_rounds,
        "warmup": options.gateway_warmup, "uvicorn_workers": options.gateway_workers,
        "carts_per_connection": options.gateway_carts, "backends": backends,
    })
    table = Table(
        f"GraphQL gateway on the demo data, {options.gateway_concurrency} connections, "
        f"uvicorn workers: {options.gateway_workers}",
        ["database", "scenario", "requests", "req/s", "p50 ms", "p99 ms",
         "server CPU ms/req", "errors", "vs (c)", "target"])
    report.tables.append(table)
    for backend in backends:
        if backend == "postgresql" and (problem := postgres_problem(options.postgres_url)):
            report.notes.append(f"PostgreSQL skipped: {problem}")
            continue
        results = _one_backend(options, backend, report)
        report.params[f"results_{backend}"] = results
        _rows(table, LABELS[backend], results)
        report.notes.append(
            f"{LABELS[backend]}: load generator CPU (share of one CPU) " + ", ".join(
                f"({k}) {results[k]['client_cpu_share']:.0%}" for k in ("a", "b", "c")
                if "client_cpu_share" in results[k]) + "; 1-minute load average after each "
            "scenario " + ", ".join(f"({k}) {results[k]['load_average']}" for k in ("a", "b", "c")
                                   if "load_average" in results[k]))
    return report


def _one_backend(options: argparse.Namespace, backend: str, report: Report
                 ) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="omnicore-bench-gateway-") as folder:
        where = Path(folder)
        config = where / "omnicore.toml"
        config.write_text("[plugins]\nallow = []\n")  # installed plugins stay out
        with _database(backend, options.postgres_url, where) as url:
            started = time.perf_counter()
            data = asyncio.run(_demo(url, config))
            report.notes.append(f"{LABELS[backend]}: the demo retailer was created in "
                                f"{time.perf_counter() - started:.1f} s (untimed)")
            port = _free_port()
            server = _start_server(url, config, port, options.gateway_workers,
                                   where / "server.log")
            try:
                return _scenarios(options, port, data, server.pid, report)
            finally:
                server.terminate()
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


def _rows(table: Table, database: str, results: dict[str, dict[str, Any]]) -> None:
    floor = results["c"]["rps"] or 1.0
    for key, label in ROWS:
        found = results[key]
        if found.get("pending"):
            table.add(database, label, 0, "pending", "—", "—", "—", found["pending"], "—", "—")
            continue
        ratio = found["rps"] / floor
        target = f"≥ {TARGET_RATIO}: **{verdict(ratio >= TARGET_RATIO)}**" if key == "a" else "—"
        table.add(database, label, found["requests"], round(found["rps"], 1),
                  round(found["p50"], 2), round(found["p99"], 2),
                  round(found["server_cpu_ms"], 2), found["errors"],
                  "1" if key == "c" else f"{ratio:.2f}", target)


def _scenarios(options: argparse.Namespace, port: int, data: dict[str, Any], server_pid: int,
               report: Report) -> dict[str, dict[str, Any]]:
    token = data["token"]
    spec = {"host": "127.0.0.1", "port": port, "headers": {CHANNEL_HEADER: token},
            "concurrency": options.gateway_concurrency, "seconds": options.gateway_seconds,
            "warmup": options.gateway_warmup, "handles": data["handles"], "skus": data["skus"],
            "carts": options.gateway_carts}
    results: dict[str, dict[str, Any]] = {}
    # (b) needs the storefront's cart mutations: say "pending" if they are not there yet
    probe = _probe(port, token, {"query": CART_CREATE})
    cart_ready = not probe.get("errors") and probe.get("data", {}).get("cartCreate", {}).get(
        "cart") is not None
    pids = _server_pids(server_pid)
    rounds: dict[str, list[dict[str, Any]]] = {"a": [], "c": []}
    for _ in range(max(options.gateway_rounds, 1)):  # alternated: both see the same machine
        for key, scenario in (("c", "typename"), ("a", "product")):
            rounds[key].append(_scenario(scenario, spec, pids))
    for key, runs in rounds.items():
        results[key] = sorted(runs, key=lambda found: found["rps"])[len(runs) // 2]
    if len(rounds["a"]) > 1:
        report.notes.append(
            "(a)/(c) per round: " + ", ".join(
                f"{a['rps'] / max(c['rps'], 1e-9):.2f} ({a['rps']:.0f}/{c['rps']:.0f} req/s)"
                for a, c in zip(rounds["a"], rounds["c"], strict=True))
            + "; the table shows each scenario's median round")
    if not cart_ready:
        results["b"] = {"pending": json.dumps(probe)[:200], "rps": 0.0}
        return results
    found = results["b"] = _scenario("cart", spec, pids)
    report.notes.append(
        f"(b) {found['carts']} carts were created before the timed window; "
        f"{found['requests']} lines added in it, i.e. about "
        f"{found['requests'] / max(found['carts'], 1):.1f} lines per cart.")
    return results


def _scenario(scenario: str, spec: dict[str, Any], pids: list[int]) -> dict[str, Any]:
    """One timed run of ``scenario`` by a load generator process of its own."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    load = context.Process(target=_load_process, args=(scenario, spec, send))
    load.start()
    send.close()  # the child's copy remains: recv() ends if the child dies
    before = 0.0
    try:
        found: dict[str, Any] = receive.recv()
        if found.get("prepared"):  # carts made: the server's CPU counts from here
            before = _cpu_seconds(pids)
            found = receive.recv()
    except EOFError:
        found = {"failed": f"the load generator died (exit code {load.exitcode})"}
    spent = _cpu_seconds(pids) - before
    load.join()
    if "failed" in found:
        raise RuntimeError(f"scenario {scenario}: {found['failed']}")
    # the server's CPU over warm-up and timed window, per request answered in them
    found["server_cpu_ms"] = spent * 1000 / max(found["all_requests"], 1)
    found["load_average"] = round(os.getloadavg()[0], 2)
    return found
