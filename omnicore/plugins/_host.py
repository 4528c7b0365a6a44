"""The plugin host: one pluggy manager per ``Commerce``; the only code that calls hooks.

It loads entry points of group ``omnicore`` (honouring the allow/block lists),
registers plugins passed explicitly, checks every hook implementation against
the specs at start-up, builds each plugin's settings, and offers one typed
method per hook (``await host.validate_cart(commerce=…, cart=…)``).

Every hook is called through pluggy, one plugin at a time: ``get_hookimpls()``
gives pluggy's order (``tryfirst`` first, ``trylast`` last, otherwise the plugin
registered last first) and ``pm.subset_hook_caller`` calls the implementation of
one plugin, so each result is known to come from that plugin. What an
implementation returns is awaited when it is awaitable, before the next plugin
is called; an exception becomes ``PluginError`` naming the plugin. Because every
plugin is called on its own, wrapper implementations (``wrapper=True``,
``hookwrapper=True``) could not wrap the others' calls: they are refused when
the plugin is registered.

An entry-point plugin whose settings are absent altogether (no key of its
``[plugins.<name>]`` given) is *installed, not configured*: ``configure`` takes it
out of the manager, so none of its hooks is called, and lists it in
``not_configured``. ``[plugins] require`` — and passing the plugin to
``Commerce.open(plugins=[…])`` — makes that absence an error instead.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Collection, Iterable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs
import pluggy

from omnicore.config import PluginsConfig
from omnicore.errors import InvalidInput, OmnicoreError, PluginError, Problem
from omnicore.plugins import hookspecs
from omnicore.serialization import structure

if TYPE_CHECKING:
    import click

    from omnicore.commerce import Commerce
    from omnicore.delivery import ShippingMethod, ShippingProvider
    from omnicore.events import Event
    from omnicore.payments import PaymentGateway
    from omnicore.pricing import Adjustment, PricingContext, Totals
    from omnicore.sourcing import SourcingPlan, SourcingRequest

__all__ = ["ENTRY_POINT_GROUP", "Answer", "NotConfigured", "PluginHost", "plugin_name"]

ENTRY_POINT_GROUP = "omnicore"

T = TypeVar("T")

#: What the converter says of a key that is absent (``omnicore.serialization``).
_ABSENT = "is required"


def plugin_name(plugin: object) -> str:
    """A stable name: the plugin's ``name`` attribute, else its module or class name."""
    name = getattr(plugin, "name", None)
    if isinstance(name, str) and name:
        return name
    if inspect.ismodule(plugin):
        return plugin.__name__
    cls = plugin if inspect.isclass(plugin) else type(plugin)
    return f"{cls.__module__}.{cls.__qualname__}"


@attrs.frozen
class Answer(Generic[T]):
    """One plugin's result of a hook: ``value``, returned by the plugin named ``plugin``."""

    plugin: str
    value: T


@attrs.frozen
class NotConfigured:
    """An installed plugin that is not started because its settings are absent.

    ``missing`` are the required keys, as dotted paths (``plugins.stripe.secret_key``).
    ``str()`` gives the line ``omnicore plugins`` shows: ``not configured: plugins.…``.
    """

    plugin: str
    missing: tuple[str, ...]

    def __str__(self) -> str:
        return f"not configured: {', '.join(self.missing)}"


@attrs.frozen
class _Caller:
    """Calls one plugin's implementation of a hook (a pluggy subset hook caller)."""

    plugin: str
    call: pluggy.HookCaller


@contextlib.contextmanager
def _blame(plugin: str, hook: str) -> Iterator[None]:
    """Turn what a plugin's code raises into ``PluginError`` naming the plugin."""
    try:
        yield
    except PluginError:
        raise
    except OmnicoreError as exc:  # keeps its message and its field
        raise PluginError(exc.message, plugin=plugin, field=exc.field) from exc
    except Exception as exc:
        raise PluginError(f"{hook}: {type(exc).__name__}: {exc}", plugin=plugin) from exc


def _discard(values: Iterable[object]) -> None:
    """Close coroutines that will not be awaited (no "never awaited" warning)."""
    for value in values:
        if inspect.iscoroutine(value):
            value.close()


