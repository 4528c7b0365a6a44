"""How the host calls hooks: through pluggy, one plugin at a time, in pluggy's order.

Each result is awaited before the next plugin is called and is known to come from
its plugin; exceptions become ``PluginError`` naming the plugin; wrapper
implementations are refused when the plugin is registered.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pluggy
import pytest

from omnicore import Commerce, InvalidInput, PluginError, hookimpl
from omnicore.errors import Problem
from omnicore.plugins import PluginHost, hookspecs

CART = object()


@contextmanager
def no_unawaited_coroutine() -> Iterator[None]:
    """Fails if a coroutine was created and never awaited inside the block."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield
        gc.collect()
    assert not [w for w in seen if "never awaited" in str(w.message)]


def host_of(*plugins: object) -> PluginHost:
    return PluginHost(plugins=plugins, load_entry_points=False)


class Checker:
    """A ``validate_cart`` implementation that logs when it runs (sync or async)."""

    def __init__(self, name: str, log: list[str], *, problem: str | None = None) -> None:
        self.name = name
        self.log = log
        self.problem = problem

    def _answer(self) -> list[Problem]:
        self.log.append(self.name)
        return [Problem("cart", self.problem)] if self.problem else []

    @hookimpl
    def validate_cart(self, cart: Any) -> list[Problem]:
        return self._answer()


class AsyncChecker(Checker):
    @hookimpl
    async def validate_cart(self, cart: Any) -> list[Problem]:
        await asyncio.sleep(0)
        return self._answer()


class FirstChecker(Checker):
    @hookimpl(tryfirst=True)
    def validate_cart(self, cart: Any) -> list[Problem]:
        return self._answer()


class LastChecker(AsyncChecker):
    @hookimpl(trylast=True)
    async def validate_cart(self, cart: Any) -> list[Problem]:
        await asyncio.sleep(0)
        return self._answer()


async def test_pluggy_order_and_one_plugin_at_a_time() -> None:
    log: list[str] = []
    host = host_of(LastChecker("last", log, problem="l"), AsyncChecker("async", log, problem="a"),
                   FirstChecker("first", log, problem="f"), Checker("sync", log, problem="s"))
    problems = await host.validate_cart(commerce=None, cart=CART)
    # tryfirst, then the last registered first, trylast at the end; the async
    # implementation ran before the synchronous one after it was even called
    assert log == ["first", "sync", "async", "last"]
    assert [p.message for p in problems] == [
        "plugin 'first': f", "plugin 'sync': s", "plugin 'async': a", "plugin 'last': l"]


async def test_every_call_goes_through_pluggy() -> None:
    log: list[str] = []
    host = host_of(Checker("one", log), AsyncChecker("two", log))
    seen: list[tuple[str, list[str]]] = []

    def before(hook: str, impls: list[pluggy.HookImpl], kwargs: Any) -> None:
        seen.append((hook, [impl.plugin_name for impl in impls]))

    undo = host.pm.add_hookcall_monitoring(before, lambda *args: None)
    await host.validate_cart(commerce=None, cart=CART)
    undo()
    assert seen == [("validate_cart", ["two"]), ("validate_cart", ["one"])]


async def test_an_optional_parameter_receives_the_hook_argument() -> None:
    received: list[Any] = []

    class Optional:
        name = "optional"

        @hookimpl
        def validate_cart(self, cart: Any = None) -> None:  # a default: pluggy's kwargnames
            received.append(cart)

    await host_of(Optional()).validate_cart(commerce=None, cart=CART)
    assert received == [CART]


async def test_registrations_after_a_call_take_part_in_the_next() -> None:
    log: list[str] = []
    host = host_of(Checker("one", log))
    await host.validate_cart(commerce=None, cart=CART)
    host.register(Checker("two", log))
    await host.validate_cart(commerce=None, cart=CART)
    host.pm.unregister(name="one")
    await host.validate_cart(commerce=None, cart=CART)
    assert log == ["one", "two", "one", "two"]


# -- failures -------------------------------------------------------------------------------------


class Raising:
    def __init__(self, name: str, error: Exception) -> None:
        self.name = name
        self.error = error

    @hookimpl
    def validate_cart(self) -> None:
        raise self.error


class AsyncRaising(Raising):
    @hookimpl
    async def validate_cart(self) -> None:
        await asyncio.sleep(0)
        raise self.error


