"""Which delivery methods and carriers exist, and how a carrier is asked for rates.

Used by ``omnicore.delivery``: the catalogue merges the core's methods (built-in
and configured) with what plugins contribute through ``register_shipping_methods``;
``ask`` calls one carrier with a timeout and checks its answer.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from typing import Any

import attrs

from omnicore import validators
from omnicore.delivery._models import QuoteRequest, Rate, ShippingMethod, ShippingProvider
from omnicore.delivery._settings import DeliverySettings
from omnicore.errors import InvalidInput, PluginError

__all__ = ["CORE", "Catalogue", "ask", "build_catalogue", "owns"]

#: ``Rate.source`` of built-in and configured methods.
CORE = "core"


def owns(provider_code: str, method: str) -> bool:
    """A provider answers for its own code and ``<code>.<service>``."""
    return method == provider_code or method.startswith(f"{provider_code}.")


@attrs.frozen
class Catalogue:
    methods: dict[str, ShippingMethod]
    #: method code -> "core" or the name of the plugin that contributed it
    sources: dict[str, str]
    #: (plugin, provider), in the plugins' order
    providers: list[tuple[str, ShippingProvider]]

    def provider_of(self, method: str) -> tuple[str, ShippingProvider] | None:
        return next(((p, prov) for p, prov in self.providers if owns(prov.code, method)), None)


def _owner(source: str) -> str:
    return "a built-in or configured method" if source == CORE else f"plugin {source!r}"


def _taken(code: str, catalogue: Catalogue, *, provider: bool) -> str | None:
    """Who already holds ``code`` (a method's, or with ``provider`` a carrier's namespace)."""
    for method, source in catalogue.sources.items():
        if method == code or (provider and owns(code, method)):
            return source
    for plugin, other in catalogue.providers:
        if owns(other.code, code) or (provider and owns(code, other.code)):
            return plugin
    return None


def build_catalogue(settings: DeliverySettings, contributions: list[tuple[str, Any]]) -> Catalogue:
    """The core's methods plus the plugins' ``(plugin, object)`` contributions.

    A code taken twice (a method's code, or a carrier's code and its ``code.*``
    namespace) raises ``PluginError`` naming the plugin that came second.
    """
    catalogue = Catalogue(dict(settings.methods), dict.fromkeys(settings.methods, CORE), [])
    for plugin, item in contributions:
        if isinstance(item, ShippingMethod):
            taken = _taken(item.code, catalogue, provider=False)
            kind = "shipping method"
        elif isinstance(item, ShippingProvider) and isinstance(item.code, str):
            try:
                validators.code(None, attrs.fields(ShippingMethod).code, item.code)
            except InvalidInput as exc:
                raise PluginError(f"shipping provider code: {exc.message}", plugin=plugin) from None
            taken = _taken(item.code, catalogue, provider=True)
            kind = "shipping provider"
        else:
            raise PluginError(f"register_shipping_methods returned a {type(item).__name__}, "
                              "not a ShippingMethod or a ShippingProvider", plugin=plugin)
        if taken is not None:
            raise PluginError(f"{kind} code {item.code!r} is already taken by {_owner(taken)}",
                              plugin=plugin)
        if isinstance(item, ShippingMethod):
            catalogue.methods[item.code] = item
            catalogue.sources[item.code] = plugin
        else:
            catalogue.providers.append((plugin, item))
    return catalogue


class _BadAnswer(Exception):
    """A provider returned something that is not a valid list of rates for the request."""


async def ask(
    plugin: str, provider: ShippingProvider, request: QuoteRequest, *, within: float,
    field: str | None = None,
) -> list[Rate]:
    """A carrier's rates for ``request``, checked, with ``source`` and dates filled.

    Any failure is a ``PluginError`` naming the plugin and free of the request's
    personal data: it says the exception's type, never its message (which may quote
    the address).
    """
    try:
        answer = await asyncio.wait_for(_call(provider, request), within)
        return _checked(plugin, provider, answer, request)
    except _BadAnswer as exc:
        raise PluginError(f"shipping provider {provider.code!r} {exc}", plugin=plugin,
                          field=field) from exc
    except TimeoutError as exc:
        raise PluginError(f"shipping provider {provider.code!r} did not answer within "
                          f"{within:g} s", plugin=plugin, field=field) from exc
    except Exception as exc:
        raise PluginError(f"shipping provider {provider.code!r} failed to quote: "
                          f"{type(exc).__name__}", plugin=plugin, field=field) from exc


async def _call(provider: ShippingProvider, request: QuoteRequest) -> Any:
    answer: Any = provider.quote(request)
    return await answer if inspect.isawaitable(answer) else answer


def _checked(
    plugin: str, provider: ShippingProvider, answer: Any, request: QuoteRequest
) -> list[Rate]:
    if not isinstance(answer, Sequence) or isinstance(answer, str | bytes):
        raise _BadAnswer(f"returned a {type(answer).__name__}, not a list of Rate")
    rates: list[Rate] = []
    for rate in answer:
        if not isinstance(rate, Rate):
            raise _BadAnswer(f"returned a {type(rate).__name__}, not a Rate")
        if not owns(provider.code, rate.method):
            raise _BadAnswer(f"returned method {rate.method!r}; its methods are "
                             f"{provider.code!r} and '{provider.code}.<service>'")
        if rate.kind is not request.kind:
            raise _BadAnswer(f"returned a {rate.kind} rate for a {request.kind} request")
        if rate.price.currency != request.currency:
            raise _BadAnswer(f"returned a price in {rate.price.currency} for a "
                             f"{request.currency} request")
        if any(r.method == rate.method for r in rates):
            raise _BadAnswer(f"returned method {rate.method!r} twice")
        rates.append(attrs.evolve(rate, source=plugin).with_window(request.now))
    return rates
