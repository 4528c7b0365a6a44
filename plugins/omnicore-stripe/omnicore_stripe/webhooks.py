"""Stripe webhooks: the signature check, the events omnicore cares about, the route.

``Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>…]``: the expected signature is
the hex HMAC-SHA256 of ``"{t}.{raw body}"`` under the endpoint's signing secret. It
is compared in constant time with every ``v1`` (Stripe sends several while a
secret is being rolled); a ``t`` older than the tolerance (300 s) is refused, so a
captured request cannot be replayed later. A ``t`` in the future is accepted, as
Stripe's own libraries accept it: only the age of a signature is bounded (a sender
whose clock runs ahead is not refused; a forger still needs the secret). A replay
inside that window, and Stripe's own redeliveries, are harmless: ``apply_events``
applies each event id once.

| Stripe event                                 | omnicore ``PaymentEvent``                   |
|----------------------------------------------|---------------------------------------------|
| ``payment_intent.amount_capturable_updated`` | ``authorized`` (if ``requires_capture``)    |
| ``payment_intent.succeeded``                 | ``captured`` (total ``amount_received``)    |
| ``payment_intent.payment_failed``            | ``failed`` (``last_payment_error``)         |
| ``payment_intent.canceled``                  | ``voided``                                  |
| ``charge.refunded``                          | ``refunded`` (total ``amount_refunded``)    |

With ``capture_method=manual`` Stripe says ``succeeded`` only once money was
*captured*; the authorization a 3-D Secure checkout waits for is
``amount_capturable_updated`` / ``requires_capture``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from omnicore import Forbidden, InvalidInput, Money, OmnicoreError
from omnicore.payments import PaymentEvent, PaymentEventKind

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from omnicore import Commerce
    from omnicore.payments import PaymentGateway

__all__ = ["MAX_BODY_BYTES", "METADATA_PAYMENT_ID", "sign", "to_payment_events", "verify",
           "webhook_endpoint"]

log = logging.getLogger("omnicore_stripe")

METADATA_PAYMENT_ID = "omnicore_payment_id"
MAX_BODY_BYTES = 512 * 1024
HANDLED = ("payment_intent.amount_capturable_updated", "payment_intent.succeeded",
           "payment_intent.payment_failed", "payment_intent.canceled", "charge.refunded")


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header Stripe would send (used by tests and tools)."""
    return f"t={timestamp},v1={_expected(body, secret, timestamp)}"


