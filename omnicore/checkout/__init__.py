"""Checkout: a cart becomes an order — prepare, authorize, commit — all or nothing, once per
idempotency key; and the recovery of checkouts that failed or died.

``CheckoutService`` is ``commerce.checkouts`` (``commerce.checkout`` is its
``checkout``). ``PaymentInput`` and ``split_amounts`` are shared with order imports.
"""

from __future__ import annotations

from omnicore.checkout._models import (
    CheckoutStatus,
)
from omnicore.checkout._prepare import (
    PaymentInput,
    Prepared,
    split_amounts,
)
from omnicore.checkout._service import (
    CheckoutService,
)

__all__ = [
    "CheckoutService",
    "CheckoutStatus",
    "PaymentInput",
    "Prepared",
    "split_amounts",
]
