"""environment freeze: a merchant's wallet of one environment records when it was frozen (the
kill switch), which every credential of that environment is refused by and every payment's
debit is conditional on

Revision ID: 0044
Revises: 0043
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.store.types

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "wallets",
        sa.Column("frozen_at", gateway.store.types.UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # in place: no copy of a referenced table
        op.execute("ALTER TABLE wallets DROP COLUMN frozen_at")
    else:
        op.drop_column("wallets", "frozen_at")
