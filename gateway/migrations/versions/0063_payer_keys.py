"""payer keys: the merchant's own key a wallet pays sellers with, one a protocol and environment,
sealed at rest (the address it pays from beside it, public); and back, the table dropped

Revision ID: 0063
Revises: 0062
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0063"
down_revision: str | None = "0062"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payer_keys",
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("protocol", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=100), nullable=False),
        sa.Column("key_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_payer_keys_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("merchant_id", "env", "protocol", name=op.f("pk_payer_keys")),
    )


def downgrade() -> None:
    op.drop_table("payer_keys")
