"""payments."""

from __future__ import annotations

from omnicore.payments._external import (
    EXTERNAL_PREFIX,
    ExternalGateway,
)
from omnicore.payments._gateways import (
    GatewayResult,
    ManualGateway,
    Outcome,
    PaymentEvent,
    PaymentEventKind,
    PaymentGateway,
    PaymentRef,
    PaymentRequest,
)
from omnicore.payments._service import (
    UNSETTLED,
    PaymentService,
    payment_ref,
)

__all__ = [
    "EXTERNAL_PREFIX",
    "UNSETTLED",
    "ExternalGateway",
    "GatewayResult",
    "ManualGateway",
    "Outcome",
    "PaymentEvent",
    "PaymentEventKind",
    "PaymentGateway",
    "PaymentRef",
    "PaymentRequest",
    "PaymentService",
    "payment_ref",
]
