"""paid challenges: a seller's challenge a merchant paid, once per environment
(``seller_payment_challenges``): an MPP challenge's id, an x402 offer's requirement, claimed in
the debit's transaction by the payment that paid it, so a second payment of the same challenge
is refused whatever its idempotency key

Back: the table goes (a challenge may then be paid again under another key).

Revision ID: 0070
Revises: 0069
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0070"
down_revision: str | None = "0069"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seller_payment_challenges",
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("challenge_key", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_seller_payment_challenges_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["seller_payments.id"],
            name=op.f("fk_seller_payment_challenges_payment_id_seller_payments"),
        ),
        sa.PrimaryKeyConstraint(
            "merchant_id", "env", "challenge_key", name=op.f("pk_seller_payment_challenges")
        ),
    )


def downgrade() -> None:
    op.drop_table("seller_payment_challenges")
