"""Every hook a plugin may implement.

Hooks are grouped in families:

* ``startup`` / ``shutdown`` — the plugin's lifetime inside one ``Commerce``;
* ``register_*`` — the plugin contributes objects (settings, CLI commands, HTTP
  routes; later payment gateways, connectors, notifiers …);
* ``on_*`` — notifications of domain events, delivered from the outbox.

Any implementation may be ``async def``: the host awaits what it returns. A
plugin declares only the arguments it needs (pluggy passes them by name).
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from omnicore.commerce import Commerce
    from omnicore.events import Event

__all__ = [
    "HOOK_NAMES",
    "hookimpl",
    "hookspec",
    "on_event",
    "register_commands",
    "register_routes",
    "register_settings",
    "shutdown",
    "startup",
]

PROJECT = "omnicore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_settings() -> type[Any] | None:
    """Declare the plugin's configuration section.

    Return an attrs class; the host builds it from ``[plugins.<name>]`` of
    ``omnicore.toml`` merged with ``OMNICORE_PLUGINS__<NAME>__<KEY>`` variables,
    at start-up, and refuses to start with an ``InvalidInput`` naming
    ``plugins.<name>.<key>`` when a value is missing or malformed.

    :return: an attrs class, or None when the plugin has no settings.
    """


@hookspec
def startup(commerce: Commerce, settings: Any) -> Awaitable[None] | None:
    """Called once when a ``Commerce`` opens, after migrations, before any request.

    An exception here stops ``Commerce.open`` with a ``PluginError`` naming the plugin.

    :param commerce: the instance being opened.
    :param settings: this plugin's settings object (see ``register_settings``), or None.
    """


@hookspec
def shutdown(commerce: Commerce) -> Awaitable[None] | None:
    """Called once when the ``Commerce`` closes; release clients and connections here.

    :param commerce: the instance being closed.
    """


@hookspec
def on_event(event: Event, commerce: Commerce) -> Awaitable[None] | None:
    """Deliver one domain event from the outbox (``product.updated``, ``stock.changed`` …).

    Delivery is at-least-once: raise to have the dispatcher retry later with
    exponential back-off (the event goes dead-letter after the configured number
    of attempts and can be re-driven); return normally to acknowledge. Use
    ``event.id`` to make the consumer idempotent. A failure here never affects the
    operation that emitted the event.

    :param event: the event; ``event.topic`` and ``event.payload`` say what happened.
    :param commerce: the instance delivering it.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``omnicore`` command line.

    :param cli: the root ``click`` group; add a group named after the plugin
        (``omnicore amazon sync``) with ``cli.add_command``.
    """


@hookspec
def register_routes(commerce: Commerce) -> Sequence[Any] | None:
    """Contribute starlette routes to the gateway (webhooks, health of a vendor).

    Synchronous: called once when the gateway app is built.

    Routes under ``/webhooks/<plugin>`` receive the raw body and headers; verify
    the vendor's signature before trusting anything.

    :param commerce: the instance the gateway serves.
    :return: a list of ``starlette.routing.Route`` objects.
    """


HOOK_NAMES = tuple(
    name
    for name, value in dict(globals()).items()
    if callable(value) and hasattr(value, f"{PROJECT}_spec")
)
