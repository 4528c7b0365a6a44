"""plugins."""

from __future__ import annotations

from omnicore.plugins._host import (
    ENTRY_POINT_GROUP,
    PluginHost,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginHost",
]
