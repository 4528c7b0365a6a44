"""orders."""

from __future__ import annotations

from omnicore.orders._models import (
    CapturePolicy,
    Fulfilment,
    FulfilmentLine,
    FulfilmentStatus,
    Order,
    OrderDeliveryGroup,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentStatus,
    ReturnRecord,
    StatusChange,
)
from omnicore.orders._records import (
    contact_of,
    new_order_id,
    next_number,
    order_row,
    payment_from_row,
    product_titles,
)
from omnicore.orders._service import (
    OrderService,
    closed_value,
)
from omnicore.orders._settings import (
    OrderSettings,
)
from omnicore.orders._state import (
    CLOSED,
    GOODS_LEFT,
    TERMINAL,
    check_fulfilment_transition,
    order_payload,
    record_status,
    refresh_status,
)

__all__ = [
    "CLOSED",
    "GOODS_LEFT",
    "TERMINAL",
    "CapturePolicy",
    "Fulfilment",
    "FulfilmentLine",
    "FulfilmentStatus",
    "Order",
    "OrderDeliveryGroup",
    "OrderLine",
    "OrderService",
    "OrderSettings",
    "OrderStatus",
    "Payment",
    "PaymentStatus",
    "ReturnRecord",
    "StatusChange",
    "check_fulfilment_transition",
    "closed_value",
    "contact_of",
    "new_order_id",
    "next_number",
    "order_payload",
    "order_row",
    "payment_from_row",
    "product_titles",
    "record_status",
    "refresh_status",
]
