"""stock."""

from __future__ import annotations

from omnicore.stock._base import (
    DEFAULT_LOW_THRESHOLD,
)
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
from omnicore.stock._hold_take import (
    HoldTerms,
)
from omnicore.stock._holds import (
    Contention,
    drop_hold_rows,
    insert_hold,
    plan_hold,
    release_hold,
    reserve,
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
)
from omnicore.stock._service import (
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
    "HoldTerms",
    "LevelInput",
    "LocationAvailability",
    "Movement",
    "MovementKind",
    "NearbyLocation",
    "StockChanges",
    "StockLevel",
    "StockService",
    "Transfer",
    "add_movement",
    "channel_share",
    "drop_hold_rows",
    "emit_stock_events",
    "insert_hold",
    "is_replay",
    "level_figures",
    "level_key",
    "lock_level",
    "new_id",
    "plan_hold",
    "reclaim_expired",
    "release_hold",
    "reserve",
    "revoke_excess",
    "take_units",
]
