"""``omnicore demo`` and ``omnicore serve`` as a user runs them: real processes, real ports."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from omnicore.cli.main import main
from omnicore.demo import DEMO_STAFF_KEY_NAME, issue_demo_staff_key
from omnicore.errors import Forbidden
from omnicore.gateway.app import CHANNEL_HEADER

PRODUCTS = "{ products(first: 3) { nodes { handle variants { sku price { amount } } } } }"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OMNICORE_")}


@contextmanager
def running(args: list[str], cwd: Path, port: int, log: Path) -> Iterator[str]:
    """``omnicore ARGS`` in a subprocess until /readyz answers; yields what it printed.

    Plugins installed in the environment stay out (they may need settings of their own).
    """
    config = cwd / "omnicore.toml"
    config.write_text("[plugins]\nallow = []\n")
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", "from omnicore.cli import main; main()",
             "--config", str(config), *args],
            cwd=cwd, env=_env(), stdout=output, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 180  # the demo's data first: many seconds
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).text == "ready":
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
            yield log.read_text()
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_demo_prints_what_a_first_user_needs_and_serves_it(tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "demo.db"
    with running(["--database-url", str(database), "demo", "--port", str(port)], tmp_path,
                 port, tmp_path / "demo.log") as printed:
        assert f"http://127.0.0.1:{port}/graphql" in printed
        tokens = dict(re.findall(r"^\s+(\S+)\s.*\s(pub_\S+)$", printed, re.M))
        assert {"web", "app", "amazon-fr"} <= set(tokens)
        keys = re.findall(r"^\s+(ock_\S+)$", printed, re.M)
        assert len(keys) == 1

        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").text == "ok"
        shop = httpx.post(f"{base}/graphql", json={"query": PRODUCTS},
                          headers={CHANNEL_HEADER: tokens["web"]})
        assert shop.status_code == 200, shop.text
        nodes = shop.json()["data"]["products"]["nodes"]
        assert len(nodes) == 3 and nodes[0]["variants"][0]["price"]["amount"]

        admin = httpx.post(f"{base}/admin/graphql", json={"query": "{ __typename }"},
                           headers={"authorization": f"Bearer {keys[0]}"})
        assert admin.json() == {"data": {"__typename": "AdminQuery"}}, admin.text
        refused = httpx.post(f"{base}/admin/graphql", json={"query": "{ __typename }"})
        assert refused.status_code == 401
        page = httpx.get(f"{base}/graphql", headers={"accept": "text/html"})
        assert "GraphiQL" in page.text

    # A second run finds the retailer and issues a new key: the first one is revoked.
    port = free_port()
    with running(["--database-url", str(database), "demo", "--port", str(port)], tmp_path,
                 port, tmp_path / "again.log") as printed:
        assert "already present" in printed
        (second,) = re.findall(r"^\s+(ock_\S+)$", printed, re.M)
        assert second != keys[0]
        admin = f"http://127.0.0.1:{port}/admin/graphql"
        old = httpx.post(admin, json={"query": "{ __typename }"},
                         headers={"authorization": f"Bearer {keys[0]}"})
        assert old.status_code == 401 and "revoked" in old.text
        new = httpx.post(admin, json={"query": "{ __typename }"},
                         headers={"authorization": f"Bearer {second}"})
        assert new.status_code == 200

    # `omnicore serve` with uvicorn workers: each imports the app from the factory string.
    port = free_port()
    with running(["--database-url", str(database), "serve", "--port", str(port),
                  "--workers", "2"], tmp_path, port, tmp_path / "serve.log") as printed:
        assert "ock_" not in printed and "pub_" not in printed  # serve prints no secret
        for _ in range(4):
            shop = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": PRODUCTS},
                              headers={CHANNEL_HEADER: tokens["web"]})
            assert shop.status_code == 200, shop.text
    assert len(re.findall(r"Started server process", (tmp_path / "serve.log").read_text())) == 2


async def test_demo_staff_key_rotates(commerce: Any) -> None:
    first = await issue_demo_staff_key(commerce)
    principal = await commerce.auth.authenticate_staff(first.key)
    assert principal.name == DEMO_STAFF_KEY_NAME
    assert {p.value for p in principal.permissions} >= {"MANAGE_STAFF", "MANAGE_CATALOG",
                                                        "VIEW_ORDERS", "MANAGE_STOCK"}
    assert principal.locations is None
    other = await commerce.auth.create_staff_key("someone else", ["VIEW_ORDERS"])

    second = await issue_demo_staff_key(commerce)
    with pytest.raises(Forbidden):
        await commerce.auth.authenticate_staff(first.key)
    assert (await commerce.auth.authenticate_staff(second.key)).key_id == second.id
    assert (await commerce.auth.authenticate_staff(other.key)).name == "someone else"


def test_serve_refuses_bad_gateway_settings_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "omnicore.toml"
    config.write_text("[gateway]\nmax_depth = 0\n")
    started: list[Any] = []
    monkeypatch.setattr("omnicore.gateway.server.serve", lambda *a, **k: started.append(a))
    result = CliRunner().invoke(main, ["--config", str(config), "serve"])
    assert result.exit_code == 1
    assert "gateway.max_depth" in result.output and "positive integer" in result.output
    assert not started
