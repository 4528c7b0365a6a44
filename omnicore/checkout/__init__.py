"""checkout."""

from __future__ import annotations

from omnicore.checkout._prepare import (
    PaymentInput,
    Prepared,
    split_amounts,
)
from omnicore.checkout._recovery import (
    RecoveryCalls,
)
from omnicore.checkout._service import (
    CheckoutService,
)

__all__ = [
    "CheckoutService",
    "PaymentInput",
    "Prepared",
    "RecoveryCalls",
    "split_amounts",
]
