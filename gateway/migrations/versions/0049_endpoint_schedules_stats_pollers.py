"""endpoint retry schedule, stats and pollers: an endpoint's deliveries follow the standard
schedule or the long one; its deliveries are found by creation time for its stats; pollers read
a merchant's events by iterator

Revision ID: 0049
Revises: 0048
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0049"
down_revision: str | None = "0048"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "webhook_endpoints",
        sa.Column(
            "retry_schedule", sa.String(length=10), nullable=False, server_default="standard"
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_created",
        "webhook_deliveries",
        ["endpoint_id", "created_at"],
    )

    op.create_table(
        "webhook_pollers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("event_types", sa.String(length=1000), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash", name=op.f("uq_webhook_pollers_key_hash")),
    )
    op.create_index("ix_webhook_pollers_merchant_env", "webhook_pollers", ["merchant_id", "env"])


def downgrade() -> None:
    op.drop_index("ix_webhook_pollers_merchant_env", table_name="webhook_pollers")
    op.drop_table("webhook_pollers")
    op.drop_index("ix_webhook_deliveries_endpoint_created", table_name="webhook_deliveries")
    op.drop_column("webhook_endpoints", "retry_schedule")
