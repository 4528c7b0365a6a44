"""An installed plugin without its settings: not started, said so; malformed or required: fatal.

The plugin of ``tests/helpers/vendor_plugin.py`` is made to look installed through
the ``omnicore`` entry-point group. The last tests run the real command line in a
subprocess with omnicore-stripe and omnicore-amazon installed and not configured
(skipped where they are not installed).
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from helpers.vendor_plugin import ENTRY_POINT, VendorPlugin, VendorSettings

import omnicore.gateway
from omnicore import Commerce, InvalidInput, PluginError
from omnicore.cli.main import main
from omnicore.plugins import NotConfigured, PluginHost, _host
from omnicore.testing import paris_address

MISSING = ("plugins.vendor.api_key", "plugins.vendor.account")
GOOD = {"api_key": "k_123", "account": "acme"}


@pytest.fixture(autouse=True)
def installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The vendor plugin looks installed; no omnicore.toml or OMNICORE_* variable leaks in."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("OMNICORE_") and key != "OMNICORE_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
    extra = [EntryPoint(*ENTRY_POINT, group="omnicore")]
    real = importlib.metadata.entry_points

    def entry_points(**selection: Any) -> Any:
        found = list(real(**selection))
        return found + extra if selection.get("group") == "omnicore" else found

    monkeypatch.setattr(_host, "entry_points", entry_points)
    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def open_commerce(url: str, plugins: dict[str, Any] | None = None) -> Any:
    """Only the vendor plugin loads, unless ``plugins`` says otherwise."""
    config = {"plugins": {"allow": ["vendor"], **(plugins or {})}}
    return Commerce.open(url, dispatch=False, config=config)


# -- Commerce.open ----------------------------------------------------------------------------


async def test_an_installed_plugin_without_settings_is_not_started(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="omnicore"):
        commerce = await open_commerce(sqlite_url)
    async with commerce:
        host = commerce.plugins
        assert host.not_configured == [NotConfigured("vendor", MISSING)]
        assert str(host.not_configured[0]) == (
            "not configured: plugins.vendor.api_key, plugins.vendor.account")
        # out of every hook: not started, no gateway, no events queued for it
        assert host.get("vendor") is None and "vendor" not in host.names()
        assert list(commerce.payments.gateways()) == ["manual"]
        assert host.consumers() == []
        await commerce.locations.save({
            "code": "wh", "name": "Warehouse", "kind": "warehouse",
            "address": paris_address(), "geo": {"lat": 48.9, "lng": 2.4}})
        assert await commerce.outbox.drain() == 0
    warnings = [r for r in caplog.records if r.name == "omnicore" and r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "vendor" in warnings[0].getMessage()
    assert "plugins.vendor.api_key, plugins.vendor.account" in warnings[0].getMessage()


async def test_configured_it_starts_and_takes_part(sqlite_url: str) -> None:
    async with open_commerce(sqlite_url, {"vendor": GOOD}) as commerce:
        plugin = commerce.plugins.get("vendor")
        assert isinstance(plugin, VendorPlugin)
        assert plugin.settings == VendorSettings("k_123", "acme")
        assert commerce.plugins.not_configured == []
        assert sorted(commerce.payments.gateways()) == ["manual", "vendor"]
        assert commerce.plugins.consumers() == ["vendor"]


@pytest.mark.parametrize(
    ("section", "env", "field", "message"),
    [
        ({**GOOD, "sandbox": "maybe"}, {}, "plugins.vendor.sandbox", "'maybe' is not a boolean"),
        ({"api_key": "k_123"}, {}, "plugins.vendor.account", "is required"),  # half done
        ({"api_kye": "k_123"}, {}, "plugins.vendor.api_kye", "is not a known field"),  # typo
        ({}, {"OMNICORE_PLUGINS__VENDOR__API_KEY": "k_123"}, "plugins.vendor.account",
         "is required"),
    ],
)
async def test_a_present_but_malformed_setting_still_stops_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: dict[str, Any],
    env: dict[str, str], field: str, message: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    database = tmp_path / "never.db"
    plugins = {"vendor": section} if section else {}
    with pytest.raises(InvalidInput) as caught:
        await open_commerce(f"sqlite+aiosqlite:///{database}", plugins)
    assert (field, message) in [(p.field, p.message.removesuffix(" (true or false)"))
                                for p in caught.value.problems]
    assert not database.exists()  # refused before touching the database


async def test_require_makes_an_absent_configuration_fatal(tmp_path: Path) -> None:
    database = tmp_path / "never.db"
    with pytest.raises(InvalidInput) as caught:
        await open_commerce(f"sqlite+aiosqlite:///{database}", {"require": ["vendor"]})
    because = "is required ([plugins] require lists 'vendor')"
    assert [(p.field, p.message) for p in caught.value.problems] == [
        (MISSING[0], because), (MISSING[1], because)]
    assert caught.value.field == MISSING[0]
    # each key once, never "plugins.vendor.api_key: plugins.vendor.api_key: is required"
    assert str(caught.value) == f"{MISSING[0]}: {because}; {MISSING[1]}: {because}"
    assert not database.exists()


@pytest.mark.parametrize("plugins", [
    {"require": ["nowhere"]},                        # not installed
    {"require": ["vendor"], "block": ["vendor"]},   # left out
])
async def test_a_required_plugin_that_is_not_loaded_stops_start_up(
    tmp_path: Path, plugins: dict[str, Any]
) -> None:
    with pytest.raises(PluginError) as caught:
        await open_commerce(f"sqlite+aiosqlite:///{tmp_path / 'never.db'}", plugins)
    assert caught.value.plugin == plugins["require"][0]
    assert "[plugins] require" in caught.value.message


async def test_a_plugin_passed_in_code_needs_its_settings(sqlite_url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await Commerce.open(sqlite_url, plugins=[VendorPlugin()], load_entry_points=False,
                            dispatch=False)
    assert [p.field for p in caught.value.problems] == list(MISSING)
    assert str(caught.value) == f"{MISSING[0]}: is required; {MISSING[1]}: is required"


def test_the_host_alone() -> None:
    host = PluginHost(load_entry_points=True)
    assert "vendor" in host.names()  # loaded; configure decides
    host.configure({"vendor": {}})
    assert [entry.plugin for entry in host.not_configured if entry.plugin == "vendor"]
    assert "vendor" not in host.names() and "vendor" not in host.settings


# -- the command line ---------------------------------------------------------------------------


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_omnicore_plugins_lists_it_as_not_configured(tmp_path: Path) -> None:
    listed = invoke("plugins")
    assert listed.exit_code == 0, listed.output
    assert ("vendor  (helpers.vendor_plugin:VendorPlugin)\n"
            "  hooks: on_event, register_payment_gateways, register_settings, startup\n"
            "  settings: not configured: plugins.vendor.api_key, plugins.vendor.account "
            "(the plugin is not started)\n") in listed.stdout

    (tmp_path / "omnicore.toml").write_text('[plugins.vendor]\napi_key = "k_123"\n'
                                            'account = "acme"\n')
    assert "  settings: ok (VendorSettings)\n" in invoke("plugins").stdout


def test_omnicore_plugins_fails_when_a_required_plugin_is_missing(tmp_path: Path) -> None:
    (tmp_path / "omnicore.toml").write_text('[plugins]\nrequire = ["vendor", "ghost"]\n')
    listed = invoke("plugins")
    assert listed.exit_code == 1
    assert "ghost  (not installed)\n  listed in [plugins] require\n" in listed.stdout
    assert ("  settings: invalid\n"
            "    plugins.vendor.api_key: is required ([plugins] require lists 'vendor')\n"
            ) in listed.stdout


def test_worker_says_so_at_start_up(sqlite_url: str) -> None:
    ran = invoke("--database-url", sqlite_url, "worker", "--once")
    assert ran.exit_code == 0, ran.output
    assert ("warning: plugin vendor not started, not configured: plugins.vendor.api_key, "
            "plugins.vendor.account\n") in ran.stderr


def test_serve_refuses_a_malformed_setting_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[Any] = []
    server = types.ModuleType("omnicore.gateway.server")  # uvicorn is never reached
    server.serve = lambda *args, **kwargs: served.append(args)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "omnicore.gateway.server", server)
    monkeypatch.setattr(omnicore.gateway, "server", server, raising=False)
    (tmp_path / "omnicore.toml").write_text('[plugins.vendor]\napi_key = "k"\n'
                                            'account = "a"\nsandbox = "maybe"\n')
    ran = invoke("--database-url", str(tmp_path / "shop.db"), "serve")
    assert ran.exit_code == 1
    assert "plugins.vendor.sandbox: 'maybe' is not a boolean" in ran.stderr
    assert served == [] and not (tmp_path / "shop.db").exists()

    (tmp_path / "omnicore.toml").write_text("")  # not configured: said, then served
    ran = invoke("--database-url", str(tmp_path / "shop.db"), "serve")
    assert ran.exit_code == 0 and len(served) == 1
    assert ("warning: plugin vendor not started, not configured: plugins.vendor.api_key, "
            "plugins.vendor.account\n") in ran.stderr


# -- the real plugins, in real processes -------------------------------------------------------


def _real_plugins_installed() -> bool:
    names = {ep.name for ep in importlib.metadata.entry_points(group="omnicore")}
    return {"stripe", "amazon"} <= names


needs_real_plugins = pytest.mark.skipif(
    not _real_plugins_installed(), reason="omnicore-stripe and omnicore-amazon not installed")

STRIPE_LINE = ("warning: plugin stripe not started, not configured: plugins.stripe.secret_key, "
               "plugins.stripe.webhook_secret")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(args: list[str], cwd: Path, port: int) -> Iterator[str]:
    """``omnicore ARGS`` in a subprocess, with no configuration at all, until /readyz
    answers; yields what it printed, then stops it with Ctrl-C."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNICORE_")}
    log = cwd / "output.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", "from omnicore.cli import main; main()", *args],
            cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 240  # the demo's data first: many seconds
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


