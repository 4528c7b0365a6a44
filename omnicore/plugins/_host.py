"""The plugin host: one pluggy manager per ``Commerce``; the only code that calls hooks.

It loads entry points of group ``omnicore`` (honouring the allow/block lists),
registers plugins passed explicitly, checks every hook implementation against
the specs at start-up, builds each plugin's settings, and offers a typed async
facade: results that are coroutines are awaited, exceptions become
``PluginError`` naming the plugin.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import pluggy

from omnicore.config import PluginsConfig
from omnicore.errors import OmnicoreError, PluginError
from omnicore.plugins import hookspecs
from omnicore.serialization import structure

if TYPE_CHECKING:
    import click

    from omnicore.commerce import Commerce
    from omnicore.events import Event

__all__ = ["PluginHost", "plugin_name"]

ENTRY_POINT_GROUP = "omnicore"


def plugin_name(plugin: object) -> str:
    """A stable name: the plugin's ``name`` attribute, else its module or class name."""
    name = getattr(plugin, "name", None)
    if isinstance(name, str) and name:
        return name
    if inspect.ismodule(plugin):
        return plugin.__name__
    cls = plugin if inspect.isclass(plugin) else type(plugin)
    return f"{cls.__module__}.{cls.__qualname__}"


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class PluginHost:
    """Owns the pluggy manager of one ``Commerce`` (or of one CLI invocation)."""

    def __init__(
        self,
        config: PluginsConfig | None = None,
        plugins: Iterable[object] = (),
        *,
        load_entry_points: bool = True,
    ) -> None:
        self.config = config or PluginsConfig()
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.settings: dict[str, Any] = {}
        if load_entry_points:
            self._load_entry_points()
        for plugin in plugins:
            self.register(plugin)
        self._check_pending()

    # -- loading ---------------------------------------------------------------------------

    def _allowed(self, name: str) -> bool:
        if name in self.config.block:
            return False
        return self.config.allow is None or name in self.config.allow

    def _load_entry_points(self) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if not self._allowed(ep.name) or self.pm.has_plugin(ep.name):
                continue
            try:
                loaded = ep.load()
                plugin = loaded() if inspect.isclass(loaded) else loaded
            except Exception as exc:
                raise PluginError(
                    f"failed to load entry point {ep.value}: {exc}", plugin=ep.name
                ) from exc
            self.register(plugin, name=ep.name)

    def register(self, plugin: object, *, name: str | None = None) -> str:
        """Register one plugin object (a module, or an instance of a plugin class)."""
        if inspect.isclass(plugin):
            plugin = plugin()
        name = name or plugin_name(plugin)
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(str(exc), plugin=name) from None
        except ValueError as exc:
            raise PluginError(str(exc), plugin=name) from None
        return name

    def _check_pending(self) -> None:
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                f"implements a hook that does not exist: {exc}",
                plugin=self.pm.get_name(exc.plugin) or plugin_name(exc.plugin),
            ) from None

    # -- introspection ---------------------------------------------------------------------

    def get(self, name: str) -> object | None:
        """The registered plugin object called ``name`` (its entry-point name), or None."""
        return self.pm.get_plugin(name)

    def names(self) -> list[str]:
        """Registered plugin names, in registration order."""
        return [name for name, _ in self.pm.list_name_plugin()]

    def hooks_of(self, name: str) -> list[str]:
        """The hooks a plugin implements."""
        plugin = self.pm.get_plugin(name)
        callers = self.pm.get_hookcallers(plugin) or []
        return sorted(caller.name for caller in callers)

    def implementers(self, hook: str) -> list[str]:
        return [impl.plugin_name for impl in self._impls(hook)]

    def _impls(self, hook: str) -> list[pluggy.HookImpl]:
        # pluggy calls the last registered first; keep that order.
        return list(reversed(getattr(self.pm.hook, hook).get_hookimpls()))

    # -- calling ---------------------------------------------------------------------------

    async def _call_one(self, impl: pluggy.HookImpl, kwargs: Mapping[str, Any]) -> Any:
        args = {name: kwargs[name] for name in impl.argnames}
        try:
            return await _resolve(impl.function(**args))
        except OmnicoreError as exc:
            if isinstance(exc, PluginError):
                raise
            raise PluginError(str(exc), plugin=impl.plugin_name, field=exc.field) from exc
        except Exception as exc:
            raise PluginError(f"{type(exc).__name__}: {exc}", plugin=impl.plugin_name) from exc

    async def collect(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of ``hook``: ``(plugin, result)`` pairs, None dropped."""
        results = []
        for impl in self._impls(hook):
            value = await self._call_one(impl, kwargs)
            if value is not None:
                results.append((impl.plugin_name, value))
        return results

    async def first(self, hook: str, **kwargs: Any) -> Any:
        """The first non-None result of ``hook`` (``calculate_*`` / ``choose_*`` families)."""
        for impl in self._impls(hook):
            value = await self._call_one(impl, kwargs)
            if value is not None:
                return value
        return None

    # -- lifecycle -------------------------------------------------------------------------

    def configure(self, sections: Mapping[str, Mapping[str, Any]]) -> None:
        """Build each plugin's settings from its section; missing or bad keys raise."""
        for impl in self._impls("register_settings"):
            cls: Any = impl.function()
            if cls is None:
                continue
            name = impl.plugin_name
            section = sections.get(name, {})
            self.settings[name] = structure(dict(section), cls, field=f"plugins.{name}")

    async def startup(self, commerce: Commerce) -> None:
        """Start every plugin; if one fails, shut down those already started, then raise."""
        started: list[str] = []
        for impl in self._impls("startup"):
            kwargs = {"commerce": commerce, "settings": self.settings.get(impl.plugin_name)}
            try:
                await self._call_one(impl, kwargs)
            except PluginError:
                await self.shutdown(commerce, only=started)
                raise
            started.append(impl.plugin_name)

    async def shutdown(
        self, commerce: Commerce, *, only: list[str] | None = None
    ) -> list[PluginError]:
        """Call every ``shutdown`` (of ``only`` these plugins); collect failures."""
        failures = []
        for impl in self._impls("shutdown"):
            if only is not None and impl.plugin_name not in only:
                continue
            try:
                await self._call_one(impl, {"commerce": commerce})
            except PluginError as exc:
                failures.append(exc)
        return failures

    def register_commands(self, cli: click.Group) -> None:
        for impl in self._impls("register_commands"):
            try:
                impl.function(cli=cli)
            except Exception as exc:
                raise PluginError(
                    f"register_commands failed: {exc}", plugin=impl.plugin_name
                ) from exc

    def contributions(self, hook: str, commerce: Commerce) -> list[tuple[str, Any]]:
        """``(plugin, object)`` for every object a synchronous ``register_*`` hook returns."""
        found: list[tuple[str, Any]] = []
        for impl in self._impls(hook):
            try:
                contributed: Any = impl.function(**{n: commerce for n in impl.argnames})
            except Exception as exc:
                raise PluginError(f"{hook} failed: {exc}", plugin=impl.plugin_name) from exc
            found.extend((impl.plugin_name, item) for item in contributed or [])
        return found

    def routes(self, commerce: Commerce) -> list[Any]:
        """Routes contributed by plugins (``register_routes`` is synchronous)."""
        found: list[Any] = []
        for impl in self._impls("register_routes"):
            try:
                contributed: Any = impl.function(**{n: commerce for n in impl.argnames})
                found.extend(contributed or [])
            except Exception as exc:
                raise PluginError(
                    f"register_routes failed: {exc}", plugin=impl.plugin_name
                ) from exc
        return found

    # -- outbox ----------------------------------------------------------------------------

    def consumers(self) -> list[str]:
        """Plugins that receive events (implement ``on_event``)."""
        return sorted(set(self.implementers("on_event")))

    async def deliver(self, consumer: str, event: Event, commerce: Commerce) -> None:
        """Deliver one event to one consumer; raises ``PluginError`` when it fails."""
        impls = [impl for impl in self._impls("on_event") if impl.plugin_name == consumer]
        if not impls:
            raise PluginError("is not loaded in this process", plugin=consumer)
        for impl in impls:
            await self._call_one(impl, {"event": event, "commerce": commerce})
