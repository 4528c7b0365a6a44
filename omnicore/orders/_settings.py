"""``[checkout]``, ``[orders]``, ``[sourcing]`` and ``[fulfilment]`` of omnicore.toml."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from omnicore.config import positive_int, section_of
from omnicore.errors import InvalidInput
from omnicore.orders._models import CapturePolicy

__all__ = ["OrderSettings"]


@attrs.frozen
class OrderSettings:
    """How checkout, orders and fulfilment behave (all optional, with these defaults)."""

    #: a checkout not finished after this long is presumed dead: the worker voids its payments
    checkout_lease_seconds: int = 120
    #: how long a payment may wait for the customer (3-D Secure) before it is voided
    action_timeout_minutes: int = 30
    number_prefix: str = ""
    capture_policy: CapturePolicy = CapturePolicy.ON_FULFILMENT
    #: a transfer warehouse → store takes this long (the ETA of a click & collect transfer)
    transfer_lead_hours: int = 48
    #: goods ready for pickup wait this long before the pickup expires
    pickup_days: int = 7
    #: when a pickup expires: void the payment (``void``) or refund it if captured (``refund``)
    expired_pickup_payment: str = "void"

    @classmethod
    def from_config(cls, extra: Mapping[str, Any]) -> OrderSettings:
        checkout = section_of(extra, "checkout")
        orders = section_of(extra, "orders")
        sourcing = section_of(extra, "sourcing")
        fulfilment = section_of(extra, "fulfilment")
        prefix = orders.get("number_prefix", "")
        if not isinstance(prefix, str) or len(prefix) > 8:
            raise InvalidInput("must be a string of at most 8 characters",
                               field="orders.number_prefix")
        policy = orders.get("capture_policy", CapturePolicy.ON_FULFILMENT.value)
        try:
            capture = CapturePolicy(policy)
        except ValueError:
            raise InvalidInput("must be on_fulfilment or immediate",
                               field="orders.capture_policy") from None
        expired = fulfilment.get("expired_pickup_payment", "void")
        if expired not in ("void", "refund"):
            raise InvalidInput("must be void or refund", field="fulfilment.expired_pickup_payment")
        return cls(
            checkout_lease_seconds=positive_int(checkout, "checkout", "lease_seconds", 120),
            action_timeout_minutes=positive_int(checkout, "checkout", "action_timeout_minutes", 30),
            number_prefix=prefix,
            capture_policy=capture,
            transfer_lead_hours=positive_int(sourcing, "sourcing", "transfer_lead_hours", 48),
            pickup_days=positive_int(fulfilment, "fulfilment", "pickup_days", 7),
            expired_pickup_payment=expired,
        )

    @property
    def lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.checkout_lease_seconds)

    @property
    def action_timeout(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.action_timeout_minutes)

    @property
    def transfer_lead(self) -> dt.timedelta:
        return dt.timedelta(hours=self.transfer_lead_hours)

    @property
    def pickup_window(self) -> dt.timedelta:
        return dt.timedelta(days=self.pickup_days)
