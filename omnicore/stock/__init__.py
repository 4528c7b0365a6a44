"""Unified stock: one inventory across warehouse, stores and e-commerce.

``StockService`` is ``commerce.stock``. The functions below are for the other
domain packages, which change stock inside their own transactions (a cart's
holds, a checkout's allocations, an imported order): ``reserve`` is the one
way units are reserved.
"""

from __future__ import annotations

from omnicore.stock._bulk import (
    BulkInsert,
)
from omnicore.stock._figures import (
    Figures,
    StockChanges,
    channel_share,
    emit_stock_events,
    level_figures,
    level_key,
)
from omnicore.stock._holds import (
    drop_hold_rows,
    release_hold,
)
from omnicore.stock._ledger import (
    add_movement,
    is_replay,
    lock_level,
    new_id,
    reclaim_expired,
    revoke_excess,
    take_units,
)
from omnicore.stock._models import (
    BulkResult,
    ChannelAvailability,
    Hold,
    HoldKind,
    HoldPart,
    LevelInput,
    LocationAvailability,
    Movement,
    MovementKind,
    NearbyLocation,
    StockLevel,
    Transfer,
    TransferStatus,
)
from omnicore.stock._reserve import (
    Contention,
    Reservation,
    Reserved,
    reserve,
)
from omnicore.stock._service import (
    DEFAULT_LOW_THRESHOLD,
    StockService,
)

__all__ = [
    "DEFAULT_LOW_THRESHOLD",
    "BulkInsert",
    "BulkResult",
    "ChannelAvailability",
    "Contention",
    "Figures",
    "Hold",
    "HoldKind",
    "HoldPart",
    "LevelInput",
    "LocationAvailability",
    "Movement",
    "MovementKind",
    "NearbyLocation",
    "Reservation",
    "Reserved",
    "StockChanges",
    "StockLevel",
    "StockService",
    "Transfer",
    "TransferStatus",
    "add_movement",
    "channel_share",
    "drop_hold_rows",
    "emit_stock_events",
    "is_replay",
    "level_figures",
    "level_key",
    "lock_level",
    "new_id",
    "reclaim_expired",
    "release_hold",
    "reserve",
    "revoke_excess",
    "take_units",
]
