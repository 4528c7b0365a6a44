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
    text,
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
    # Claims walk pending rows in id order; without this index they scan delivered ones too.
    Index(
        "ix_outbox_deliveries_pending",
        "id",
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
)

# -- customers: the single customer view ---------------------------------------------------------

customers = Table(
    "customers",
    metadata,
    Column("id", String(40), primary_key=True),
    # active | merged (see merged_into) | erased (personal data removed)
    Column("status", String(10), nullable=False),
    Column("merged_into", String(40), nullable=True, index=True),
    Column("first_name", String(200), nullable=True),
    Column("last_name", String(200), nullable=True),
    Column("language", String(16), nullable=True),
    Column("preferred_store", String(64), nullable=True),
    Column("attributes", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

customer_identities = Table(
    "customer_identities",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("customer_id", String(40), ForeignKey("customers.id"), nullable=False, index=True),
    # email | phone | loyalty_card | external
    Column("kind", String(16), nullable=False),
    # "" for email/phone/loyalty_card; the system for external ids (amazon, square, …)
    Column("source", String(64), nullable=False),
    # normalised: lower-cased e-mail, E.164 phone, card number, external id
    Column("value", String(320), nullable=False),
    Column("verified", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("kind", "source", "value"),
)

customer_addresses = Table(
    "customer_addresses",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("customer_id", String(40), ForeignKey("customers.id"), nullable=False, index=True),
    Column("label", String(100), nullable=True),
    Column("address", JSON, nullable=False),
    Column("is_default", Boolean, nullable=False),
)

customer_consents = Table(
    "customer_consents",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("customer_id", String(40), ForeignKey("customers.id"), nullable=False),
    # email | sms | push | post
    Column("contact_channel", String(10), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("source", String(100), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index("ix_customer_consents_customer_channel", "customer_id", "contact_channel", "id"),
)

customer_activity = Table(
    "customer_activity",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("customer_id", String(40), ForeignKey("customers.id"), nullable=False),
    # product_viewed | favourite_added | favourite_removed | search | store_visit | cart_event
    Column("kind", String(20), nullable=False),
    Column("channel_code", String(64), nullable=False),
    Column("sku", String(64), nullable=True),
    Column("category", String(200), nullable=True),
    Column("location_code", String(64), nullable=True),
    Column("data", JSON, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Index("ix_customer_activity_customer_time", "customer_id", "occurred_at"),
)

customer_favourites = Table(
    "customer_favourites",
    metadata,
    Column("customer_id", String(40), ForeignKey("customers.id"), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("added_at", UTCDateTime, nullable=False),
)

customer_merges = Table(
    "customer_merges",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("survivor_id", String(40), nullable=False, index=True),
    Column("merged_id", String(40), nullable=False, unique=True),
    Column("actor", String(100), nullable=False),
    Column("summary", JSON, nullable=False),
    Column("merged_at", UTCDateTime, nullable=False),
)

# -- carts: one cart across channels ---------------------------------------------------------------

carts = Table(
    "carts",
    metadata,
    # unguessable: the id is the capability to read and change the cart
    Column("id", String(64), primary_key=True),
    Column("channel_code", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("customer_id", String(40), nullable=True, index=True),
    # open | merged (see merged_into) | completed
    Column("status", String(10), nullable=False),
    Column("merged_into", String(64), nullable=True),
    Column("version", Integer, nullable=False),
    Column("note", Text, nullable=True),
    Column("attributes", JSON, nullable=False),
    Column("discount_codes", JSON, nullable=False),
    # the delivery groups chosen for checkout (omnicore.delivery.DeliveryGroup), or None
    Column("delivery", JSON, nullable=True),
    Column("handoff_code", String(16), nullable=True, unique=True),
    Column("handoff_expires_at", UTCDateTime, nullable=True),
    Column("handoff_consent", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("abandoned_at", UTCDateTime, nullable=True),
    Index("ix_carts_status_updated", "status", "updated_at"),
)

cart_lines = Table(
    "cart_lines",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("cart_id", String(64), ForeignKey("carts.id"), nullable=False, index=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    # ship | pickup
    Column("fulfilment", String(10), nullable=False),
    Column("pickup_location", String(64), nullable=True),
    Column("hold_id", String(40), nullable=True),
    Column("position", Integer, nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
)

cart_trail = Table(
    "cart_trail",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("cart_id", String(64), ForeignKey("carts.id"), nullable=False, index=True),
    Column("channel_code", String(64), nullable=False),
    # created | resumed | handed_off | merged_in | completed …
    Column("action", String(20), nullable=False),
    Column("actor", String(100), nullable=True),
    Column("at", UTCDateTime, nullable=False),
)

# -- promotions ------------------------------------------------------------------------------------

promotions = Table(
    "promotions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    # percent_off | fixed_off | buy_x_get_y | spend_threshold | free_shipping
    Column("kind", String(20), nullable=False),
    # the kind's parameters (percent, amount, x, y, threshold, skus …) as JSON
    Column("rule", JSON, nullable=False),
    Column("channels", JSON, nullable=True),  # None: every channel
    Column("automatic", Boolean, nullable=False),
    Column("starts_at", UTCDateTime, nullable=True),
    Column("ends_at", UTCDateTime, nullable=True),
    Column("priority", Integer, nullable=False),
    Column("usage_limit", Integer, nullable=True),
    Column("per_customer_limit", Integer, nullable=True),
    Column("times_used", Integer, nullable=False, default=0),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

promotion_codes = Table(
    "promotion_codes",
    metadata,
    Column("code", String(64), primary_key=True),  # upper-cased
    Column("promotion_id", String(40), ForeignKey("promotions.id"), nullable=False, index=True),
    Column("usage_limit", Integer, nullable=True),
    Column("times_used", Integer, nullable=False, default=0),
)

promotion_redemptions = Table(
    "promotion_redemptions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("promotion_id", String(40), nullable=False),
    Column("code", String(64), nullable=True),
    Column("customer_id", String(40), nullable=True),
    Column("order_ref", String(100), nullable=False),
    Column("redeemed_at", UTCDateTime, nullable=False),
    UniqueConstraint("promotion_id", "order_ref"),
    Index("ix_promotion_redemptions_customer", "promotion_id", "customer_id"),
)

# The order tables share ``metadata``; importing them here makes ``metadata`` complete.
from omnicore.store import auth_tables as _auth_tables  # noqa: E402, F401
from omnicore.store import order_tables as _order_tables  # noqa: E402, F401