@pytest.mark.parametrize("kind", [Raising, AsyncRaising])
async def test_an_exception_names_the_plugin(kind: type[Raising]) -> None:
    log: list[str] = []
    # "broken" is called first (registered last), then nothing else
    host = host_of(AsyncChecker("after", log), kind("broken", ValueError("bad cart")))
    with no_unawaited_coroutine(), pytest.raises(PluginError) as caught:
        await host.validate_cart(commerce=None, cart=CART)
    assert caught.value.plugin == "broken"
    assert caught.value.message == "plugin 'broken': validate_cart: ValueError: bad cart"
    assert isinstance(caught.value.__cause__, ValueError)
    assert log == []

    host = host_of(kind("strict", InvalidInput("too long", field="note")))
    with pytest.raises(PluginError) as caught:
        await host.validate_cart(commerce=None, cart=CART)
    assert (caught.value.plugin, caught.value.field, str(caught.value)) == (
        "strict", "note", "note: plugin 'strict': too long")


async def test_a_synchronous_hook_refuses_an_async_implementation() -> None:
    class AsyncRoutes:
        name = "async-routes"

        @hookimpl
        async def register_routes(self) -> list[Any]:
            return []

    host = host_of(AsyncRoutes())
    with no_unawaited_coroutine(), pytest.raises(PluginError) as caught:
        host.register_routes(None)
    assert caught.value.plugin == "async-routes"
    assert "register_routes is called synchronously" in caught.value.message


async def test_choose_sources_stops_at_the_first_answer() -> None:
    calls: list[str] = []

    class Answers:
        def __init__(self, name: str, plan: Any) -> None:
            self.name = name
            self.plan = plan

        @hookimpl
        async def choose_sources(self) -> Any:
            calls.append(self.name)
            return self.plan

    from omnicore.sourcing import SourcingPlan

    plan = SourcingPlan([], ["nothing to source"])
    host = host_of(Answers("never", SourcingPlan([], ["unused"])), Answers("answers", plan),
                   Answers("abstains", None))
    with no_unawaited_coroutine():
        answer = await host.choose_sources(commerce=None, request=None)
    assert answer is not None and (answer.plugin, answer.value) == ("answers", plan)
    assert calls == ["abstains", "answers"]
    assert await host_of().choose_sources(commerce=None, request=None) is None


# -- wrappers ------------------------------------------------------------------------------------


class NewStyleWrapper:
    name = "timing"

    @hookimpl(wrapper=True)
    def validate_cart(self) -> Generator[None, Any, Any]:
        return (yield)


class OldStyleWrapper:
    name = "tracing"

    @hookimpl(hookwrapper=True, specname="register_routes")
    def around_routes(self) -> Generator[None, Any, None]:
        yield


@pytest.mark.parametrize(("plugin", "hook"), [(NewStyleWrapper(), "validate_cart"),
                                              (OldStyleWrapper(), "register_routes")])
async def test_wrapper_implementations_are_refused(
    plugin: Any, hook: str, tmp_path: Path
) -> None:
    with pytest.raises(PluginError) as caught:
        host_of(plugin)
    assert caught.value.plugin == plugin.name
    assert caught.value.message.startswith(
        f"plugin {plugin.name!r}: {hook} is a wrapper implementation")
    assert "tryfirst / trylast" in caught.value.message

    database = tmp_path / "never.db"
    with pytest.raises(PluginError, match="is a wrapper implementation"):
        await Commerce.open(f"sqlite+aiosqlite:///{database}", plugins=[plugin],
                            load_entry_points=False, dispatch=False)
    assert not database.exists()


# -- the manager stays plain pluggy ----------------------------------------------------------------


class HistoricSpecs:
    @pluggy.HookspecMarker(hookspecs.PROJECT)(historic=True)
    def announce(self, what: str) -> None:
        """A historic hook, for this test only."""


def test_the_manager_is_plain_pluggy() -> None:
    log: list[str] = []
    checker = Checker("one", log, problem="p")
    host = host_of(checker)
    assert host.pm.get_plugin("one") is checker  # the object itself, no proxy

    def extra(cart: Any) -> list[Problem]:
        return [Problem(None, "extra")]

    results = host.pm.hook.validate_cart.call_extra([extra], {"commerce": None, "cart": CART})
    assert [[p.message for p in found] for found in results] == [["extra"], ["p"]]

    heard: list[str] = []

    class Listener:
        name = "listener"

        @hookimpl
        def announce(self, what: str) -> str:
            return f"heard {what}"

    host.pm.add_hookspecs(HistoricSpecs)
    host.pm.hook.announce.call_historic(heard.append, {"what": "opening"})
    host.register(Listener())  # registered afterwards: pluggy replays the call
    assert heard == ["heard opening"]
