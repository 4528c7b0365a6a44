"""carts."""

from __future__ import annotations

from omnicore.carts._delivery import (
    DeliveryCalls,
    assign_groups,
)
from omnicore.carts._holds import (
    Contention,
    Need,
    StockWork,
)
from omnicore.carts._models import (
    Cart,
    CartLine,
    CartSettings,
    CartStatus,
    Fulfilment,
    Handoff,
    TrailEntry,
)
from omnicore.carts._service import (
    CartService,
)
from omnicore.carts._state import (
    add_trail,
)

__all__ = [
    "Cart",
    "CartLine",
    "CartService",
    "CartSettings",
    "CartStatus",
    "Contention",
    "DeliveryCalls",
    "Fulfilment",
    "Handoff",
    "Need",
    "StockWork",
    "TrailEntry",
    "add_trail",
    "assign_groups",
]
