"""login attempts: sign-ins counted per e-mail digest

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 14:30:00.000000
"""

from alembic import op
import sqlalchemy as sa
import omnicore.store.types


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_attempts',
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('window_started_at', omnicore.store.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key_hash', name=op.f('pk_login_attempts'))
    )
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_attempts_window_started_at'), ['window_started_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_attempts_window_started_at'))

    op.drop_table('login_attempts')
