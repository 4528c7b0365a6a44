"""The payment gateway contract, and the built-in ``manual`` gateway (pay in store).

A gateway is any object with a ``code`` and five async operations. Plugins
contribute gateways with the ``register_payment_gateways`` hook; checkout and
``commerce.payments`` call them. omnicore keeps the payment records and their
state machine; a gateway only talks to its vendor and reports what happened.

Every call carries an ``idempotency_key`` derived from omnicore's payment id and
the operation (``pay_…:authorize``, ``pay_…:capture:2``): a gateway must pass it
to its vendor so a retried call never charges twice. ``authorize`` may be asked
again with the same key after a crash (reconciliation): the vendor must answer
with the authorization it already made, not make a second one.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from omnicore.money import Money

__all__ = [
    "GatewayResult",
    "ManualGateway",
    "Outcome",
    "PaymentEvent",
    "PaymentGateway",
    "PaymentRef",
    "PaymentRequest",
]


class Outcome(enum.StrEnum):
    """What the vendor answered to one operation."""

    SUCCEEDED = "succeeded"
    #: the customer must act first (3-D Secure): see ``GatewayResult.next_action``
    REQUIRES_ACTION = "requires_action"
    #: nothing is authorized now; the money is taken later (pay at pickup, bank transfer)
    PENDING = "pending"
    FAILED = "failed"


@attrs.frozen
class PaymentRequest:
    """What ``authorize`` is asked: ``amount`` for omnicore payment ``payment_id``.

    ``data`` is what the storefront sent for this payment (a Stripe PaymentMethod id, a
    gift-card number …); ``order_number`` is reserved before authorizing, so vendors
    can show it (Stripe ``metadata[order_number]``).
    """

    payment_id: str
    amount: Money
    order_number: str
    idempotency_key: str
    channel: str
    customer_id: str | None = None
    email: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class PaymentRef:
    """An existing payment, for ``capture``, ``void`` and ``refund``.

    ``reference`` is the vendor's id (``pi_…``); it is None when a crash struck between
    the vendor's answer and omnicore recording it — the gateway then finds the
    authorization by ``payment_id`` / the ``:authorize`` idempotency key.
    """

    payment_id: str
    reference: str | None
    amount: Money
    authorized: Money
    captured: Money
    refunded: Money
    order_number: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class GatewayResult:
    """The vendor's answer. Declines are raised as ``PaymentDeclined`` instead; an
    unreachable vendor as ``PaymentUnavailable``."""

    outcome: Outcome
    amount: Money
    reference: str | None = None
    next_action: Mapping[str, Any] | None = None
    message: str | None = None


class PaymentEventKind(enum.StrEnum):
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    FAILED = "failed"
    VOIDED = "voided"
    REFUNDED = "refunded"


@attrs.frozen
class PaymentEvent:
    """A verified vendor notification, in omnicore's terms (``parse_webhook``'s result).

    ``event_id`` is the vendor's event id: each event is applied once. The payment is
    found by ``payment_id`` when the vendor echoes it (metadata), else by ``reference``.
    ``amount`` is the amount of this event (captured, refunded …) — for ``refunded``
    the vendor's cumulative refunded total is expected in ``total``.
    """

    event_id: str
    kind: PaymentEventKind
    reference: str | None
    amount: Money | None = None
    total: Money | None = None
    payment_id: str | None = None
    occurred_at: dt.datetime | None = None
    message: str | None = None


@runtime_checkable
class PaymentGateway(Protocol):
    """What a payment plugin implements (see docs/payments.md)."""

    code: str

    async def authorize(self, request: PaymentRequest) -> GatewayResult:
        """Reserve ``request.amount`` on the customer's means of payment (no capture)."""

    async def capture(self, payment: PaymentRef, amount: Money, *, idempotency_key: str
                      ) -> GatewayResult:
        """Take ``amount`` (at most what remains authorized) of an authorization."""

    async def void(self, payment: PaymentRef, *, idempotency_key: str) -> GatewayResult:
        """Release an authorization that was not (fully) captured."""

    async def refund(self, payment: PaymentRef, amount: Money, *, idempotency_key: str
                     ) -> GatewayResult:
        """Give back ``amount`` (at most what was captured and not yet refunded)."""

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes
                            ) -> Sequence[PaymentEvent]:
        """Verify a vendor webhook (raise ``Forbidden`` if not authentic) and translate it."""


class ManualGateway:
    """``manual``: paid in store at pickup, cash on collection, or a payment taken outside.

    ``authorize`` records a pending payment (nothing is reserved); ``capture`` is the
    associate confirming the money was taken at the till; ``void`` cancels what is
    due; ``refund`` is a refund paid out at the till. There are no webhooks.
    """

    code = "manual"

    async def authorize(self, request: PaymentRequest) -> GatewayResult:
        reference = f"manual:{request.payment_id}"
        return GatewayResult(Outcome.PENDING, request.amount, reference=reference)

    async def capture(self, payment: PaymentRef, amount: Money, *, idempotency_key: str
                      ) -> GatewayResult:
        return GatewayResult(Outcome.SUCCEEDED, amount, reference=payment.reference)

    async def void(self, payment: PaymentRef, *, idempotency_key: str) -> GatewayResult:
        return GatewayResult(Outcome.SUCCEEDED, payment.amount, reference=payment.reference)

    async def refund(self, payment: PaymentRef, amount: Money, *, idempotency_key: str
                     ) -> GatewayResult:
        return GatewayResult(Outcome.SUCCEEDED, amount, reference=payment.reference)

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes
                            ) -> Sequence[PaymentEvent]:
        return []
