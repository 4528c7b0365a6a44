"""The plugin host: entry points, settings, allow/block lists, start-up checks, async hooks."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import attrs
import pytest

from omnicore import Commerce, InvalidInput, PluginError, hookimpl
from omnicore.config import PluginsConfig
from omnicore.events import Event
from omnicore.plugins import PluginHost, plugin_name
from omnicore.store.database import Database
from omnicore.testing import FakeClock, RecordingPlugin, paris_address

LOCATION = {
    "code": "wh", "name": "Warehouse", "kind": "warehouse", "address": paris_address(),
    "geo": {"lat": 48.9, "lng": 2.4},
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No omnicore.toml or OMNICORE_* variable of the developer's leaks into these tests."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("OMNICORE_") and key != "OMNICORE_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)


async def open_commerce(url: str, **kwargs: Any) -> Commerce:
    kwargs.setdefault("dispatch", False)
    kwargs.setdefault("load_entry_points", False)
    kwargs.setdefault("auto_migrate", True)
    return await Commerce.open(url, **kwargs)


# -- entry points and settings ------------------------------------------------------------------


async def test_entry_point_plugin_with_settings_from_config(
    sqlite_url: str, clock: FakeClock
) -> None:
    async with Commerce.open(
        sqlite_url, clock=clock, dispatch=False, load_entry_points=True,
        config={"plugins": {"testplugin": {"greeting": "bonjour"}}},
    ) as commerce:
        assert "testplugin" in commerce.plugins.names()
        plugin = commerce.plugins.pm.get_plugin("testplugin")
        assert type(plugin).__module__ == "omnicore_testplugin"  # loaded from the distribution
        assert plugin.started  # its async startup was awaited
        assert (plugin.settings.greeting, plugin.settings.retries) == ("bonjour", 3)
        assert commerce.plugins.settings["testplugin"] is plugin.settings
        assert commerce.plugins.hooks_of("testplugin") == [
            "on_event", "register_settings", "startup"]
        assert commerce.plugins.consumers() == ["testplugin"]

        await commerce.locations.save(LOCATION)
        assert await commerce.outbox.drain() == 1
        assert plugin.topics == ["location.updated"]


async def test_settings_from_environment(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNICORE_PLUGINS__TESTPLUGIN__RETRIES", "5")
    async with Commerce.open(
        sqlite_url, dispatch=False, config={"plugins": {"testplugin": {"greeting": "bonjour"}}},
    ) as commerce:
        settings = commerce.plugins.pm.get_plugin("testplugin").settings
        assert (settings.greeting, settings.retries) == ("bonjour", 5)


@pytest.mark.parametrize(
    ("env", "config", "field"),
    [
        ({"OMNICORE_PLUGINS__TESTPLUGIN__RETRIES": "many"}, {}, "plugins.testplugin.retries"),
        ({}, {"plugins": {"testplugin": {"retries": "three"}}}, "plugins.testplugin.retries"),
        ({}, {"plugins": {"testplugin": {"greting": "hi"}}}, "plugins.testplugin.greting"),
    ],
)
async def test_bad_setting_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str], config: dict[str, Any], field: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    database = tmp_path / "never.db"
    with pytest.raises(InvalidInput) as info:
        await Commerce.open(f"sqlite+aiosqlite:///{database}", dispatch=False, config=config)
    assert info.value.field == field
    assert not database.exists()  # refused before touching the database


@attrs.frozen
class VendorSettings:
    api_key: str
    sandbox: bool = True


class Vendor:
    name = "vendor"

    def __init__(self) -> None:
        self.settings: VendorSettings | None = None

    @hookimpl
    def register_settings(self) -> type[Any]:
        return VendorSettings

    @hookimpl
    def startup(self, settings: VendorSettings) -> None:
        self.settings = settings


async def test_required_setting_and_boolean_from_environment(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InvalidInput) as info:
        await open_commerce(sqlite_url, plugins=[Vendor()])
    assert info.value.field == "plugins.vendor.api_key"
    monkeypatch.setenv("OMNICORE_PLUGINS__VENDOR__API_KEY", "k_123")
    monkeypatch.setenv("OMNICORE_PLUGINS__VENDOR__SANDBOX", "false")
    vendor = Vendor()
    async with await open_commerce(sqlite_url, plugins=[vendor]):
        assert vendor.settings == VendorSettings(api_key="k_123", sandbox=False)


@pytest.mark.parametrize(
    ("config", "loaded"),
    [
        (PluginsConfig(), True),
        (PluginsConfig(block=["testplugin"]), False),
        (PluginsConfig(allow=["somethingelse"]), False),
        (PluginsConfig(allow=["testplugin"]), True),
        (PluginsConfig(allow=["testplugin"], block=["testplugin"]), False),
        (PluginsConfig(allow=[]), False),
    ],
)
def test_allow_and_block_lists(config: PluginsConfig, loaded: bool) -> None:
    host = PluginHost(config, [RecordingPlugin()])
    assert ("testplugin" in host.names()) is loaded
    assert "recorder" in host.names()  # plugins passed in code are not filtered


async def test_block_list_from_configuration(sqlite_url: str) -> None:
    async with Commerce.open(sqlite_url, dispatch=False,
                             config={"plugins": {"block": ["testplugin"]}}) as commerce:
        assert "testplugin" not in commerce.plugins.names()
        assert commerce.plugins.consumers() == []


# -- start-up failures ----------------------------------------------------------------------------


class Misspelt:
    name = "misspelt"

    @hookimpl
    def on_evnt(self, event: Event) -> None:  # the hook is on_event
        raise AssertionError("never called")


class WrongArgument:
    name = "wrong-argument"

    @hookimpl
    def on_event(self, evt: Event) -> None:
        raise AssertionError("never called")


async def test_misspelt_hook_fails_at_open(tmp_path: Path) -> None:
    database = tmp_path / "never.db"
    with pytest.raises(PluginError) as info:
        await open_commerce(f"sqlite+aiosqlite:///{database}", plugins=[RecordingPlugin(),
                                                                        Misspelt()])
    assert info.value.plugin == "misspelt"
    assert "on_evnt" in info.value.message
    assert info.value.code == "plugin_error"
    assert not database.exists()


async def test_unknown_argument_fails_at_open(sqlite_url: str) -> None:
    with pytest.raises(PluginError) as info:
        await open_commerce(sqlite_url, plugins=[WrongArgument()])
    assert info.value.plugin == "wrong-argument"
    assert "evt" in info.value.message


def test_two_plugins_with_one_name_are_refused() -> None:
    with pytest.raises(PluginError) as info:
        PluginHost(plugins=[RecordingPlugin("twin"), RecordingPlugin("twin")],
                   load_entry_points=False)
    assert info.value.plugin == "twin"


class BrokenStartup:
    name = "broken"

    def __init__(self, error: Exception) -> None:
        self.error = error

    @hookimpl
    async def startup(self) -> None:
        await asyncio.sleep(0)
        raise self.error


async def test_startup_failure_names_the_plugin_and_releases_the_database(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    disposed: list[Database] = []
    original = Database.dispose

    async def spy(self: Database) -> None:
        disposed.append(self)
        await original(self)

    monkeypatch.setattr(Database, "dispose", spy)
    with pytest.raises(PluginError) as info:
        await open_commerce(db_url, plugins=[BrokenStartup(ConnectionError("vendor unreachable"))])
    assert info.value.plugin == "broken"
    assert "ConnectionError" in info.value.message
    assert "vendor unreachable" in info.value.message
    assert isinstance(info.value.__cause__, ConnectionError)
    assert len(disposed) == 1
    assert disposed[0].engine.pool.checkedout() == 0

    if db_url.startswith("postgresql"):
        import asyncpg
        from sqlalchemy.engine import make_url

        url = make_url(db_url)
        admin = await asyncpg.connect(url.set(drivername="postgresql", database="postgres")
                                      .render_as_string(hide_password=False))
        try:
            left = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", url.database
            )
        finally:
            await admin.close()
        assert left == 0  # no pooled connection left open on the server

    # an omnicore error raised by a plugin keeps its field
    with pytest.raises(PluginError) as info:
        await open_commerce(db_url, plugins=[
            BrokenStartup(InvalidInput("missing key", field="api_key"))])
    assert (info.value.plugin, info.value.field) == ("broken", "api_key")


async def test_plugins_started_before_a_failure_are_shut_down(sqlite_url: str) -> None:
    started = AsyncPlugin()
    # pluggy calls the last registered first: ``started`` starts, then ``broken`` fails
    with pytest.raises(PluginError) as info:
        await open_commerce(sqlite_url, plugins=[BrokenStartup(RuntimeError("boom")), started])
    assert info.value.plugin == "broken"
    assert started.log == ["startup:0", "shutdown"]


# -- calling hooks --------------------------------------------------------------------------------


class AsyncPlugin:
    name = "async-plugin"

    def __init__(self) -> None:
        self.log: list[str] = []
        self.received = asyncio.Event()

    @hookimpl
    async def startup(self, commerce: Commerce, settings: Any) -> None:
        await asyncio.sleep(0)
        assert settings is None
        self.log.append(f"startup:{len(await commerce.locations.list())}")

    @hookimpl
    async def on_event(self, event: Event, commerce: Commerce) -> None:
        await asyncio.sleep(0)
        location = await commerce.locations.get(event.payload["code"])
        self.log.append(f"{event.topic}:{location.code}")

    @hookimpl
    async def shutdown(self) -> None:
        await asyncio.sleep(0)
        self.log.append("shutdown")


async def test_async_implementations_are_awaited(sqlite_url: str) -> None:
    plugin = AsyncPlugin()
    with _no_unawaited_warning():
        commerce = await open_commerce(sqlite_url, plugins=[plugin])
        assert plugin.log == ["startup:0"]
        await commerce.locations.save(LOCATION)
        assert await commerce.outbox.drain() == 1
        assert plugin.log == ["startup:0", "location.updated:wh"]
        await commerce.close()
    assert plugin.log[-1] == "shutdown"
    assert [d.status for d in await _deliveries(sqlite_url)] == ["delivered"]


class _no_unawaited_warning:
    """Fails if a coroutine was created and never awaited inside the block."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self._seen = self._catch.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc: object) -> None:
        import gc

        gc.collect()
        self._catch.__exit__(*exc)
        assert not [w for w in self._seen if "never awaited" in str(w.message)]


