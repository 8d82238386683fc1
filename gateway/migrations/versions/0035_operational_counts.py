"""operational counts: how many operational webhook events a merchant, and an endpoint's
messages given up, made in the current hour

Revision ID: 0035
Revises: 0034
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_operational_counts",
        sa.Column("scope", sa.String(length=120), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_webhook_operational_counts")),
    )


def downgrade() -> None:
    op.drop_table("webhook_operational_counts")
