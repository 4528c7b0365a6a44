"""omnicore-stripe: card payments through Stripe PaymentIntents (authorize, then capture).

Install the distribution, configure ``[plugins.stripe]`` (``secret_key``,
``webhook_secret``), and point a Stripe webhook endpoint at ``/webhooks/stripe``.
Checkout then accepts ``payments=[{"gateway": "stripe", "data": {"payment_method":
"pm_…"}}]``. See docs/stripe.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from omnicore import NotFound, PluginError, hookimpl
from omnicore_stripe.client import StripeClient, encode
from omnicore_stripe.gateway import StripeGateway, create_params
from omnicore_stripe.settings import DEFAULT_API_VERSION, StripeSettings
from omnicore_stripe.webhooks import sign, verify, webhook_endpoint

if TYPE_CHECKING:
    import httpx
    from starlette.routing import Route

    from omnicore import Commerce
    from omnicore_stripe.client import Sleep

__all__ = [
    "DEFAULT_API_VERSION",
    "StripeClient",
    "StripeGateway",
    "StripePlugin",
    "StripeSettings",
    "create_params",
    "encode",
    "sign",
    "verify",
]

__version__ = "0.1.0"

log = logging.getLogger("omnicore_stripe")


class StripePlugin:
    """The ``stripe`` plugin: its settings, the ``stripe`` gateway, ``/webhooks/stripe``.

    ``sleep``, ``jitter`` and ``transport`` are for tests (no real waiting between
    retries, a fixed jitter, an httpx transport of one's own).
    """

    name = "stripe"

    def __init__(self, *, sleep: Sleep | None = None, jitter: Any = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._sleep = sleep
        self._jitter = jitter
        self._transport = transport
        self.gateway: StripeGateway | None = None

    @hookimpl
    def register_settings(self) -> type[Any]:
        return StripeSettings

    @hookimpl
    async def startup(self, commerce: Commerce, settings: StripeSettings) -> None:
        client = StripeClient(settings, sleep=self._sleep, jitter=self._jitter,
                              transport=self._transport)
        async def payment_created(payment_id: str) -> dt.datetime | None:
            try:
                return (await commerce.payments.get(payment_id)).created_at
            except NotFound:
                return None

        self.gateway = StripeGateway(settings, client,
                                     now=lambda: commerce.clock().timestamp(),
                                     payment_created=payment_created)
        log.info("Stripe payments ready (%s mode, API version %s)",
                 "live" if settings.live else "test", settings.api_version)

    @hookimpl
    async def shutdown(self) -> None:
        if self.gateway is not None:
            await self.gateway.client.aclose()

    def _gateway(self) -> StripeGateway:
        if self.gateway is None:
            raise PluginError("the Stripe gateway is used before the plugin started",
                              plugin=self.name)
        return self.gateway

    @hookimpl
    def register_payment_gateways(self) -> list[StripeGateway]:
        return [self._gateway()]

    @hookimpl
    def register_routes(self, commerce: Commerce) -> list[Route]:
        from starlette.routing import Route

        endpoint = webhook_endpoint(commerce, self._gateway, StripeGateway.code)
        return [Route("/webhooks/stripe", endpoint, methods=["POST"])]
