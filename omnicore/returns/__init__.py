"""returns."""

from __future__ import annotations

from omnicore.returns._service import (
    ReturnService,
)

__all__ = [
    "ReturnService",
]
