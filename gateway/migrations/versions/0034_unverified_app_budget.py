"""unverified app budget: the daily limit a merchant gives by default to an app nobody vouches
for (a client that registered itself or names itself by a metadata document)

Revision ID: 0034
Revises: 0033
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "merchants", sa.Column("unverified_app_daily_cents", sa.BigInteger(), nullable=True)
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # in place: no copy of a referenced table
        op.execute("ALTER TABLE merchants DROP COLUMN unverified_app_daily_cents")
    else:
        op.drop_column("merchants", "unverified_app_daily_cents")
