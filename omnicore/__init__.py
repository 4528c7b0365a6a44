"""omnicore: a headless commerce SDK for omnichannel retail.

The public face::

    from omnicore import Commerce, Money, hookimpl, errors

``Commerce`` (and the database layer behind it) is imported on first use so
that ``import omnicore`` stays fast for plugins and tools.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omnicore import errors
from omnicore.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OmnicoreError,
    OutOfStock,
    PaymentActionRequired,
    PaymentDeclined,
    PaymentUnavailable,
    PluginError,
)
from omnicore.money import Money
from omnicore.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from omnicore.commerce import Commerce
    from omnicore.events import Event

__all__ = [
    "Commerce",
    "Conflict",
    "Event",
    "Forbidden",
    "InvalidInput",
    "Money",
    "NotFound",
    "OmnicoreError",
    "OutOfStock",
    "PaymentActionRequired",
    "PaymentDeclined",
    "PaymentUnavailable",
    "PluginError",
    "errors",
    "hookimpl",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "Commerce":
        from omnicore.commerce import Commerce

        return Commerce
    if name == "Event":
        from omnicore.events import Event

        return Event
    raise AttributeError(f"module 'omnicore' has no attribute {name!r}")
