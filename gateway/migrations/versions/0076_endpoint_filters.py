"""payload filters: an endpoint's filter as its JSON and as the SQL/JSON path PostgreSQL
matches (``webhook_endpoints.filter``, ``filter_path``, both null for no filter), and a row per
event each endpoint's filter dropped (``webhook_filtered``); and back, all dropped

Revision ID: 0076
Revises: 0075
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0076"
down_revision: str | None = "0075"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: SQLite adds them in place.
    op.add_column("webhook_endpoints", sa.Column("filter", sa.Text(), nullable=True))
    op.add_column("webhook_endpoints", sa.Column("filter_path", sa.Text(), nullable=True))
    op.create_table(
        "webhook_filtered",
        sa.Column("endpoint_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint(
            "endpoint_id", "created_at", "event_id", name=op.f("pk_webhook_filtered")
        ),
    )


def downgrade() -> None:
    op.drop_table("webhook_filtered")
    op.drop_column("webhook_endpoints", "filter_path")
    op.drop_column("webhook_endpoints", "filter")