async def _deliveries(url: str) -> list[Any]:
    async with await open_commerce(url) as commerce:
        return await commerce.outbox.deliveries()


class Exploding:
    name = "exploding"

    @hookimpl
    def on_event(self, event: Event) -> None:
        raise ValueError(f"vendor down for {event.topic}")


async def test_failing_consumer_never_breaks_the_operation(
    db_url: str, clock: FakeClock
) -> None:
    recorder = RecordingPlugin()
    async with await open_commerce(db_url, clock=clock,
                                   plugins=[Exploding(), recorder]) as commerce:
        saved = await commerce.locations.save(LOCATION)
        assert await commerce.locations.get("wh") == saved
        assert await commerce.outbox.drain() == 2
        assert recorder.topics() == ["location.updated"]
        failed = await commerce.outbox.deliveries(consumer="exploding")
        assert len(failed) == 1
        assert failed[0].status == "pending"
        assert failed[0].attempts == 1
        assert failed[0].last_error is not None
        assert "vendor down for location.updated" in failed[0].last_error
        assert "ValueError" in failed[0].last_error
        assert failed[0].next_attempt_at > clock.now
        delivered = await commerce.outbox.deliveries(consumer="recorder")
        assert [d.status for d in delivered] == ["delivered"]


class BrokenShutdown:
    name = "broken-shutdown"

    @hookimpl
    def shutdown(self) -> None:
        raise RuntimeError("cannot close vendor client")


async def test_shutdown_failure_is_logged_not_raised(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    plugin = AsyncPlugin()
    commerce = await open_commerce(sqlite_url, plugins=[BrokenShutdown(), plugin])
    await commerce.close()
    assert plugin.log[-1] == "shutdown"  # the other plugin was still shut down
    assert "cannot close vendor client" in caplog.text
    assert "broken-shutdown" in caplog.text
    await commerce.close()  # idempotent


def test_plugin_names() -> None:
    assert plugin_name(RecordingPlugin("amazon")) == "amazon"
    assert plugin_name(Misspelt()) == "misspelt"

    class Anonymous:
        pass

    assert plugin_name(Anonymous()).endswith("Anonymous")
    import omnicore.testing

    assert plugin_name(omnicore.testing) == "omnicore.testing"
