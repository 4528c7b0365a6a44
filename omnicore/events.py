"""Domain events: what happened, written to the outbox in the same transaction.

Topics are ``<domain>.<what>``: ``product.created``, ``product.updated``,
``location.updated``, ``channel.updated``, ``stock.changed`` … Payloads are
plain JSON data (the models unstructured), so a consumer in another process or
another language can read them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

__all__ = ["Event", "PendingEvent"]


@attrs.frozen
class PendingEvent:
    """An event emitted inside a unit of work, not yet written."""

    topic: str
    payload: dict[str, Any]


@attrs.frozen
class Event:
    """A committed event as consumers receive it.

    ``id`` grows with every event of a database: a consumer that must not apply
    an older state over a newer one keeps the last ``id`` it applied per key.
    """

    id: int
    topic: str
    payload: dict[str, Any]
    occurred_at: dt.datetime
