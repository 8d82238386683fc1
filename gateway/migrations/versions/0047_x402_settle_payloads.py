"""x402 settle payloads: what an agent's x402 order settles with, kept on the order, so a
settle whose answer was lost is asked again by reconciliation

Revision ID: 0047
Revises: 0045
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0047"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("funding_orders") as batch:
        batch.add_column(sa.Column("payment_payload", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("funding_orders") as batch:
        batch.drop_column("payment_payload")
