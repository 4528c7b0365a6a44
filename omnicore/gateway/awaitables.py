"""A faster ``is_awaitable`` for graphql-core's execution.

graphql-core asks, of every value a resolver returns (a few hundred per product
page), whether it must be awaited; its own test ends in a ``hasattr`` that
misses for every plain value. Plain values are answered from their type first.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from graphql.pyutils import is_awaitable as graphql_is_awaitable

__all__ = ["is_awaitable"]

_PLAIN: frozenset[type] = frozenset({
    str, int, float, bool, type(None), list, tuple, dict, set, frozenset,
    decimal.Decimal, dt.datetime, dt.date,
})


def is_awaitable(value: Any) -> bool:
    """Whether graphql-core must await ``value``: its own test, after a fast path."""
    if type(value) in _PLAIN:
        return False
    return graphql_is_awaitable(value)
