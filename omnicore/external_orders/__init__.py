"""external_orders."""

from __future__ import annotations

from omnicore.external_orders._input import (
    Buyer,
    ImportLine,
    ImportRequest,
)
from omnicore.external_orders._service import (
    ExternalOrders,
)

__all__ = [
    "Buyer",
    "ExternalOrders",
    "ImportLine",
    "ImportRequest",
]
