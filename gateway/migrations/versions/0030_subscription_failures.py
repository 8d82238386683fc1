"""subscription failures: a period whose payment failed, once per invoice, listed as failed
until the same invoice is paid

Revision ID: 0030
Revises: 0029
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.store.types

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscription_failures",
        sa.Column("invoice_id", sa.String(length=255), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("amount_due_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period_start", gateway.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("period_end", gateway.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_subscription_failures_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_failures_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_subscription_failures")),
    )
    with op.batch_alter_table("subscription_failures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscription_failures_merchant_env", ["merchant_id", "env"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("subscription_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_subscription_failures_merchant_env")
    op.drop_table("subscription_failures")
