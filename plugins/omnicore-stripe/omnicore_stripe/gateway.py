"""``StripeGateway``: omnicore's payment operations as Stripe PaymentIntent calls.

| omnicore          | Stripe                                                                  |
|-------------------|-------------------------------------------------------------------------|
| ``authorize``     | ``POST /v1/payment_intents`` ``capture_method=manual`` (``confirm=true``) |
| ``capture``       | ``POST /v1/payment_intents/{id}/capture`` ``amount_to_capture``         |
| ``void``          | ``POST /v1/payment_intents/{id}/cancel``                                |
| ``refund``        | ``POST /v1/refunds`` ``payment_intent``, ``amount``                     |
| ``parse_webhook`` | ``Stripe-Signature`` checked, events translated (``webhooks``)          |

Every POST carries omnicore's idempotency key (``<payment id>:authorize``,
``<payment id>:capture:<transaction id>`` …), so a retried call — by this client,
by the core after a crash — is answered by Stripe with the first result instead
of charging twice. The create call's parameters are derived only from what a
``PaymentRef`` also carries (payment id, amount, order number, the storefront's
``data``), so reconciliation can replay it to find an intent whose id was never
recorded — while Stripe still keeps the key (24 hours); the intent is looked up by
its metadata first (``_recover``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from omnicore import InvalidInput, Money, PaymentDeclined, PluginError
from omnicore.payments import GatewayResult, Outcome, PaymentEvent, PaymentRef, PaymentRequest
from omnicore_stripe.client import StripeClient, StripeError, StripeUnreachable
from omnicore_stripe.errors import PLUGIN, to_omnicore
from omnicore_stripe.settings import StripeSettings
from omnicore_stripe.webhooks import METADATA_PAYMENT_ID, parse_body, to_payment_events, verify

__all__ = ["StripeGateway", "create_params"]

log = logging.getLogger("omnicore_stripe")

_ID = re.compile(r"[A-Za-z0-9_]{3,255}")
#: statuses in which nothing is held on the customer's card any more
SETTLED = ("canceled", "succeeded")
#: Stripe prunes idempotency keys once they are 24 hours old: the create call is replayed
#: (to find an intent search cannot see yet) only for a payment younger than this
REPLAY_WINDOW = dt.timedelta(hours=23)
#: when the plugin looks a payment up to know its age: its creation time, or None
PaymentCreated = Callable[[str], Awaitable["dt.datetime | None"]]


def _url(value: object, field: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"https?://\S{1,2000}", value):
        raise InvalidInput("must be an http(s) URL", field=field)
    return value


def create_params(payment_id: str, amount: Money, order_number: str | None,
                  data: Mapping[str, Any], settings: StripeSettings) -> dict[str, Any]:
    """The ``POST /v1/payment_intents`` parameters for one omnicore payment.

    With ``data["payment_method"]`` (a ``pm_…`` the storefront collected with Stripe.js)
    the intent is confirmed at once, server-side; without it, the storefront confirms
    it with the ``client_secret`` (Payment Element) and the webhook completes the
    checkout. Only deterministic inputs are used: the same payment gives the same
    parameters, which the ``:authorize`` idempotency key requires when replayed.
    """
    params: dict[str, Any] = {
        "amount": amount.minor_units,
        "currency": amount.currency.lower(),
        "capture_method": "manual",
        "metadata": {METADATA_PAYMENT_ID: payment_id, "order_number": order_number},
        "description": f"Order {order_number}" if order_number else None,
    }
    if settings.multicapture:
        params["payment_method_options"] = {"card": {"request_multicapture": "if_available"}}
    method = data.get("payment_method")
    return_url = data.get("return_url") or settings.return_url
    if method is not None:
        if not isinstance(method, str) or not _ID.fullmatch(method):
            raise InvalidInput("payment_method must be a Stripe PaymentMethod id (pm_…)",
                               field="payments")
        params.update(payment_method=method, confirm=True, use_stripe_sdk=True)
        if return_url:
            params["return_url"] = _url(return_url, "payments")
        else:  # confirming server-side without a return URL: no redirect-based methods
            params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
    else:
        params["automatic_payment_methods"] = {"enabled": True}
    return params


def _minor(intent: Mapping[str, Any], key: str) -> int:
    value = intent.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class StripeGateway:
    """The ``stripe`` payment gateway (``omnicore.payments.PaymentGateway``)."""

    code = "stripe"

    def __init__(self, settings: StripeSettings, client: StripeClient, *,
                 now: Callable[[], float] | None = None,
                 payment_created: PaymentCreated | None = None) -> None:
        self.settings = settings
        self.client = client
        self.now = now or time.time
        #: when an omnicore payment was created (``commerce.payments.get``); None: unknown
        self.payment_created = payment_created

    # -- authorize -------------------------------------------------------------------------

    async def authorize(self, request: PaymentRequest) -> GatewayResult:
        params = create_params(request.payment_id, request.amount, request.order_number,
                               request.data, self.settings)
        intent = await self._post("authorize", "/payment_intents", params,
                                  request.idempotency_key)
        if _minor(intent, "amount") != request.amount.minor_units:
            raise PluginError(f"PaymentIntent {intent.get('id')} is for another amount than "
                              f"payment {request.payment_id}", plugin=PLUGIN)
        return self._authorization(intent, request.amount, confirmed=bool(params.get("confirm")))

    def _authorization(self, intent: Mapping[str, Any], amount: Money, *,
                       confirmed: bool) -> GatewayResult:
        status, reference = intent.get("status"), str(intent.get("id"))
        if status == "requires_capture":
            capturable = Money.from_minor_units(_minor(intent, "amount_capturable"),
                                                amount.currency)
            return GatewayResult(Outcome.SUCCEEDED, capturable, reference=reference)
        if (status == "requires_payment_method" and confirmed) or status == "canceled":
            error = intent.get("last_payment_error")
            error = error if isinstance(error, Mapping) else {}
            raise PaymentDeclined(str(error.get("message") or "The payment was declined."),
                                  decline_code=error.get("decline_code") or error.get("code"))
        if status in ("requires_action", "requires_payment_method", "requires_confirmation",
                      "processing"):
            return GatewayResult(Outcome.REQUIRES_ACTION, amount, reference=reference,
                                 next_action=_next_action(intent))
        if status == "succeeded":  # captured at once (not an intent this plugin makes)
            return GatewayResult(Outcome.SUCCEEDED, amount, reference=reference,
                                 message="the PaymentIntent was already captured")
        raise PluginError(f"PaymentIntent {reference} has an unknown status {status!r}",
                          plugin=PLUGIN)

    # -- capture / void / refund -----------------------------------------------------------

    async def capture(self, payment: PaymentRef, amount: Money, *, idempotency_key: str
                      ) -> GatewayResult:
        intent_id = await self._intent_id(payment, "capture")
        remaining = payment.authorized - payment.captured
        take, message = amount, None
        params: dict[str, Any] = {"amount_to_capture": amount.minor_units}
        if amount < remaining:
            if self.settings.multicapture and await self._multicapture(intent_id):
                params["final_capture"] = False  # keep the rest authorized for later captures
            else:
                # Stripe releases what a partial capture leaves: take all that remains,
                # so the goods still to ship are paid before the authorization lapses.
                take, message = remaining, ("partial capture without multicapture: captured "
                                            "everything that remained authorized")
                params["amount_to_capture"] = take.minor_units
        intent = await self._post("capture", f"/payment_intents/{intent_id}/capture", params,
                                  idempotency_key)
        return GatewayResult(Outcome.SUCCEEDED, take, reference=str(intent.get("id")),
                             message=message)

    async def _multicapture(self, intent_id: str) -> bool:
        intent = await self._get("capture", f"/payment_intents/{intent_id}",
                                 {"expand": ["latest_charge"]})
        charge = intent.get("latest_charge")
        details = charge.get("payment_method_details") if isinstance(charge, Mapping) else None
        card = details.get("card") if isinstance(details, Mapping) else None
        multicapture = card.get("multicapture") if isinstance(card, Mapping) else None
        return isinstance(multicapture, Mapping) and multicapture.get("status") == "available"

    async def void(self, payment: PaymentRef, *, idempotency_key: str) -> GatewayResult:
        held = payment.authorized if payment.authorized else payment.amount
        released = max(held - payment.captured, Money.zero(payment.amount.currency))
        intent_id = payment.reference or await self._recover(payment)
        if intent_id is None:
            return GatewayResult(Outcome.SUCCEEDED, released,
                                 message="no PaymentIntent exists for this payment")
        try:
            intent = await self._post("void", f"/payment_intents/{intent_id}/cancel", {},
                                      idempotency_key, raw=True)
        except StripeError as exc:
            if exc.code != "payment_intent_unexpected_state":
                raise to_omnicore(exc, operation="void") from None
            intent = await self._get("void", f"/payment_intents/{intent_id}")
            if intent.get("status") not in SETTLED:
                raise to_omnicore(exc, operation="void") from None
        return GatewayResult(Outcome.SUCCEEDED, released, reference=str(intent.get("id")),
                             message=None if intent.get("status") == "canceled"
                             else f"nothing left to release ({intent.get('status')})")

    async def refund(self, payment: PaymentRef, amount: Money, *, idempotency_key: str
                     ) -> GatewayResult:
        intent_id = await self._intent_id(payment, "refund")
        params = {"payment_intent": intent_id, "amount": amount.minor_units,
                  "metadata": {METADATA_PAYMENT_ID: payment.payment_id,
                               "order_number": payment.order_number}}
        refund = await self._post("refund", "/refunds", params, idempotency_key)
        status = refund.get("status")
        if status in ("failed", "canceled"):
            reason = refund.get("failure_reason")
            raise PaymentDeclined(f"Stripe could not refund: {reason or status}",
                                  field="amount", decline_code=str(reason or status))
        refunded = Money.from_minor_units(_minor(refund, "amount") or amount.minor_units,
                                          amount.currency)
        return GatewayResult(Outcome.SUCCEEDED, refunded, reference=str(refund.get("id")),
                             message=None if status == "succeeded"
                             else f"the refund is {status} at Stripe")

    # -- webhooks --------------------------------------------------------------------------

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes
                            ) -> Sequence[PaymentEvent]:
        verify(headers, body, self.settings.webhook_secret, now=self.now(),
               tolerance=self.settings.webhook_tolerance_seconds)
        return to_payment_events(parse_body(body))

    # -- finding the intent ----------------------------------------------------------------

    async def _intent_id(self, payment: PaymentRef, operation: str) -> str:
        found = payment.reference or await self._recover(payment)
        if found is None:
            raise PluginError(f"no PaymentIntent found for payment {payment.payment_id} "
                              f"(cannot {operation})", plugin=PLUGIN)
        return found

    async def _recover(self, payment: PaymentRef) -> str | None:
        """The intent of a payment whose ``reference`` was never recorded (a crash).

        1. Search: ``GET /v1/payment_intents/search`` with
           ``metadata['omnicore_payment_id']:'<payment id>'`` — the metadata every intent
           of this plugin carries. Found: that intent, and nothing is created.
        2. Not found: Stripe's search lags (under a minute, up to an hour in an outage),
           so an intent made moments ago may not show yet. While Stripe still keeps the
           ``:authorize`` key — the payment is younger than ``REPLAY_WINDOW`` (23 h; Stripe
           prunes keys after 24 h) — the create call is replayed under it: Stripe answers
           with the intent it made (or, if the first call never reached it, makes one,
           which the caller then cancels). A replay that answers with the create call's
           own failure (a decline) means nothing is held.
        3. Older, or of an unknown age: no replay — Stripe may have forgotten the key and
           would authorize the card again. The search had hours to see the intent:
           none means none was made.
        """
        try:
            found = await self._search(payment.payment_id)
        except StripeError as exc:  # search unavailable (accounts in India …)
            if not await self._replayable(payment):
                raise to_omnicore(exc, operation="void") from None
            log.info("searching the intent of %s failed (%s); replaying its create call",
                     payment.payment_id, exc.type)
            found = None
        except StripeUnreachable as exc:
            raise to_omnicore(exc, operation="void") from None
        if found is not None:
            return found
        if not payment.order_number or not await self._replayable(payment):
            return None
        params = create_params(payment.payment_id, payment.amount, payment.order_number,
                               payment.data, self.settings)
        try:
            intent = await self._post("void", "/payment_intents", params,
                                      f"{payment.payment_id}:authorize", raw=True)
        except StripeError as exc:
            failed = exc.type == "card_error" or (
                exc.status in (400, 402, 404) and exc.type == "invalid_request_error")
            if failed:
                return None  # the create call failed (replayed as such): nothing is held
            raise to_omnicore(exc, operation="void") from None
        return str(intent["id"])

    async def _search(self, payment_id: str) -> str | None:
        """The intent Stripe's search finds for ``payment_id`` (one still holding money
        first), or None."""
        value = payment_id.replace("\\", "\\\\").replace("'", "\\'")
        found = await self.client.get("/payment_intents/search", {
            "query": f"metadata['{METADATA_PAYMENT_ID}']:'{value}'"})
        intents = [i for i in found.get("data") or [] if isinstance(i, Mapping)
                   and isinstance(i.get("id"), str)]
        intents.sort(key=lambda i: i.get("status") in SETTLED)
        return str(intents[0]["id"]) if intents else None

    async def _replayable(self, payment: PaymentRef) -> bool:
        """Whether Stripe still keeps the payment's ``:authorize`` key (it is young enough)."""
        created = (await self.payment_created(payment.payment_id)
                   if self.payment_created is not None else None)
        if created is None:
            log.warning("the age of payment %s is not known: its create call is not replayed",
                        payment.payment_id)
            return False
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.UTC)
        age = self.now() - created.timestamp()
        if age > REPLAY_WINDOW.total_seconds():
            log.info("payment %s is %.0f h old: Stripe may have pruned its idempotency key; "
                     "its create call is not replayed", payment.payment_id, age / 3600)
            return False
        return True

    # -- calls -----------------------------------------------------------------------------

    async def _post(self, operation: str, path: str, params: Mapping[str, Any], key: str, *,
                    raw: bool = False) -> dict[str, Any]:
        try:
            return await self.client.post(path, params, idempotency_key=key)
        except StripeError as exc:
            if raw:
                raise
            raise to_omnicore(exc, operation=operation) from None
        except StripeUnreachable as exc:
            raise to_omnicore(exc, operation=operation) from None

    async def _get(self, operation: str, path: str, params: Mapping[str, Any] | None = None
                   ) -> dict[str, Any]:
        try:
            return await self.client.get(path, params)
        except (StripeError, StripeUnreachable) as exc:
            raise to_omnicore(exc, operation=operation) from None


def _next_action(intent: Mapping[str, Any]) -> dict[str, Any]:
    """What the storefront needs to let the customer act (never Stripe's raw SDK blob)."""
    stripe_action = intent.get("next_action")
    kind = stripe_action.get("type") if isinstance(stripe_action, Mapping) else None
    status = intent.get("status")
    action: dict[str, Any] = {
        "type": kind or ("processing" if status == "processing" else "confirm_payment"),
        "client_secret": intent.get("client_secret"),
        "payment_intent": intent.get("id"),
    }
    redirect = stripe_action.get("redirect_to_url") if isinstance(stripe_action, Mapping) else None
    if isinstance(redirect, Mapping) and redirect.get("url"):
        action["redirect_url"] = redirect["url"]
    return action
