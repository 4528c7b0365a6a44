"""Every table of omnicore (SQLAlchemy Core). Alembic migrations mirror these."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from omnicore.store.types import BigId, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

products = Table(
    "products",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("handle", String(200), nullable=False, unique=True),
    Column("title", String(500), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("family", String(100), nullable=True),
    Column("attributes", JSON, nullable=False),
    Column("images", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

variants = Table(
    "variants",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("product_id", String(32), ForeignKey("products.id"), nullable=False, index=True),
    Column("title", String(500), nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("barcode", String(14), nullable=True, unique=True),
    Column("position", Integer, nullable=False, default=0),
)

prices = Table(
    "prices",
    metadata,
    Column("sku", String(64), ForeignKey("variants.sku"), primary_key=True),
    Column("currency", String(3), primary_key=True),
    # "" is the retailer's default price list for the currency; a channel code overrides it.
    Column("channel_code", String(64), primary_key=True, default=""),
    Column("amount_minor", BigInteger, nullable=False),
    Column("compare_at_minor", BigInteger, nullable=True),
)

locations = Table(
    "locations",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("address", JSON, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lng", Float, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("hours", JSON, nullable=False),
    Column("capabilities", JSON, nullable=False),
    Column("priority", Integer, nullable=False, default=100),
    Column("active", Boolean, nullable=False, default=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

channels = Table(
    "channels",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("hold_ttl_seconds", Integer, nullable=False),
    Column("max_hold_ttl_seconds", Integer, nullable=False),
    Column("public_token", String(64), nullable=False, unique=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

channel_locations = Table(
    "channel_locations",
    metadata,
    Column("channel_code", String(64), ForeignKey("channels.code"), primary_key=True),
    Column("location_code", String(64), ForeignKey("locations.code"), primary_key=True),
    Column("buffer", Integer, nullable=False, default=0),
    Column("priority", Integer, nullable=False, default=0),
)

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("sku", String(64), ForeignKey("variants.sku"), primary_key=True),
    Column("location_code", String(64), ForeignKey("locations.code"), primary_key=True),
    Column("on_hand", Integer, nullable=False, default=0),
    Column("safety_stock", Integer, nullable=False, default=0),
    # Σ quantity of the hold rows of this level (active, or expired and not yet swept).
    Column("reserved", Integer, nullable=False, default=0, server_default="0"),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_stock_levels_location_sku", "location_code", "sku"),
)

stock_holds = Table(
    "stock_holds",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("location_code", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("channel_code", String(64), nullable=False),
    # "cart" holds expire; "allocation" (an order's) has no expiry.
    Column("kind", String(12), nullable=False),
    Column("reference", String(200), nullable=True),
    Column("group_id", String(40), nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_stock_holds_level_expiry", "sku", "location_code", "expires_at"),
    Index("ix_stock_holds_expiry", "expires_at"),
    Index("ix_stock_holds_group", "group_id"),
)

stock_transfers = Table(
    "stock_transfers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("from_location", String(64), nullable=False),
    Column("to_location", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", String(12), nullable=False),
    Column("source", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=True),
    Index("ix_stock_transfers_sku_status", "sku", "status"),
)

stock_thresholds = Table(
    "stock_thresholds",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("low", Integer, nullable=False),
)

stock_movements = Table(
    "stock_movements",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("sku", String(64), nullable=False),
    Column("location_code", String(64), nullable=False),
    Column("delta", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("source", String(100), nullable=False),
    Column("external_id", String(200), nullable=True),
    Column("note", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_stock_movements_sku_location", "sku", "location_code", "id"),
    UniqueConstraint("source", "external_id"),
)

outbox_events = Table(
    "outbox_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("topic", String(100), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

outbox_deliveries = Table(
    "outbox_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", BigInteger, ForeignKey("outbox_events.id"), nullable=False),
    Column("consumer", String(100), nullable=False),
    # pending → delivered | dead (after max attempts); dead can be re-driven to pending.
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    UniqueConstraint("event_id", "consumer"),
    Index("ix_outbox_deliveries_due", "status", "consumer", "next_attempt_at"),
)
