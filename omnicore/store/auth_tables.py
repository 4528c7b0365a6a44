"""Tables of credentials: customers' passwords and tokens, staff API keys (hashed, never plain)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Integer, String, Table

from omnicore.store.tables import metadata
from omnicore.store.types import UTCDateTime

customer_credentials = Table(
    "customer_credentials",
    metadata,
    Column("customer_id", String(40), ForeignKey("customers.id"), primary_key=True),
    # argon2id hash (the PHC string argon2-cffi produces)
    Column("password_hash", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

customer_tokens = Table(
    "customer_tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    # SHA-256 of the token: tokens are 256 random bits, so a fast hash is enough
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("customer_id", String(40), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

staff_keys = Table(
    "staff_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("permissions", JSON, nullable=False),
    # None: every location; else the location codes the key may act on
    Column("locations", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    # SHA-256 of the normalised e-mail tried: no address is kept, known or not
    Column("key_hash", String(64), primary_key=True),
    # sign-ins tried since ``window_started_at`` (a success deletes the row)
    Column("attempts", Integer, nullable=False),
    Column("window_started_at", UTCDateTime, nullable=False, index=True),
)
