"""The value objects of unified stock (see ``omnicore.stock`` for the service)."""

from __future__ import annotations

import datetime as dt
import enum

import attrs

from omnicore import validators
from omnicore.network import Location

__all__ = [
    "BulkResult",
    "ChannelAvailability",
    "Hold",
    "HoldKind",
    "HoldPart",
    "LevelInput",
    "LocationAvailability",
    "Movement",
    "MovementKind",
    "NearbyLocation",
    "StockLevel",
    "Transfer",
    "TransferStatus",
]


class MovementKind(enum.StrEnum):
    RECEIPT = "receipt"
    SALE = "sale"
    ADJUSTMENT = "adjustment"
    COUNT = "count"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    RETURN = "return"


class HoldKind(enum.StrEnum):
    CART = "cart"
    ALLOCATION = "allocation"


class TransferStatus(enum.StrEnum):
    """A transfer's state: sent (``in_transit``), then ``received`` at its destination."""

    IN_TRANSIT = "in_transit"
    RECEIVED = "received"


@attrs.frozen
class StockLevel:
    """One (SKU, location): ``available = on_hand - safety_stock - reserved`` (active holds)."""

    sku: str
    location: str
    on_hand: int
    safety_stock: int
    reserved: int = 0

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.safety_stock - self.reserved)


@attrs.frozen
class Movement:
    """One line of the ledger: ``delta`` units at ``location``, and why."""

    id: int
    sku: str
    location: str
    delta: int
    kind: MovementKind
    source: str
    external_id: str | None
    note: str | None
    created_at: dt.datetime


@attrs.frozen
class LevelInput:
    """A target level for bulk loads: set ``on_hand`` (a count) and optionally safety stock."""

    sku: str = attrs.field(validator=validators.sku)
    location: str = attrs.field(validator=validators.code)
    on_hand: int = attrs.field(validator=validators.non_negative)
    safety_stock: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(validators.non_negative)
    )


@attrs.frozen
class BulkResult:
    levels: int
    movements: int


@attrs.frozen
class HoldPart:
    location: str
    quantity: int


@attrs.frozen
class Hold:
    """Units reserved for a cart (expires) or an order (``allocation``, does not)."""

    id: str
    sku: str
    quantity: int
    channel: str
    kind: HoldKind
    parts: list[HoldPart]
    expires_at: dt.datetime | None
    reference: str | None = None


@attrs.frozen
class Transfer:
    """Units sent from one location to another; in transit until received."""

    id: str
    sku: str
    from_location: str
    to_location: str
    quantity: int
    status: TransferStatus
    created_at: dt.datetime
    received_at: dt.datetime | None = None


@attrs.frozen
class LocationAvailability:
    location: str
    available: int
    on_hand: int


@attrs.frozen
class ChannelAvailability:
    """What one channel may sell of one SKU: per location (after its buffer) and in total."""

    sku: str
    channel: str
    total: int
    locations: list[LocationAvailability]

    @property
    def in_stock(self) -> bool:
        """Whether the channel may sell at least one unit."""
        return self.total > 0


@attrs.frozen
class NearbyLocation:
    """A store-locator answer: a location near the shopper and what it has."""

    location: Location
    distance_km: float
    quantities: dict[str, int]
    serves_all: bool
    open_now: bool
    next_opening: dt.datetime | None
    closes_at: dt.datetime | None
    pickup_today: bool
