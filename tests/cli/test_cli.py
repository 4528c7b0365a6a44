"""The ``omnicore`` command line, through click's CliRunner and a real subprocess."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from omnicore import Commerce
from omnicore.cli.main import main
from omnicore.errors import SchemaMismatch
from omnicore.store.migrate import head_revision
from omnicore.testing import seed_minimal


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No omnicore.toml or OMNICORE_* variable of the developer leaks into a test."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("OMNICORE_") and name != "OMNICORE_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def seed(url: str, *, plugins: bool = False) -> None:
    async def go() -> None:
        async with Commerce.open(url, dispatch=False, load_entry_points=plugins) as commerce:
            await seed_minimal(commerce)

    asyncio.run(go())


def levels(url: str, *keys: tuple[str, str]) -> list[int]:
    async def go() -> list[int]:
        async with Commerce.open(url, dispatch=False, load_entry_points=False) as commerce:
            return [(await commerce.stock.level(sku, loc)).on_hand for sku, loc in keys]

    return asyncio.run(go())


def outbox_counts(url: str) -> dict[str, int]:
    async def go() -> dict[str, int]:
        async with Commerce.open(url, dispatch=False, load_entry_points=False) as commerce:
            return await commerce.outbox.counts()

    return asyncio.run(go())


# -- help ----------------------------------------------------------------------------------


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def test_every_command_has_a_real_help() -> None:
    found = list(_commands(main))
    assert {("migrate",), ("worker",), ("plugins",), ("import",), ("import", "stock"),
            ("import", "catalog"), ("demo",)} <= set(found)
    for path in [(), *found]:
        result = invoke(*path, "--help")
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"Usage: {' '.join(('main', *path))}")
        body = result.stdout.split("\n\n", 2)[1].strip()
        assert len(body) > 30, (path, body)
    assert "--database-url" in invoke("--help").stdout
    assert "--rejects" in invoke("import", "stock", "--help").stdout
    assert "--once" in invoke("worker", "--help").stdout


# -- migrate -------------------------------------------------------------------------------


def _migrate_then_open(url: str) -> None:
    async def open_strict() -> None:
        async with Commerce.open(url, auto_migrate=False, dispatch=False,
                                 load_entry_points=False):
            pass

    with pytest.raises(SchemaMismatch):
        asyncio.run(open_strict())
    first = invoke("--database-url", url, "migrate")
    assert first.exit_code == 0
    assert f"migrated from (empty database) to {head_revision()}" in first.stdout
    asyncio.run(open_strict())
    again = invoke("--database-url", url, "migrate")
    assert again.exit_code == 0 and "nothing to do" in again.stdout


def test_migrate_an_empty_sqlite_file(sqlite_url: str) -> None:
    _migrate_then_open(sqlite_url)


@pytest.mark.postgres
def test_migrate_an_empty_postgres_database(empty_postgres_url: str) -> None:
    _migrate_then_open(empty_postgres_url)


# -- import --------------------------------------------------------------------------------

STOCK_CSV = """sku,location,on_hand
TEE-M,wh,25
TEE-L,wh
TEE-L,paris-1,lots
GHOST,wh,4
TEE-L,paris-1,6
"""


def test_import_stock_prints_summary_and_rejects(db_url: str, tmp_path: Path) -> None:
    seed(db_url)
    path = tmp_path / "counts.csv"
    path.write_text(STOCK_CSV)
    result = invoke("--database-url", db_url, "import", "stock", str(path))
    assert result.exit_code == 0, result.output
    assert "5 rows read, 2 accepted, 3 rejected" in result.stdout
    assert "line 3: on_hand: is required" in result.stdout
    assert "line 4: on_hand: 'lots' is not an integer" in result.stdout
    assert "line 5: sku: no variant 'GHOST'" in result.stdout
    assert "importing counts.csv" in result.stderr  # the progress bar
    assert levels(db_url, ("TEE-M", "wh"), ("TEE-L", "paris-1"), ("TEE-L", "wh")) == [25, 6, 0]

    rejects = tmp_path / "rejects.csv"
    again = invoke("--database-url", db_url, "import", "stock", str(path), "--rejects",
                   str(rejects))
    assert again.exit_code == 0 and "line 3" not in again.stdout
    with rejects.open(newline="") as handle:
        assert list(csv.reader(handle)) == [
            ["line", "field", "message"], ["3", "on_hand", "is required"],
            ["4", "on_hand", "'lots' is not an integer"], ["5", "sku", "no variant 'GHOST'"]]


def test_import_exit_codes(sqlite_url: str, tmp_path: Path) -> None:
    seed(sqlite_url)
    missing = invoke("--database-url", sqlite_url, "import", "stock", str(tmp_path / "no.csv"))
    assert missing.exit_code == 1 and "cannot read" in missing.stderr
    header = tmp_path / "header.csv"
    header.write_text("sku,where,on_hand\nTEE-M,wh,1\n")
    bad_header = invoke("--database-url", sqlite_url, "import", "stock", str(header))
    assert bad_header.exit_code == 1 and "header" in bad_header.stderr
    all_bad = tmp_path / "bad.csv"
    all_bad.write_text("sku,location,on_hand\nTEE-M,wh,-1\nTEE-M,nowhere,1\n")
    rejected = invoke("--database-url", sqlite_url, "import", "stock", str(all_bad))
    assert rejected.exit_code == 1
    assert "2 rows read, 0 accepted, 2 rejected" in rejected.stdout
    empty = tmp_path / "empty.csv"
    empty.write_text("sku,location,on_hand\n")
    assert invoke("--database-url", sqlite_url, "import", "stock", str(empty)).exit_code == 0
    assert levels(sqlite_url, ("TEE-M", "wh")) == [10]


def test_import_catalog_jsonl_with_format_option(sqlite_url: str, tmp_path: Path) -> None:
    seed(sqlite_url)
    path = tmp_path / "catalog.txt"
    path.write_text("\n".join([
        json.dumps({"handle": "mug", "title": "Mug", "variants": [{"sku": "MUG-1"}],
                    "prices": [{"sku": "MUG-1", "amount": {"amount": "9.90", "currency": "EUR"},
                                "channel": "web"}]}),
        json.dumps({"handle": "bowl", "title": "Bowl", "variants": [{"sku": "TEE-M"}]}),
    ]))
    guessed = invoke("--database-url", sqlite_url, "import", "catalog", str(path))
    assert guessed.exit_code == 1 and "format" in guessed.stderr
    result = invoke("--database-url", sqlite_url, "import", "catalog", str(path),
                    "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert "2 rows read, 1 accepted, 1 rejected" in result.stdout
    assert "line 2: variants[0].sku:" in result.stdout

    async def check() -> None:
        async with Commerce.open(sqlite_url, dispatch=False, load_entry_points=False) as c:
            assert (await c.catalog.product(sku="MUG-1")).handle == "mug"
            web = await c.catalog.prices_for(["MUG-1"], currency="EUR", channel="web")
            assert str(web["MUG-1"].amount.amount) == "9.90"

    asyncio.run(check())


# -- worker --------------------------------------------------------------------------------


def test_worker_once_delivers_pending_events(db_url: str) -> None:
    seed(db_url, plugins=True)  # the installed testplugin consumes events
    pending = outbox_counts(db_url).get("pending", 0)
    assert pending > 0
    result = invoke("--database-url", db_url, "worker", "--once", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert f"{pending} deliveries made, 0 failed" in result.stdout
    assert outbox_counts(db_url) == {"delivered": pending}


def test_worker_runs_until_sigterm(sqlite_url: str) -> None:
    seed(sqlite_url, plugins=True)
    assert outbox_counts(sqlite_url).get("pending", 0) > 0
    process = subprocess.Popen(
        [sys.executable, "-c", "from omnicore.cli import main; main()",
         "--database-url", sqlite_url, "worker"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while outbox_counts(sqlite_url).get("pending", 0) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert outbox_counts(sqlite_url).get("pending", 0) == 0
        assert process.poll() is None  # still running, waiting for more
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "worker delivering to testplugin" in stderr and "worker stopped" in stderr


# -- plugins -------------------------------------------------------------------------------


def test_plugins_lists_the_test_plugin_with_its_hooks() -> None:
    result = invoke("plugins")
    assert result.exit_code == 0, result.output
    assert "testplugin  (omnicore-testplugin 0.0.1, omnicore_testplugin:TestPlugin)" in (
        result.stdout)
    assert "hooks: on_event, register_settings, startup" in result.stdout
    assert "settings: ok (TestPluginSettings)" in result.stdout


def test_plugins_reports_invalid_settings(tmp_path: Path) -> None:
    config = tmp_path / "shop.toml"
    config.write_text('[plugins.testplugin]\nretries = "many"\n')
    result = invoke("--config", str(config), "plugins")
    assert result.exit_code == 1
    assert "settings: invalid" in result.stdout
    assert "plugins.testplugin.retries:" in result.stdout


CLI_PLUGIN = '''
import click
from omnicore import hookimpl

class CliPlugin:
    name = "cliplug"

    @hookimpl
    def register_commands(self, cli):
        @cli.command()
        @click.pass_obj
        def hello(obj):
            """Say hello from a plugin command."""
            click.echo(f"hello from {obj.database_url}")
'''


def test_plugin_commands_load_and_a_broken_plugin_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cliplug_module.py").write_text(CLI_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    extra = [EntryPoint("cliplug", "cliplug_module:CliPlugin", "omnicore"),
             EntryPoint("broken", "no_such_module_for_omnicore:Plugin", "omnicore")]
    import importlib.metadata

    from omnicore.plugins import _host

    real = importlib.metadata.entry_points

    def entry_points(**selection: Any) -> Any:
        found = list(real(**selection))
        return found + extra if selection.get("group") == "omnicore" else found

    monkeypatch.setattr(_host, "entry_points", entry_points)
    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)

    helped = invoke("--help")
    assert helped.exit_code == 0
    assert re.search(r"^\s+hello\s+Say hello from a plugin command", helped.stdout, re.M)
    assert "plugin 'broken'" in helped.stderr and "unavailable" in helped.stderr
    hello = invoke("--database-url", "shop.db", "hello")
    assert hello.exit_code == 0 and "hello from shop.db" in hello.stdout
    listed = invoke("plugins")
    assert listed.exit_code == 1
    assert re.search(r"broken .*\n  failed to load: .*no_such_module_for_omnicore", listed.stdout)
    assert re.search(r"cliplug .*\n  hooks: register_commands", listed.stdout)
    assert "hooks: on_event, register_settings, startup" in listed.stdout


# -- demo ----------------------------------------------------------------------------------


def test_demo_no_serve_twice_gives_the_same_retailer(sqlite_url: str) -> None:
    first = invoke("--database-url", sqlite_url, "demo", "--no-serve")
    second = invoke("--database-url", sqlite_url, "demo", "--no-serve")
    assert first.exit_code == second.exit_code == 0, first.output
    assert "created" in first.stdout and "already present" in second.stdout
    counts = re.search(r"(\d+) stores, (\d+) products, (\d+) SKUs", first.stdout)
    assert counts is not None
    stores, products, _ = map(int, counts.groups())
    assert stores >= 12 and products >= 200
    assert first.stdout.splitlines()[1:] == second.stdout.splitlines()[1:]
    tokens = re.findall(r"^\s+(\S+)\s.*\s(pub_\S+)$", first.stdout, re.M)
    assert {"web", "app", "amazon-fr"} <= {code for code, _ in tokens}


def test_demo_without_the_gateway_exits_1(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "omnicore.gateway.server", None)
    result = invoke("--database-url", sqlite_url, "demo")
    assert result.exit_code == 1
    assert "gateway is not available" in result.stderr
    assert "web" in result.stdout  # the demo itself was created


def test_demo_serves_the_gateway_with_the_summary_as_banner(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []
    fake = types.ModuleType("omnicore.gateway.server")

    def serve(database_url: str | None, *, host: str, port: int, banner: list[str]) -> None:
        calls.append((database_url, host, port, banner))

    fake.serve = serve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "omnicore.gateway.server", fake)
    result = invoke("--database-url", sqlite_url, "demo", "--host", "0.0.0.0", "--port", "9123")
    assert result.exit_code == 0, result.output
    [(url, host, port, banner)] = calls
    assert (url, host, port) == (sqlite_url, "0.0.0.0", 9123)
    assert banner[0].startswith("Atelier Seine demo retailer created")
    assert any(line.strip().startswith("web ") and "pub_" in line for line in banner)
    assert "pub_" not in result.stdout  # printed once, by the gateway


def test_serve_runs_the_gateway_with_the_global_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []
    fake = types.ModuleType("omnicore.gateway.server")

    def serve(database_url: str | None, *, host: str, port: int, workers: int) -> None:
        calls.append((database_url, host, port, workers, os.environ.get("OMNICORE_CONFIG")))

    fake.serve = serve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "omnicore.gateway.server", fake)
    monkeypatch.setenv("OMNICORE_CONFIG", "restored-after-the-test.toml")
    config = tmp_path / "shop.toml"
    config.write_text('[database]\nurl = "sqlite:///from-config.db"\n')
    result = invoke("--config", str(config), "serve", "--port", "9001", "--workers", "3")
    assert result.exit_code == 0, result.output
    assert calls == [("sqlite:///from-config.db", "127.0.0.1", 9001, 3, str(config))]
    calls.clear()
    invoke("--config", str(config), "--database-url", "postgresql://db/shop", "serve")
    assert calls[0][:4] == ("postgresql://db/shop", "127.0.0.1", 8000, 1)

    monkeypatch.setitem(sys.modules, "omnicore.gateway.server", None)
    missing = invoke("serve")
    assert missing.exit_code == 1 and "install omnicore[server]" in missing.stderr
