"""``external:<source>``: the gateway of payments a marketplace or a till already took."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from omnicore.errors import PaymentDeclined
from omnicore.money import Money
from omnicore.payments._gateways import (
    GatewayResult,
    Outcome,
    PaymentEvent,
    PaymentRef,
    PaymentRequest,
)

__all__ = ["EXTERNAL_PREFIX", "ExternalGateway"]

#: the prefix of the gateway code an imported order's payments are recorded under
EXTERNAL_PREFIX = "external:"


class ExternalGateway:
    """``external:<source>``: money a marketplace or a POS took; omnicore keeps the record.

    Nothing is ever charged through it (``authorize`` declines, so a storefront
    cannot pay with it); ``capture``, ``void`` and ``refund`` succeed at once and
    only record what the marketplace or the till did or will do.
    """

    def __init__(self, code: str) -> None:
        self.code = code

    async def authorize(self, request: PaymentRequest) -> GatewayResult:
        raise PaymentDeclined(f"{self.code} records payments of imported orders; it cannot "
                              "be charged", field="payments")

    async def capture(self, payment: PaymentRef, amount: Money, *, idempotency_key: str
                      ) -> GatewayResult:
        return GatewayResult(Outcome.SUCCEEDED, amount, reference=payment.reference)

    async def void(self, payment: PaymentRef, *, idempotency_key: str) -> GatewayResult:
        return GatewayResult(Outcome.SUCCEEDED, payment.amount, reference=payment.reference)

    async def refund(self, payment: PaymentRef, amount: Money, *, idempotency_key: str
                     ) -> GatewayResult:
        return GatewayResult(Outcome.SUCCEEDED, amount, reference=payment.reference,
                             message=f"recorded: {self.code[len(EXTERNAL_PREFIX):]} refunds it")

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes
                            ) -> Sequence[PaymentEvent]:
        return []
