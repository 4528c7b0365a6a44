"""outbox: partial index on pending deliveries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 19:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_deliveries_pending",
        "outbox_deliveries",
        ["id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_deliveries_pending", table_name="outbox_deliveries")
