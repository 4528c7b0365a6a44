"""How checkout, orders and fulfilment behave: ``[checkout]``, ``[orders]``, ``[sourcing]``
and ``[fulfilment]`` of omnicore.toml, as the services use them."""

from __future__ import annotations

import datetime as dt

import attrs

from omnicore.config import Config
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
    def from_config(cls, config: Config) -> OrderSettings:
        """The settings of the configuration's sections (checked when it was loaded)."""
        return cls(
            checkout_lease_seconds=config.checkout.lease_seconds,
            action_timeout_minutes=config.checkout.action_timeout_minutes,
            number_prefix=config.orders.number_prefix,
            capture_policy=CapturePolicy(config.orders.capture_policy),
            transfer_lead_hours=config.sourcing.transfer_lead_hours,
            pickup_days=config.fulfilment.pickup_days,
            expired_pickup_payment=config.fulfilment.expired_pickup_payment,
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
