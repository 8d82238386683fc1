"""agent payments once: the digest of the credential that claimed an agent's order, so that
only it takes the order's money and every other credential for the same challenge is refused
before the provider is called

Revision ID: 0057
Revises: 0056
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0057"
down_revision: str | None = "0056"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("funding_orders") as batch:
        batch.add_column(sa.Column("credential_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("funding_orders") as batch:
        batch.drop_column("credential_digest")
