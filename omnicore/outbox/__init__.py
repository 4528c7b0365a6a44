"""outbox."""

from __future__ import annotations

from omnicore.outbox._service import (
    Delivery,
    Dispatcher,
    OutboxService,
)

__all__ = [
    "Delivery",
    "Dispatcher",
    "OutboxService",
]