def _expected(body: bytes, secret: str, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for key, item in headers.items():  # a plain dict with other capitals
        if key.lower() == name:
            return item
    return None


def verify(headers: Mapping[str, str], body: bytes, secret: str, *, now: float,
           tolerance: int) -> None:
    """Raise ``Forbidden`` unless ``body`` carries a valid Stripe signature made at most
    ``tolerance`` seconds before ``now`` (a timestamp after ``now`` is accepted)."""
    header = _header(headers, "stripe-signature")
    if not header:
        raise Forbidden("missing Stripe-Signature header", field="stripe-signature")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise Forbidden("malformed Stripe-Signature header (expected t=…,v1=…)",
                        field="stripe-signature")
    expected = _expected(body, secret, timestamp)
    matched = False
    for candidate in signatures:  # every one compared, in constant time
        matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    if not matched:
        raise Forbidden("no Stripe-Signature v1 value matches the body",
                        field="stripe-signature")
    if now - timestamp > tolerance:  # like Stripe's libraries: too old, never too new
        raise Forbidden(f"the Stripe-Signature timestamp is more than {tolerance} s old",
                        field="stripe-signature")


def _money(minor: Any, currency: Any) -> Money | None:
    if not isinstance(minor, int) or isinstance(minor, bool) or not isinstance(currency, str):
        return None
    return Money.from_minor_units(minor, currency.upper())


def _metadata_id(obj: Mapping[str, Any]) -> str | None:
    metadata = obj.get("metadata")
    value = metadata.get(METADATA_PAYMENT_ID) if isinstance(metadata, Mapping) else None
    return value if isinstance(value, str) and value else None


def _failure(obj: Mapping[str, Any]) -> str | None:
    error = obj.get("last_payment_error")
    if not isinstance(error, Mapping):
        return None
    reason = error.get("decline_code") or error.get("code")
    message = error.get("message") or "the payment failed"
    return f"{message} ({reason})" if reason else str(message)


def to_payment_events(event: Mapping[str, Any]) -> list[PaymentEvent]:
    """The omnicore events of one (verified) Stripe event; [] for the types not handled."""
    kind, event_id = event.get("type"), event.get("id")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(event_id, str) or not isinstance(obj, Mapping) or kind not in HANDLED:
        return []
    created = event.get("created")
    occurred = dt.datetime.fromtimestamp(created, dt.UTC) if isinstance(created, int) else None
    currency = obj.get("currency")
    common: dict[str, Any] = {"event_id": event_id, "occurred_at": occurred,
                              "payment_id": _metadata_id(obj)}
    if kind == "charge.refunded":
        total = _money(obj.get("amount_refunded"), currency)
        if total is None:
            return []
        previous = data.get("previous_attributes") if isinstance(data, Mapping) else None
        before = previous.get("amount_refunded") if isinstance(previous, Mapping) else None
        amount = _money(obj["amount_refunded"] - before, currency) \
            if isinstance(before, int) and before < obj["amount_refunded"] else total
        return [PaymentEvent(kind=PaymentEventKind.REFUNDED, reference=_str(obj.get(
            "payment_intent")), amount=amount, total=total, **common)]
    reference = _str(obj.get("id"))
    if kind == "payment_intent.amount_capturable_updated":
        capturable = _money(obj.get("amount_capturable"), currency)
        if obj.get("status") != "requires_capture" or not capturable:
            return []  # e.g. after a capture: nothing newly authorized
        return [PaymentEvent(kind=PaymentEventKind.AUTHORIZED, reference=reference,
                             amount=capturable, **common)]
    if kind == "payment_intent.succeeded":
        received = _money(obj.get("amount_received"), currency)
        return [PaymentEvent(kind=PaymentEventKind.CAPTURED, reference=reference,
                             amount=received, total=received, **common)]
    if kind == "payment_intent.payment_failed":
        return [PaymentEvent(kind=PaymentEventKind.FAILED, reference=reference,
                             message=_failure(obj), **common)]
    return [PaymentEvent(kind=PaymentEventKind.VOIDED, reference=reference,
                         amount=_money(obj.get("amount"), currency), **common)]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_body(body: bytes) -> Mapping[str, Any]:
    try:
        event = json.loads(body)
    except ValueError:
        raise InvalidInput("the webhook body is not JSON", field="body") from None
    if not isinstance(event, dict) or event.get("object") != "event":
        raise InvalidInput("the webhook body is not a Stripe event", field="body")
    return event


def webhook_endpoint(commerce: Commerce, gateway: Callable[[], PaymentGateway],
                     code: str) -> Callable[[Request], Any]:
    """The ``POST /webhooks/stripe`` handler: verify, translate, ``apply_events``."""
    from starlette.responses import JSONResponse

    async def endpoint(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"error": "body too large"}, status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": "body too large"}, status_code=413)
        try:
            events: Sequence[PaymentEvent] = await gateway().parse_webhook(request.headers, body)
        except (Forbidden, InvalidInput) as exc:
            log.warning("refused a Stripe webhook: %s", exc.message)
            return JSONResponse({"error": exc.message}, status_code=400)
        try:
            applied = await commerce.payments.apply_events(code, events)
        except OmnicoreError as exc:
            # The events are recorded; what failed is what they set off (a checkout
            # that could not complete, say). Stripe redelivering would change nothing.
            log.warning("Stripe webhook applied, but its follow-up failed: %s (%s)",
                        exc.message, exc.code)
            return JSONResponse({"received": True, "error": exc.code})
        return JSONResponse({"received": True, "applied": applied})

    return endpoint