@needs_real_plugins
def test_demo_runs_with_stripe_and_amazon_installed_but_not_configured(
    tmp_path: Path
) -> None:
    port = _free_port()
    args = ["--database-url", str(tmp_path / "demo.db"), "demo", "--port", str(port)]
    with serving(args, tmp_path, port) as printed:
        assert STRIPE_LINE in printed
        assert "warning: plugin amazon not started, not configured: plugins.amazon." in printed
        assert f"http://127.0.0.1:{port}/graphql" in printed
        # not started: Stripe's webhook route is not served
        assert httpx.post(f"http://127.0.0.1:{port}/webhooks/stripe").status_code == 404

    listed = subprocess.run(
        [sys.executable, "-c", "from omnicore.cli import main; main()", "plugins"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("OMNICORE_")})
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert ("  settings: not configured: plugins.stripe.secret_key, "
            "plugins.stripe.webhook_secret (the plugin is not started)") in listed.stdout
    assert "  settings: not configured: plugins.amazon.client_id, " in listed.stdout


@needs_real_plugins
def test_serve_prints_the_line_at_start_up(tmp_path: Path) -> None:
    port = _free_port()
    args = ["--database-url", str(tmp_path / "shop.db"), "serve", "--port", str(port)]
    with serving(args, tmp_path, port) as printed:
        assert STRIPE_LINE in printed
        assert printed.index(STRIPE_LINE) < printed.index("GraphiQL (storefront)")