def _items(hook: str, plugin: str, value: object) -> list[object]:
    """The objects a ``register_*`` hook returned: a list (or another sequence)."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise PluginError(f"{hook} must return a list, not {type(value).__name__}",
                          plugin=plugin)
    return list(value)


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
        #: Each started plugin's settings object, by plugin name (after ``configure``).
        self.settings: dict[str, Any] = {}
        #: Installed plugins left out because their settings are absent (after ``configure``).
        self.not_configured: list[NotConfigured] = []
        self._installed: set[str] = set()  # loaded from entry points (not passed in code)
        self._callers: dict[str, tuple[list[pluggy.HookImpl], list[_Caller]]] = {}
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
            self._installed.add(ep.name)

    def register(self, plugin: object, *, name: str | None = None) -> str:
        """Register one plugin object (a module, or an instance of a plugin class).

        Raises ``PluginError`` naming the plugin when its name is taken, when an
        implementation does not match its hook's specification, or when it is a
        wrapper (``wrapper=True`` / ``hookwrapper=True``), which omnicore refuses.
        """
        if inspect.isclass(plugin):
            plugin = plugin()
        name = name or plugin_name(plugin)
        self._refuse_wrappers(plugin, name)
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(str(exc), plugin=name) from None
        return name

    def _refuse_wrappers(self, plugin: object, name: str) -> None:
        for attribute in dir(plugin):
            opts = self.pm.parse_hookimpl_opts(plugin, attribute)
            if opts and (opts.get("wrapper") or opts.get("hookwrapper")):
                hook = opts.get("specname") or attribute
                raise PluginError(
                    f"{hook} is a wrapper implementation (wrapper=True or hookwrapper=True), "
                    "which omnicore refuses: each plugin's implementation is called and "
                    "awaited on its own, so a wrapper could not wrap the others; order "
                    "implementations with tryfirst / trylast instead",
                    plugin=name,
                )

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
        """The registered plugin object called ``name`` (its entry-point name), or None.

        None too for an installed plugin that is not configured (it is not started).
        """
        return self.pm.get_plugin(name)

    def names(self) -> list[str]:
        """Registered plugin names, in registration order."""
        return [name for name, _ in self.pm.list_name_plugin()]

    def hooks_of(self, name: str) -> list[str]:
        """The hooks a plugin implements."""
        plugin = self.pm.get_plugin(name)
        callers = self.pm.get_hookcallers(plugin) or []
        return sorted(caller.name for caller in callers)

    # -- calling ---------------------------------------------------------------------------

    def _callers_of(self, hook: str) -> list[_Caller]:
        """For each plugin implementing ``hook``, in pluggy's call order, a caller of its
        implementation alone (``pm.subset_hook_caller`` without the other plugins)."""
        caller: pluggy.HookCaller = getattr(self.pm.hook, hook)
        impls = caller.get_hookimpls()
        cached = self._callers.get(hook)
        if cached is not None and cached[0] == impls:
            return cached[1]
        names = list(dict.fromkeys(impl.plugin_name for impl in reversed(impls)))
        callers = [
            _Caller(name, self.pm.subset_hook_caller(
                hook, [impl.plugin for impl in impls if impl.plugin_name != name]))
            for name in names
        ]
        self._callers[hook] = (impls, callers)
        return callers

    async def _call(
        self, hook: str, caller: _Caller, kwargs: Mapping[str, Any]
    ) -> list[Any]:
        """Call one plugin's implementation of ``hook``; its results, awaited, None dropped."""
        with _blame(caller.plugin, hook):
            pending = list(caller.call(**kwargs))
        found: list[Any] = []
        try:
            while pending:
                value = pending.pop(0)
                if inspect.isawaitable(value):
                    with _blame(caller.plugin, hook):
                        value = await value
                if value is not None:
                    found.append(value)
        finally:
            _discard(pending)
        return found

    def _call_sync(self, hook: str, kwargs: Mapping[str, Any]) -> list[Answer[Any]]:
        """Call a synchronous hook (``register_*``) of every plugin: ``Answer`` per result."""
        answers: list[Answer[Any]] = []
        for caller in self._callers_of(hook):
            with _blame(caller.plugin, hook):
                values = list(caller.call(**kwargs))
            if any(inspect.isawaitable(value) for value in values):
                _discard(values)
                raise PluginError(f"{hook} is called synchronously: implement it with a plain "
                                  "def, not async def", plugin=caller.plugin)
            answers.extend(Answer(caller.plugin, value) for value in values)
        return answers

    # -- lifecycle -------------------------------------------------------------------------

    def register_settings(self) -> list[Answer[type[Any]]]:
        """The settings class each plugin declares (``register_settings``)."""
        answers = self._call_sync("register_settings", {})
        for answer in answers:
            if not isinstance(answer.value, type):
                raise PluginError(f"register_settings returned {answer.value!r}, not a class",
                                  plugin=answer.plugin)
        return answers

    def configure(
        self,
        sections: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        require: Collection[str] | None = None,
    ) -> None:
        """Build each plugin's settings from its ``[plugins.<name>]`` section.

        An entry-point plugin none of whose keys is given, and whose settings class
        needs some, is not configured: it is unregistered (none of its hooks is
        called) and listed in ``not_configured``. Otherwise a missing, unknown or
        malformed key raises ``InvalidInput`` naming ``plugins.<name>.<key>`` — so
        does an absent configuration of a plugin listed in ``require`` (default
        ``[plugins] require``) or passed in code. A plugin listed in ``require``
        that is not loaded raises ``PluginError``.

        :param sections: the plugins' tables (default ``[plugins.<name>]`` of the
            configuration).
        :param require: names of the plugins that must be configured.
        """
        sections = self.config.sections if sections is None else sections
        required = list(self.config.require if require is None else require)
        for name in required:
            if not self.pm.has_plugin(name):
                raise PluginError("is listed in [plugins] require but is not loaded (not "
                                  "installed, or left out by [plugins] allow / block)",
                                  plugin=name)
        waiting: list[NotConfigured] = []
        problems: list[Problem] = []  # of every plugin, reported together
        for answer in self.register_settings():
            name = answer.plugin
            section = sections.get(name) or {}
            try:
                self.settings[name] = structure(dict(section), answer.value,
                                                field=f"plugins.{name}")
            except InvalidInput as exc:
                absent = not section and all(p.message == _ABSENT for p in exc.problems)
                if absent and name in required:
                    problems.extend(Problem(p.field, f"{_ABSENT} ([plugins] require lists "
                                                     f"{name!r})") for p in exc.problems)
                elif absent and name in self._installed:  # not one passed in code
                    waiting.append(NotConfigured(name, tuple(str(p.field)
                                                             for p in exc.problems)))
                else:
                    problems.extend(exc.problems)
        if problems:
            message = problems[0].message if len(problems) == 1 else "; ".join(
                f"{p.field}: {p.message}" for p in problems)
            raise InvalidInput(message, field=problems[0].field, problems=problems)
        for entry in waiting:
            self.pm.unregister(name=entry.plugin)
        self.not_configured = waiting

    async def startup(self, commerce: Commerce) -> None:
        """Call every plugin's ``startup`` with its own settings; if one fails, shut down
        those already started, then raise its ``PluginError``."""
        started: list[str] = []
        for caller in self._callers_of("startup"):
            kwargs = {"commerce": commerce, "settings": self.settings.get(caller.plugin)}
            try:
                await self._call("startup", caller, kwargs)
            except PluginError:
                await self.shutdown(commerce, only=started)
                raise
            started.append(caller.plugin)

    async def shutdown(
        self, commerce: Commerce, *, only: Collection[str] | None = None
    ) -> list[PluginError]:
        """Call every plugin's ``shutdown`` (of ``only`` these plugins); collect failures."""
        failures = []
        for caller in self._callers_of("shutdown"):
            if only is not None and caller.plugin not in only:
                continue
            try:
                await self._call("shutdown", caller, {"commerce": commerce})
            except PluginError as exc:
                failures.append(exc)
        return failures

    # -- contributions (synchronous) ----------------------------------------------------------

    def register_commands(self, cli: click.Group) -> None:
        """Let every plugin add its commands to ``cli`` (``register_commands``)."""
        self._call_sync("register_commands", {"cli": cli})

    def register_routes(self, commerce: Commerce) -> list[Any]:
        """The starlette routes every plugin contributes (``register_routes``)."""
        return [route for answer in self._call_sync("register_routes", {"commerce": commerce})
                for route in _items("register_routes", answer.plugin, answer.value)]

    def register_payment_gateways(self, commerce: Commerce) -> list[Answer[PaymentGateway]]:
        """Each payment gateway a plugin contributes, with that plugin's name.

        ``PluginError`` naming the plugin for an object that is not a ``PaymentGateway``.
        """
        from omnicore.payments import PaymentGateway  # not at import: hookspecs stays light

        found: list[Answer[PaymentGateway]] = []
        for answer in self._call_sync("register_payment_gateways", {"commerce": commerce}):
            for item in _items("register_payment_gateways", answer.plugin, answer.value):
                if not isinstance(item, PaymentGateway) or not isinstance(item.code, str):
                    raise PluginError("returned an object that is not a PaymentGateway",
                                      plugin=answer.plugin)
                found.append(Answer(answer.plugin, item))
        return found

    def register_shipping_methods(
        self, commerce: Commerce
    ) -> list[Answer[ShippingMethod | ShippingProvider]]:
        """Each delivery method or carrier a plugin contributes, with that plugin's name.

        ``PluginError`` naming the plugin for an object of another type.
        """
        from omnicore.delivery import ShippingMethod, ShippingProvider

        found: list[Answer[ShippingMethod | ShippingProvider]] = []
        for answer in self._call_sync("register_shipping_methods", {"commerce": commerce}):
            for item in _items("register_shipping_methods", answer.plugin, answer.value):
                if not isinstance(item, ShippingMethod | ShippingProvider):
                    raise PluginError(
                        f"register_shipping_methods returned a {type(item).__name__}, not a "
                        "ShippingMethod or a ShippingProvider", plugin=answer.plugin)
                found.append(Answer(answer.plugin, item))
        return found

    # -- decisions (may be async) -------------------------------------------------------------

    async def validate_cart(self, *, commerce: Commerce, cart: Any) -> list[Problem]:
        """Every plugin's problems with ``cart`` (``validate_cart``), each message
        prefixed with ``plugin '<name>': ``; empty when no plugin objects.

        ``PluginError`` naming the plugin when it returns something else than a
        list of ``Problem``.
        """
        found: list[Problem] = []
        for caller in self._callers_of("validate_cart"):
            kwargs = {"commerce": commerce, "cart": cart}
            for problems in await self._call("validate_cart", caller, kwargs):
                if isinstance(problems, Problem) or not isinstance(problems, Iterable):
                    raise PluginError("validate_cart must return a list of Problem",
                                      plugin=caller.plugin)
                for problem in problems:
                    if not isinstance(problem, Problem):
                        raise PluginError(
                            f"validate_cart returned {type(problem).__name__}, not a Problem",
                            plugin=caller.plugin)
                    found.append(Problem(problem.field,
                                         f"plugin {caller.plugin!r}: {problem.message}"))
        return found

    async def calculate_adjustments(
        self, *, commerce: Commerce, context: PricingContext, totals: Totals
    ) -> list[Answer[list[Adjustment]]]:
        """Every plugin's adjustments of ``totals`` (``calculate_adjustments``), each
        adjustment's ``source`` set to the plugin's name.

        Every plugin sees the same ``totals``. ``PluginError`` naming the plugin when
        it returns something else than a list of ``Adjustment``.
        """
        from omnicore.pricing import Adjustment

        found: list[Answer[list[Adjustment]]] = []
        for caller in self._callers_of("calculate_adjustments"):
            kwargs = {"commerce": commerce, "context": context, "totals": totals}
            for adjustments in await self._call("calculate_adjustments", caller, kwargs):
                if isinstance(adjustments, Adjustment) or not isinstance(adjustments, Iterable):
                    raise PluginError("calculate_adjustments must return a list of Adjustment",
                                      plugin=caller.plugin)
                checked: list[Adjustment] = []
                for adjustment in adjustments:
                    if not isinstance(adjustment, Adjustment):
                        raise PluginError(f"{type(adjustment).__name__} is not an Adjustment",
                                          plugin=caller.plugin, field="adjustments")
                    checked.append(attrs.evolve(adjustment, source=caller.plugin))
                found.append(Answer(caller.plugin, checked))
        return found

    async def choose_sources(
        self, *, commerce: Commerce, request: SourcingRequest
    ) -> Answer[SourcingPlan] | None:
        """The first plan a plugin returns for ``request`` (``choose_sources``), with the
        plugin that answered; None when none does. The plugins after it are not called.

        ``PluginError`` naming the plugin when it returns something else than a
        ``SourcingPlan``.
        """
        from omnicore.sourcing import SourcingPlan

        for caller in self._callers_of("choose_sources"):
            kwargs = {"commerce": commerce, "request": request}
            for plan in await self._call("choose_sources", caller, kwargs):
                if not isinstance(plan, SourcingPlan):
                    raise PluginError(f"choose_sources returned {type(plan).__name__}, not a "
                                      "SourcingPlan", plugin=caller.plugin)
                return Answer(caller.plugin, plan)
        return None

    # -- events --------------------------------------------------------------------------------

    def consumers(self) -> list[str]:
        """Plugins that receive events (implement ``on_event``), by name."""
        return sorted(caller.plugin for caller in self._callers_of("on_event"))

    async def on_event(self, consumer: str, *, event: Event, commerce: Commerce) -> None:
        """Deliver ``event`` to the plugin ``consumer`` (its ``on_event``); raises
        ``PluginError`` when it fails or when that plugin is not loaded here."""
        for caller in self._callers_of("on_event"):
            if caller.plugin == consumer:
                await self._call("on_event", caller, {"event": event, "commerce": commerce})
                return
        raise PluginError("is not loaded in this process", plugin=consumer)
