"""A payment gateway that behaves like a vendor: it remembers what it authorized by
idempotency key, and can be told to decline, ask for 3-D Secure, fail or "crash"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from omnicore import hookimpl
from omnicore.errors import PaymentDeclined
from omnicore.money import Money
from omnicore.payments import GatewayResult, Outcome, PaymentEvent, PaymentRef, PaymentRequest


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs (not even ``except Exception``)."""


@attrs.define
class VendorIntent:
    reference: str
    amount: Money
    status: str  # authorized | requires_action | captured | canceled
    captured: Money
    refunded: Money


class FakeGateway:
    """``code`` is configurable; ``mode`` decides how ``authorize`` answers:
    ``ok``, ``decline``, ``action`` (3-D Secure), ``down`` (network error), ``crash``
    (authorizes at the "vendor", then the process dies before the answer is used)."""

    def __init__(self, code: str = "fake", mode: str = "ok") -> None:
        self.code = code
        self.mode = mode
        self.intents: dict[str, VendorIntent] = {}  # by idempotency key of authorize
        self.calls: list[tuple[str, str]] = []       # (operation, idempotency key)

    def _intent(self, payment: PaymentRef) -> VendorIntent:
        return self.intents[f"{payment.payment_id}:authorize"]

    async def authorize(self, request: PaymentRequest) -> GatewayResult:
        self.calls.append(("authorize", request.idempotency_key))
        if self.mode == "decline":
            raise PaymentDeclined("Your card has insufficient funds.",
                                  decline_code="insufficient_funds")
        if self.mode == "down":
            raise ConnectionError("vendor unreachable")
        intent = self.intents.get(request.idempotency_key)
        if intent is None:  # a replayed key answers with the same intent, like Stripe
            status = "requires_action" if self.mode == "action" else "authorized"
            intent = VendorIntent(f"pi_{len(self.intents) + 1}", request.amount, status,
                                  Money.zero(request.amount.currency),
                                  Money.zero(request.amount.currency))
            self.intents[request.idempotency_key] = intent
        if self.mode == "crash":
            raise Crash()
        if intent.status == "requires_action":
            return GatewayResult(Outcome.REQUIRES_ACTION, request.amount, intent.reference,
                                 next_action={"type": "use_stripe_sdk",
                                              "client_secret": f"{intent.reference}_secret"})
        return GatewayResult(Outcome.SUCCEEDED, request.amount, intent.reference)

    async def capture(self, payment: PaymentRef, amount: Money, *, idempotency_key: str
                      ) -> GatewayResult:
        self.calls.append(("capture", idempotency_key))
        if self.mode == "down":
            raise ConnectionError("vendor unreachable")
        intent = self._intent(payment)
        intent.captured += amount
        intent.status = "captured"
        return GatewayResult(Outcome.SUCCEEDED, amount, intent.reference)

    async def void(self, payment: PaymentRef, *, idempotency_key: str) -> GatewayResult:
        self.calls.append(("void", idempotency_key))
        if self.mode == "down":
            raise ConnectionError("vendor unreachable")
        intent = self._intent(payment)  # found by our payment id even without a reference
        intent.status = "canceled"
        return GatewayResult(Outcome.SUCCEEDED, intent.amount, intent.reference)

    async def refund(self, payment: PaymentRef, amount: Money, *, idempotency_key: str
                     ) -> GatewayResult:
        self.calls.append(("refund", idempotency_key))
        intent = self._intent(payment)
        intent.refunded += amount
        return GatewayResult(Outcome.SUCCEEDED, amount, intent.reference)

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes
                            ) -> Sequence[PaymentEvent]:
        return []

    def held(self) -> list[VendorIntent]:
        """Intents still holding the customer's money (authorized, not captured or voided)."""
        return [i for i in self.intents.values() if i.status in ("authorized", "requires_action")]

    def count(self, operation: str) -> int:
        return sum(1 for op, _ in self.calls if op == operation)


class GatewayPlugin:
    """A plugin contributing gateways (``register_payment_gateways``)."""

    name = "fake-payments"

    def __init__(self, *gateways: Any) -> None:
        self.gateways = list(gateways)

    @hookimpl
    def register_payment_gateways(self, commerce: Any) -> list[Any]:
        return self.gateways
