"""A card vendor for fulfilment and returns tests: every call succeeds unless its operation
is ``down``; ``calls`` records (operation, minor units)."""

from __future__ import annotations

from typing import Any

from omnicore import Commerce, hookimpl
from omnicore.money import Money
from omnicore.payments import GatewayResult, Outcome


class CardGateway:
    """A card vendor; operations in ``down`` fail as if the vendor were unreachable."""

    def __init__(self, code: str = "card") -> None:
        self.code = code
        self.calls: list[tuple[str, int]] = []
        self.down: set[str] = set()

    def _call(self, operation: str, amount: Money) -> GatewayResult:
        if operation in self.down:
            raise ConnectionError(f"{operation}: vendor unreachable")
        self.calls.append((operation, amount.minor_units))
        return GatewayResult(Outcome.SUCCEEDED, amount, reference=f"{self.code}-ref")

    async def authorize(self, request: Any) -> GatewayResult:
        return self._call("authorize", request.amount)

    async def capture(self, payment: Any, amount: Money, *, idempotency_key: str
                      ) -> GatewayResult:
        return self._call("capture", amount)

    async def void(self, payment: Any, *, idempotency_key: str) -> GatewayResult:
        return self._call("void", payment.authorized - payment.captured)

    async def refund(self, payment: Any, amount: Money, *, idempotency_key: str
                     ) -> GatewayResult:
        return self._call("refund", amount)

    async def parse_webhook(self, headers: Any, body: bytes) -> list[Any]:
        return []

    def amounts(self, operation: str) -> list[int]:
        return [minor for op, minor in self.calls if op == operation]


class Payments:
    name = "test-payments"

    def __init__(self, *gateways: CardGateway) -> None:
        self.gateways = gateways

    @hookimpl
    def register_payment_gateways(self, commerce: Commerce) -> list[CardGateway]:
        return list(self.gateways)
