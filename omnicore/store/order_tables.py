"""Tables of checkout, orders, payments, fulfilment and returns (same metadata as ``tables``)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from omnicore.store.tables import metadata
from omnicore.store.types import BigId, UTCDateTime

counters = Table(
    "counters",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# One row per idempotency key: the claim that makes racing checkouts of one key run once.
checkouts = Table(
    "checkouts",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("cart_id", String(64), nullable=False, index=True),
    # in_progress | requires_action | completed | failed
    Column("status", String(16), nullable=False),
    Column("order_number", String(32), nullable=False),
    Column("order_id", String(40), nullable=True),
    Column("locked_until", UTCDateTime, nullable=False),
    # what the checkout was asked: payments, customer, actor (to complete it after 3-D Secure)
    Column("request", JSON, nullable=False),
    Column("error", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_checkouts_status_locked", "status", "locked_until"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("channel_code", String(64), nullable=False),
    Column("customer_id", String(40), nullable=True, index=True),
    Column("status", String(24), nullable=False),
    Column("currency", String(3), nullable=False),
    # contact for tracking without an account (normalised like identities)
    Column("email", String(320), nullable=True, index=True),
    Column("phone", String(32), nullable=True, index=True),
    Column("subtotal_minor", BigInteger, nullable=False),
    Column("discount_minor", BigInteger, nullable=False),
    Column("shipping_minor", BigInteger, nullable=False),
    Column("adjustments_minor", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    # "" for omnicore's own checkouts; the marketplace / POS for imported orders
    Column("source", String(64), nullable=False),
    Column("external_id", String(200), nullable=True),
    Column("cart_id", String(64), nullable=True),
    # the started-on channel of the cart (cross-channel journeys)
    Column("origin_channel", String(64), nullable=True),
    Column("capture_policy", String(16), nullable=False),
    # pricing explanation, sourcing explanation, promotions applied, attributes
    Column("details", JSON, nullable=False),
    Column("placed_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "external_id"),
    Index("ix_orders_channel_placed", "channel_code", "placed_at"),
    Index("ix_orders_status_placed", "status", "placed_at"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("order_id", String(40), ForeignKey("orders.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("sku", String(64), nullable=False),
    Column("title", String(500), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
    Column("discount_minor", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("group_key", String(100), nullable=False),
    Column("quantity_returned", Integer, nullable=False),
)

delivery_groups = Table(
    "delivery_groups",
    metadata,
    Column("order_id", String(40), ForeignKey("orders.id"), primary_key=True),
    Column("key", String(100), primary_key=True),
    # ship | pickup | relay
    Column("kind", String(10), nullable=False),
    Column("method", String(64), nullable=False),
    Column("address", JSON, nullable=True),
    Column("location_code", String(64), nullable=True),
    Column("price_minor", BigInteger, nullable=False),
    Column("details", JSON, nullable=False),
)

payments = Table(
    "payments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("checkout_key", String(200), nullable=True, index=True),
    Column("order_id", String(40), nullable=True, index=True),
    Column("gateway", String(64), nullable=False),
    # the order the payments were given in at checkout (captures and refunds follow it)
    Column("position", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("authorized_minor", BigInteger, nullable=False),
    Column("captured_minor", BigInteger, nullable=False),
    Column("refunded_minor", BigInteger, nullable=False),
    # see omnicore.orders.PaymentStatus
    Column("status", String(20), nullable=False),
    Column("reference", String(200), nullable=True),
    Column("next_action", JSON, nullable=True),
    Column("data", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_payments_gateway_reference", "gateway", "reference"),
    Index("ix_payments_status_updated", "status", "updated_at"),
)

payment_transactions = Table(
    "payment_transactions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("payment_id", String(40), ForeignKey("payments.id"), nullable=False, index=True),
    # authorize | capture | void | refund | webhook
    Column("kind", String(12), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    # succeeded | failed | pending | requires_action
    Column("outcome", String(16), nullable=False),
    Column("reference", String(200), nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("message", Text, nullable=True),
    # the vendor's event id for webhook rows: each event is applied once
    Column("event_id", String(200), nullable=True, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

fulfilments = Table(
    "fulfilments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("order_id", String(40), ForeignKey("orders.id"), nullable=False, index=True),
    Column("group_key", String(100), nullable=False),
    Column("location_code", String(64), nullable=False),
    # ship | pickup | relay
    Column("kind", String(10), nullable=False),
    # see omnicore.orders.FulfilmentStatus
    Column("status", String(20), nullable=False),
    Column("carrier", String(100), nullable=True),
    Column("tracking_number", String(200), nullable=True),
    # pickup: the store the goods are collected at (differs from location on a transfer)
    Column("pickup_location", String(64), nullable=True),
    Column("pickup_code_hash", String(128), nullable=True),
    Column("transfer_ids", JSON, nullable=False),
    Column("eta", UTCDateTime, nullable=True),
    Column("pickup_expires_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_fulfilments_status_expiry", "status", "pickup_expires_at"),
)

fulfilment_lines = Table(
    "fulfilment_lines",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("fulfilment_id", String(40), ForeignKey("fulfilments.id"), nullable=False, index=True),
    Column("order_line_id", String(40), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("hold_id", String(40), nullable=True),
)

order_history = Table(
    "order_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("order_id", String(40), ForeignKey("orders.id"), nullable=False, index=True),
    Column("from_status", String(24), nullable=True),
    Column("to_status", String(24), nullable=False),
    Column("actor", String(100), nullable=True),
    Column("note", Text, nullable=True),
    Column("at", UTCDateTime, nullable=False),
)

order_returns = Table(
    "order_returns",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("order_id", String(40), ForeignKey("orders.id"), nullable=False, index=True),
    Column("location_code", String(64), nullable=False),
    # store | mail
    Column("method", String(10), nullable=False),
    Column("lines", JSON, nullable=False),
    Column("refund_minor", BigInteger, nullable=False),
    Column("reason", Text, nullable=True),
    Column("actor", String(100), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)
