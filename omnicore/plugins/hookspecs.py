"""Every hook a plugin may implement.

Hooks are grouped in families:

* ``startup`` / ``shutdown`` — the plugin's lifetime inside one ``Commerce``;
* ``register_*`` — the plugin contributes objects (settings, CLI commands, HTTP
  routes; later payment gateways, connectors, notifiers …);
* ``on_*`` — notifications of domain events, delivered from the outbox;
* ``calculate_*`` — the plugin computes part of a result (taxes, fees of a cart);
* ``choose_*`` — the plugin replaces a decision of the core (where an order ships from);
* ``validate_*`` — the plugin may veto an input, returning problems.

Implementations of ``startup``, ``shutdown``, ``on_event``, ``calculate_*``,
``validate_*`` and ``choose_*`` may be ``async def``: the host awaits what they
return. The ``register_*`` hooks are called synchronously, once, while things are
being built. A plugin declares only the arguments it needs (pluggy passes them by
name).

The host (``omnicore.plugins.PluginHost``) calls each plugin's implementation
through pluggy, one plugin at a time in pluggy's order (``tryfirst``, then the
plugin registered last first, ``trylast`` at the end), awaiting it before the next;
wrapper implementations (``wrapper=True``, ``hookwrapper=True``) are refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from omnicore.commerce import Commerce
    from omnicore.delivery import ShippingMethod, ShippingProvider
    from omnicore.errors import Problem
    from omnicore.events import Event
    from omnicore.payments import PaymentGateway
    from omnicore.pricing import Adjustment, PricingContext, Totals
    from omnicore.sourcing import SourcingPlan, SourcingRequest

__all__ = [
    "HOOK_NAMES",
    "calculate_adjustments",
    "choose_sources",
    "hookimpl",
    "hookspec",
    "on_event",
    "register_commands",
    "register_payment_gateways",
    "register_routes",
    "register_settings",
    "register_shipping_methods",
    "shutdown",
    "startup",
    "validate_cart",
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
    ``plugins.<name>.<key>`` when a value is missing or malformed. An installed
    plugin none of whose keys is given is "installed, not configured" instead: it
    is not started and none of its hooks is called (unless ``[plugins] require``
    lists it, which makes the absence an error).

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


@hookspec
def calculate_adjustments(
    commerce: Commerce, context: PricingContext, totals: Totals
) -> Sequence[Adjustment] | Awaitable[Sequence[Adjustment] | None] | None:
    """Add adjustments to a priced cart: taxes, eco-fees, deposits, rebates.

    Called by ``commerce.pricing.price`` after prices and promotions, once per
    pricing, for every plugin that implements it (each plugin's adjustments are
    added; the results are not "first wins"). Each ``Adjustment`` has a signed
    ``amount`` in the cart's currency (a tax is positive, a rebate negative); the
    host sets its ``source`` to the plugin's name, appends it to
    ``totals.adjustments`` and adds it to ``totals.total``. Every plugin sees
    the same ``totals`` (after promotions), not the other plugins' adjustments,
    so the result does not depend on the order of the plugins. An amount in
    another currency, or a total that would become negative, raises
    ``PluginError`` naming the plugin. Keep it fast and free of side effects:
    a cart is priced on every change.

    :param commerce: the instance pricing the cart.
    :param context: what is priced: ``channel``, ``currency``, ``lines``
        (``PricingLine``), ``codes``, ``customer_id``, ``shipping``, ``now``.
    :param totals: the totals so far (after promotions).
    :return: a list of ``omnicore.pricing.Adjustment``, or None for none.
    """


@hookspec
def validate_cart(
    commerce: Commerce, cart: Any
) -> Sequence[Problem] | Awaitable[Sequence[Problem] | None] | None:
    """Veto a cart: return the problems that stop it from being checked out.

    Called by ``omnicore.pricing.validate`` (the cart service calls it before
    checkout) for every plugin that implements it. Return ``Problem(field,
    message)`` objects (``field`` a path in the cart such as ``lines[0].sku``),
    or None / an empty list when the cart is fine. The host raises one
    ``InvalidInput`` holding every plugin's problems, each message prefixed with
    ``plugin '<name>': ``.

    :param commerce: the instance the cart belongs to.
    :param cart: the cart (an ``omnicore.carts.Cart``).
    :return: a list of ``omnicore.errors.Problem``, or None.
    """


@hookspec
def register_payment_gateways(commerce: Commerce) -> Sequence[PaymentGateway] | None:
    """Contribute payment gateways (Stripe, Adyen, a gift-card system …).

    Synchronous: called once, the first time ``commerce.payments`` needs its gateways.
    Each object implements ``omnicore.payments.PaymentGateway``: a unique
    ``code`` (what checkout's ``payments=[{"gateway": code, …}]`` names) and the async
    operations ``authorize``, ``capture``, ``void``, ``refund`` and ``parse_webhook``.
    Two gateways with one code raise ``PluginError``; the built-in ``manual`` gateway
    (pay in store, cash on collection) cannot be replaced.

    :param commerce: the instance the gateways will serve.
    :return: a list of gateway objects, or None.
    """


@hookspec
def register_shipping_methods(
    commerce: Commerce,
) -> Sequence[ShippingMethod | ShippingProvider] | None:
    """Contribute delivery methods and carriers' rates.

    Synchronous: called once, the first time ``commerce.delivery`` needs its methods.
    Return ``omnicore.delivery.ShippingMethod`` objects (a fixed-rate method, like the
    built-in ``standard`` and ``express``) or ``ShippingProvider`` objects whose async
    ``quote(request)`` returns live rates (a carrier's API). A method code that is
    already taken raises ``PluginError`` naming the plugin.

    :param commerce: the instance the methods will serve.
    :return: a list of methods and providers, or None.
    """


@hookspec
def choose_sources(
    commerce: Commerce, request: SourcingRequest
) -> SourcingPlan | Awaitable[SourcingPlan | None] | None:
    """Choose the locations an order's lines are fulfilled from (replace the default sourcing).

    Called at checkout and for imported orders, inside no transaction. ``request``
    carries the lines, their delivery groups (ship to a point, pick up at a store,
    relay point) and the candidate locations with what each can supply. The first
    plugin to return a plan wins; return None to leave the decision to the next
    plugin or to the built-in strategy (fewest shipments, then the shortest distance,
    then the locations' priority). The core checks the plan: every line's quantity
    covered, only candidate locations, never more than a candidate can supply —
    otherwise ``PluginError`` naming the plugin.

    :param commerce: the instance placing the order.
    :param request: an ``omnicore.sourcing.SourcingRequest``.
    :return: an ``omnicore.sourcing.SourcingPlan``, or None.
    """


HOOK_NAMES = tuple(
    name
    for name, value in dict(globals()).items()
    if callable(value) and hasattr(value, f"{PROJECT}_spec")
)
