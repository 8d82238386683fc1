"""voucher redemptions: where a merchant's users redeem its built-in voucher, and how, per
environment (the voucher e-mail's and the recipient page's button and line)

Revision ID: 0041
Revises: 0040
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.store.types

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voucher_redemptions",
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("redeem_url", sa.String(length=2048), nullable=True),
        sa.Column("redeem_instructions", sa.String(length=300), nullable=True),
        sa.Column("updated_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        sa.PrimaryKeyConstraint("merchant_id", "env"),
    )


def downgrade() -> None:
    op.drop_table("voucher_redemptions")
