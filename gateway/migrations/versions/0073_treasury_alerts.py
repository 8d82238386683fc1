"""the treasury's alerts and reconciliations: when a rail's float first fell below its level
and when the operator was told (``treasury_floats.low_at``, ``low_told_at``), and each rail's
last reconciliation against its provider (``treasury_checks``); and back, both dropped

Revision ID: 0073
Revises: 0072
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0073"
down_revision: str | None = "0072"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: SQLite adds them in place.
    op.add_column("treasury_floats", sa.Column("low_at", UTCDateTime(), nullable=True))
    op.add_column("treasury_floats", sa.Column("low_told_at", UTCDateTime(), nullable=True))
    op.create_table(
        "treasury_checks",
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("protocol", sa.String(length=40), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.Column("looked", sa.Integer(), nullable=False),
        sa.Column("drifts", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("provider_cents", sa.BigInteger(), nullable=True),
        sa.Column("told_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("env", "protocol", name=op.f("pk_treasury_checks")),
    )


def downgrade() -> None:
    op.drop_table("treasury_checks")
    op.drop_column("treasury_floats", "low_told_at")
    op.drop_column("treasury_floats", "low_at")
