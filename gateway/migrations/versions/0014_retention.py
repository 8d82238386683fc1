"""retention: a merchant may keep its webhook history longer or shorter than the default

``merchants.retention_days`` is the operator's override of ``AITOPUP_RETENTION_DAYS`` for one
merchant: null keeps the default. Events, deliveries and attempts older than it are pruned by
the worker; the ledger, top-ups and orders are kept whatever it says.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("merchants", sa.Column("retention_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("merchants") as batch:
        batch.drop_column("retention_days")
