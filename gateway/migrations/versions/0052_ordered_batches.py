"""ordered endpoints' batches: an ordered endpoint may take up to ``batch_size`` events a
request; a delivery remembers the batch it was first sent in; and the ordered head is found by
a partial index of the pending deliveries of automatic runs

Revision ID: 0052
Revises: 0051
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0052"
down_revision: str | None = "0051"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HEAD_WHERE = "status = 'pending' AND trigger = 'auto'"


def upgrade() -> None:
    op.add_column(
        "webhook_endpoints",
        sa.Column("batch_size", sa.Integer(), nullable=False, server_default="1"),
    )
    op.add_column("webhook_deliveries", sa.Column("batch_head", sa.String(80), nullable=True))
    op.create_index(
        "ix_webhook_deliveries_ordered_head",
        "webhook_deliveries",
        ["endpoint_id", "created_at", "id"],
        postgresql_where=sa.text(_HEAD_WHERE),
        sqlite_where=sa.text(_HEAD_WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_ordered_head", table_name="webhook_deliveries")
    op.drop_column("webhook_deliveries", "batch_head")
    op.drop_column("webhook_endpoints", "batch_size")
