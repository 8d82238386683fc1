"""auto top-ups: a merchant wallet's saved payment method, threshold, target and monthly cap,
the armed threshold on the wallet's own row, and the runs (at most one due per wallet)

Revision ID: 0042
Revises: 0041
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.store.types

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DUE = sa.text("status = 'due'")


def upgrade() -> None:
    with op.batch_alter_table("wallets") as batch:
        batch.add_column(sa.Column("auto_top_up_below", sa.BigInteger(), nullable=True))
    op.create_table(
        "auto_top_ups",
        sa.Column("wallet_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("threshold_cents", sa.BigInteger(), nullable=False),
        sa.Column("target_cents", sa.BigInteger(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("monthly_cap_cents", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("month_cents", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=True),
        sa.Column("customer_ref", sa.String(length=255), nullable=True),
        sa.Column("payment_method_ref", sa.String(length=255), nullable=True),
        sa.Column("payment_method_label", sa.String(length=60), nullable=True),
        sa.Column("setup_ref", sa.String(length=255), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=300), nullable=True),
        sa.Column("updated_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallets.id"]),
        sa.PrimaryKeyConstraint("wallet_id"),
    )
    op.create_table(
        "auto_top_up_runs",
        sa.Column("id", sa.String(length=60), nullable=False),
        sa.Column("wallet_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("month", sa.String(length=7), nullable=True),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", gateway.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_auto_top_up_runs_due", "auto_top_up_runs", ["status", "next_attempt_at"], unique=False
    )
    op.create_index(
        "ix_auto_top_up_runs_one_due",
        "auto_top_up_runs",
        ["wallet_id"],
        unique=True,
        postgresql_where=_DUE,
        sqlite_where=_DUE,
    )
    op.create_index(
        "ix_auto_top_up_runs_wallet_created",
        "auto_top_up_runs",
        ["wallet_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_auto_top_up_runs_wallet_created", table_name="auto_top_up_runs")
    op.drop_index("ix_auto_top_up_runs_one_due", table_name="auto_top_up_runs")
    op.drop_index("ix_auto_top_up_runs_due", table_name="auto_top_up_runs")
    op.drop_table("auto_top_up_runs")
    op.drop_table("auto_top_ups")
    with op.batch_alter_table("wallets") as batch:
        batch.drop_column("auto_top_up_below")
