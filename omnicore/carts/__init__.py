"""The omnichannel cart: lines and their stock holds, delivery choice, hand-off to a store
associate, continuity across channels, abandonment.

``CartService`` is ``commerce.carts``; ``add_trail`` and ``assign_groups`` are for
checkout, which completes a cart in its own transaction.
"""

from __future__ import annotations

from omnicore.carts._delivery import (
    assign_groups,
)
from omnicore.carts._models import (
    Cart,
    CartLine,
    CartSettings,
    CartStatus,
    Fulfilment,
    Handoff,
    TrailAction,
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
    "Fulfilment",
    "Handoff",
    "TrailAction",
    "TrailEntry",
    "add_trail",
    "assign_groups",
]
