"""The value objects of orders, payments, fulfilments and returns."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import attrs

from omnicore.money import Money

__all__ = [
    "CapturePolicy",
    "Fulfilment",
    "FulfilmentLine",
    "FulfilmentStatus",
    "Order",
    "OrderDeliveryGroup",
    "OrderLine",
    "OrderStatus",
    "Payment",
    "PaymentStatus",
    "ReturnRecord",
    "StatusChange",
]


class OrderStatus(enum.StrEnum):
    """Where an order stands. ``omnicore.orders._state`` holds the allowed transitions."""

    PLACED = "placed"                      # created; payment pending (e.g. pay at pickup)
    AUTHORIZED = "authorized"              # every payment authorized, nothing captured yet
    PAID = "paid"                          # captured in full
    IN_FULFILMENT = "in_fulfilment"        # at least one fulfilment is being picked
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    READY_FOR_PICKUP = "ready_for_pickup"
    DELIVERED = "delivered"
    COLLECTED = "collected"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    RETURNED = "returned"                  # every unit came back
    PARTIALLY_RETURNED = "partially_returned"
    REFUNDED = "refunded"                  # refunded in full


class PaymentStatus(enum.StrEnum):
    AUTHORIZING = "authorizing"            # asked of the gateway, answer not recorded yet
    REQUIRES_ACTION = "requires_action"    # the customer must act (3-D Secure)
    PENDING = "pending"                    # nothing to authorize now (pay at pickup)
    AUTHORIZED = "authorized"
    PARTIALLY_CAPTURED = "partially_captured"
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"
    FAILED = "failed"


class FulfilmentStatus(enum.StrEnum):
    OPEN = "open"                            # placed, not started yet
    AWAITING_TRANSFER = "awaiting_transfer"  # pickup: goods travel from the warehouse
    PICKING = "picking"
    PACKED = "packed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    READY_FOR_PICKUP = "ready_for_pickup"
    COLLECTED = "collected"
    EXPIRED = "expired"                      # not collected in time
    CANCELLED = "cancelled"


class CapturePolicy(enum.StrEnum):
    """When authorized money is captured: when goods leave (``on_fulfilment``: shipped or
    collected), or at once when the order is placed (``immediate``)."""

    ON_FULFILMENT = "on_fulfilment"
    IMMEDIATE = "immediate"


@attrs.frozen
class OrderLine:
    id: str
    sku: str
    title: str
    quantity: int
    unit_price: Money
    discount: Money
    total: Money
    group: str
    quantity_returned: int = 0


@attrs.frozen
class OrderDeliveryGroup:
    key: str
    kind: str
    method: str
    price: Money
    address: dict[str, Any] | None
    location: str | None
    details: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Payment:
    """A payment of an order, with every amount the gateway confirmed."""

    id: str
    gateway: str
    amount: Money
    authorized: Money
    captured: Money
    refunded: Money
    status: PaymentStatus
    reference: str | None
    order_id: str | None
    next_action: dict[str, Any] | None = None
    created_at: dt.datetime | None = None

    @property
    def capturable(self) -> Money:
        return self.authorized - self.captured

    @property
    def refundable(self) -> Money:
        return self.captured - self.refunded


@attrs.frozen
class FulfilmentLine:
    order_line_id: str
    sku: str
    quantity: int
    hold_id: str | None


@attrs.frozen
class Fulfilment:
    """The part of an order one location fulfils for one delivery group."""

    id: str
    order_id: str
    group: str
    location: str
    kind: str
    status: FulfilmentStatus
    lines: list[FulfilmentLine]
    carrier: str | None = None
    tracking_number: str | None = None
    pickup_location: str | None = None
    eta: dt.datetime | None = None
    pickup_expires_at: dt.datetime | None = None
    transfer_ids: list[str] = attrs.field(factory=list)


@attrs.frozen
class StatusChange:
    from_status: str | None
    to_status: str
    actor: str | None
    note: str | None
    at: dt.datetime


@attrs.frozen
class ReturnRecord:
    id: str
    order_id: str
    location: str
    method: str
    lines: list[dict[str, Any]]
    refund: Money
    reason: str | None
    created_at: dt.datetime


@attrs.frozen
class Order:
    """An order from any channel: omnicore's checkout or an imported marketplace/POS order."""

    id: str
    number: str
    channel: str
    customer_id: str | None
    status: OrderStatus
    currency: str
    email: str | None
    phone: str | None
    subtotal: Money
    discount: Money
    shipping: Money
    adjustments: Money
    total: Money
    source: str
    external_id: str | None
    capture_policy: CapturePolicy
    lines: list[OrderLine]
    groups: list[OrderDeliveryGroup]
    payments: list[Payment]
    fulfilments: list[Fulfilment]
    history: list[StatusChange]
    returns: list[ReturnRecord]
    details: dict[str, Any]
    placed_at: dt.datetime
    updated_at: dt.datetime
    cart_id: str | None = None
    origin_channel: str | None = None

    def line(self, line_id: str) -> OrderLine:
        return next(line for line in self.lines if line.id == line_id)

    @property
    def paid(self) -> Money:
        captured = sum((p.captured.amount for p in self.payments), start=self.total.amount * 0)
        return Money(captured, self.currency)

    @property
    def refunded(self) -> Money:
        refunded = sum((p.refunded.amount for p in self.payments), start=self.total.amount * 0)
        return Money(refunded, self.currency)
