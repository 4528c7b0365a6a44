"""fulfilment."""

from __future__ import annotations

from omnicore.fulfilment._service import (
    FulfilmentService,
    PickupNotice,
)
from omnicore.fulfilment._stock import (
    return_units,
)

__all__ = [
    "FulfilmentService",
    "PickupNotice",
    "return_units",
]
