"""The value objects of the omnichannel cart (see ``omnicore.carts`` for the service)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import attrs

from omnicore.config import CartsConfig

__all__ = [
    "Cart",
    "CartLine",
    "CartSettings",
    "CartStatus",
    "Fulfilment",
    "Handoff",
    "TrailAction",
    "TrailEntry",
]


class CartStatus(enum.StrEnum):
    OPEN = "open"
    #: merged into another cart on sign-in (``Cart.merged_into``)
    MERGED = "merged"
    COMPLETED = "completed"


class TrailAction(enum.StrEnum):
    """A step of a cart's journey (``Cart.trail``)."""

    CREATED = "created"
    #: continued on another channel (``resume``, or a change made from another channel)
    RESUMED = "resumed"
    #: taken over by a store associate (``take_over``)
    HANDED_OFF = "handed_off"
    #: another cart was merged into this one on sign-in
    MERGED_IN = "merged_in"
    #: this cart was merged into the customer's cart on sign-in
    MERGED = "merged"
    #: checked out: it became an order
    COMPLETED = "completed"


class Fulfilment(enum.StrEnum):
    SHIP = "ship"
    PICKUP = "pickup"


@attrs.frozen
class CartLine:
    """One SKU of a cart, how it reaches the customer, and whether its units are held.

    ``location`` is the pickup store of a ``pickup`` line, or the store a ``ship``
    line ships from (ship-from-store); None lets stock choose among the channel's
    locations. ``held``: the line's whole quantity is reserved right now.
    ``available``: held, or the channel could supply the quantity now
    (``available_quantity`` units, the line's own active hold included).
    """

    id: str
    sku: str
    quantity: int
    fulfilment: Fulfilment
    location: str | None
    hold_id: str | None
    hold_expires_at: dt.datetime | None
    held: bool
    available: bool
    available_quantity: int
    added_at: dt.datetime

    @property
    def pickup_location(self) -> str | None:
        return self.location if self.fulfilment is Fulfilment.PICKUP else None

    @property
    def ship_from(self) -> str | None:
        return self.location if self.fulfilment is Fulfilment.SHIP else None


@attrs.frozen
class TrailEntry:
    """A step of the cart's journey across channels: ``created``, ``resumed``,
    ``handed_off``, ``merged_in`` (another cart joined it), ``merged`` (it joined another),
    ``completed`` (checked out)."""

    channel: str
    action: TrailAction
    actor: str | None
    at: dt.datetime


@attrs.frozen
class Cart:
    """A cart. Its ``id`` is unguessable: whoever holds it may read and change the cart."""

    id: str
    channel: str
    currency: str
    customer_id: str | None
    status: CartStatus
    version: int
    lines: list[CartLine]
    note: str | None
    attributes: dict[str, str]
    discount_codes: list[str]
    trail: list[TrailEntry]
    created_at: dt.datetime
    updated_at: dt.datetime
    merged_into: str | None = None
    #: the customer consented to a hand-off to a store associate (until ``handoff_expires_at``)
    handoff_allowed: bool = False
    handoff_expires_at: dt.datetime | None = None
    abandoned_at: dt.datetime | None = None
    #: the delivery groups chosen (``omnicore.delivery.DeliveryGroup``), see ``set_delivery``
    delivery: list[Any] = attrs.field(factory=list)

    @property
    def quantity(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def unavailable_lines(self) -> list[CartLine]:
        return [line for line in self.lines if not line.available]

    def line(self, line_id: str) -> CartLine:
        return next(line for line in self.lines if line.id == line_id)


@attrs.frozen
class Handoff:
    """A hand-off code the customer shows a store associate (single use)."""

    code: str
    cart_id: str
    expires_at: dt.datetime
    #: the cart's version after issuing the code
    version: int


#: the cart settings: ``[carts]`` of omnicore.toml, as ``commerce.config.carts`` holds them
CartSettings = CartsConfig
