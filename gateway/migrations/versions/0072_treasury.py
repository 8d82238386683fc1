"""payment funding: who pays a seller a merchant's payment answers, per environment and rail
(``payment_funding``: ``wallet``, the operator's treasury paying and the wallet debited, or
``own``, the merchant's own instrument paying and the wallet not debited), and which of them
paid each payment (``seller_payments.funded_by``: every payment before paid from the wallet);
and back, both dropped

Revision ID: 0072
Revises: 0071
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0072"
down_revision: str | None = "0071"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_funding",
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("protocol", sa.String(length=40), nullable=False),
        sa.Column("funded_by", sa.String(length=10), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_payment_funding_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "env", "protocol", name=op.f("pk_payment_funding")),
    )
    # Plain, with a default: SQLite adds it in place.
    op.add_column(
        "seller_payments",
        sa.Column(
            "funded_by", sa.String(length=10), server_default=sa.text("'wallet'"), nullable=False
        ),
    )

    op.create_table(
        "treasury_floats",
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("protocol", sa.String(length=40), nullable=False),
        sa.Column("float_cents", sa.BigInteger(), nullable=False),
        sa.Column("low_cents", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_cents", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("env", "protocol", name=op.f("pk_treasury_floats")),
    )
    op.create_table(
        "treasury_entries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("protocol", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treasury_entries")),
    )
    op.create_index(
        "ix_treasury_entries_rail", "treasury_entries", ["env", "protocol", "kind"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_treasury_entries_rail", table_name="treasury_entries")
    op.drop_table("treasury_entries")
    op.drop_table("treasury_floats")
    op.drop_column("seller_payments", "funded_by")
    op.drop_table("payment_funding")
