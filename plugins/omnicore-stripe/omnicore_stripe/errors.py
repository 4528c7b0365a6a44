"""Stripe's failures as omnicore's typed errors (what storefronts and the core act on).

| Stripe                                          | omnicore                                   |
|-------------------------------------------------|--------------------------------------------|
| ``card_error`` (402)                            | ``PaymentDeclined`` with ``decline_code``  |
| ``idempotency_error``                           | ``Conflict`` (``idempotency_key``)         |
| 409 (a concurrent request with the same key)    | ``Conflict``                               |
| a PaymentIntent / charge in the wrong state     | ``Conflict``                               |
| a bad or missing ``payment_method``             | ``InvalidInput`` (``payments``)            |
| amount too small / too large                    | ``InvalidInput`` (``payments``/``amount``) |
| ``resource_missing`` (404)                      | ``NotFound``                               |
| 401 / 403 (the key)                             | ``PluginError`` naming ``stripe``          |
| 429, 5xx, no answer — after the retries         | ``PaymentUnavailable``                     |
| any other ``invalid_request_error``             | ``PluginError`` naming ``stripe``          |

Messages carry Stripe's own message (scrubbed of anything shaped like a key) and,
for failures an operator must look into, Stripe's request id.
"""

from __future__ import annotations

from omnicore import (
    Conflict,
    InvalidInput,
    NotFound,
    OmnicoreError,
    PaymentDeclined,
    PaymentUnavailable,
    PluginError,
)
from omnicore_stripe.client import StripeError, StripeUnreachable

__all__ = ["PLUGIN", "to_omnicore"]

PLUGIN = "stripe"

#: ``invalid_request_error`` codes that mean "not in a state that allows this".
STATE_CODES = frozenset({
    "payment_intent_unexpected_state", "charge_already_captured", "charge_already_refunded",
    "charge_expired_for_capture", "charge_disputed", "payment_intent_invalid_parameter",
    "refund_disputed_payment",
})
#: codes that blame what the storefront sent for this payment
PAYMENT_INPUT_CODES = frozenset({
    "payment_method_unexpected_state", "payment_method_invalid_parameter",
    "payment_intent_incompatible_payment_method", "payment_method_not_available",
    "payment_method_unactivated",
})
AMOUNT_CODES = frozenset({"amount_too_small", "amount_too_large", "invalid_charge_amount"})


def _reference(exc: StripeError) -> str:
    return f" (Stripe request {exc.request_id})" if exc.request_id else ""


def to_omnicore(exc: StripeError | StripeUnreachable, *, operation: str) -> OmnicoreError:
    """The omnicore error for a failed ``operation`` (``authorize``, ``capture`` …)."""
    if isinstance(exc, StripeUnreachable):
        return PaymentUnavailable(f"Stripe could not be reached to {operation}; nothing was "
                                  "confirmed, try again")
    message = exc.stripe_message or "no message"
    if exc.type == "card_error":
        return PaymentDeclined(exc.stripe_message or "The card was declined.",
                               decline_code=exc.decline_code or exc.code)
    if exc.type == "idempotency_error":
        return Conflict(f"Stripe refused the idempotency key of this {operation}: {message}",
                        field="idempotency_key")
    if exc.status == 401 or exc.type == "authentication_error":
        return PluginError("Stripe refused the API key; check plugins.stripe.secret_key"
                           f"{_reference(exc)}", plugin=PLUGIN)
    if exc.status == 403 or exc.type == "permission_error":
        return PluginError(f"the API key may not {operation} at Stripe: {message}"
                           f"{_reference(exc)}", plugin=PLUGIN)
    if exc.status == 429 or exc.type == "rate_limit_error":
        return PaymentUnavailable(f"Stripe is limiting the rate of requests; {operation} "
                                  "again shortly")
    if exc.status >= 500 or exc.type == "api_error":
        return PaymentUnavailable(f"Stripe failed to {operation} (HTTP {exc.status}); nothing "
                                  f"was confirmed, try again{_reference(exc)}")
    if exc.status == 409:
        return Conflict(f"Stripe is busy with another request for this payment: {message}",
                        field="idempotency_key")
    if exc.param == "payment_method" or exc.code in PAYMENT_INPUT_CODES:
        return InvalidInput(message, field="payments")
    if exc.code in AMOUNT_CODES:
        return InvalidInput(message, field="payments" if operation == "authorize" else "amount")
    if exc.code in STATE_CODES:
        return Conflict(message, field="payment_id")
    if exc.status == 404 or exc.code == "resource_missing":
        return NotFound(f"{message}{_reference(exc)}", field="reference")
    return PluginError(f"Stripe refused to {operation}: {message}"
                       f"{f' [{exc.code}]' if exc.code else ''}{_reference(exc)}", plugin=PLUGIN)
