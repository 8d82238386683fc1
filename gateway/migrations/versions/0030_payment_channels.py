"""payment channels: the channel an order was paid through and what it charged in a currency
of the provider's, the operator's channels per environment, and every channel's notifications

Revision ID: 0030
Revises: 0026
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0030"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("channel", "charge_minor", "charge_currency", "charge_rate")


def upgrade() -> None:
    add = op.add_column
    add("funding_orders", sa.Column("channel", sa.String(length=30), nullable=True))
    add("funding_orders", sa.Column("charge_minor", sa.BigInteger(), nullable=True))
    add("funding_orders", sa.Column("charge_currency", sa.String(length=3), nullable=True))
    add("funding_orders", sa.Column("charge_rate", sa.String(length=40), nullable=True))
    op.create_table(
        "payment_channels",
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("credentials_sealed", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "env"),
    )
    op.create_table(
        "payment_notices",
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("outcome", sa.String(length=30), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "event_id"),
    )
    op.create_index("ix_payment_notices_order_id", "payment_notices", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_payment_notices_order_id", table_name="payment_notices")
    op.drop_table("payment_notices")
    op.drop_table("payment_channels")
    for column in reversed(_COLUMNS):
        if op.get_bind().dialect.name == "sqlite":  # in place: no copy of a referenced table
            op.execute(f"ALTER TABLE funding_orders DROP COLUMN {column}")
        else:
            op.drop_column("funding_orders", column)
