"""plans and subscriptions: plans per environment, a merchant's subscription, its paid periods

Revision ID: 0025
Revises: 0024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOLDS = "status IN ('incomplete', 'active', 'past_due')"


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("price_monthly", sa.BigInteger(), nullable=False),
        sa.Column("price_yearly", sa.BigInteger(), nullable=False),
        sa.Column("credits_included", sa.BigInteger(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("stripe_product_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_price_monthly_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_price_yearly_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
    )
    op.create_index("ix_plans_env_active", "plans", ["env", "active"])
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("interval", sa.String(length=10), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("provider_session_id", sa.String(length=255), nullable=True),
        sa.Column("provider_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("provider_customer_id", sa.String(length=255), nullable=True),
        sa.Column("checkout_url", sa.String(length=2048), nullable=True),
        sa.Column("success_url", sa.String(length=2048), nullable=True),
        sa.Column("cancel_url", sa.String(length=2048), nullable=True),
        sa.Column("current_period_end", UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("card_fails", sa.Boolean(), nullable=False),
        sa.Column("periods_paid", sa.Integer(), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("state_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("checked_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("canceled_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_subscriptions_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_subscriptions_plan_id_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_index(
        "ix_subscriptions_holder",
        "subscriptions",
        ["merchant_id", "env"],
        unique=True,
        postgresql_where=sa.text(HOLDS),
        sqlite_where=sa.text(HOLDS),
    )
    op.create_index(
        "ix_subscriptions_provider_id", "subscriptions", ["provider_subscription_id"], unique=True
    )
    op.create_index(
        "ix_subscriptions_status_period", "subscriptions", ["status", "current_period_end"]
    )
    op.create_table(
        "subscription_invoices",
        sa.Column("invoice_id", sa.String(length=255), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("amount_paid_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("credit_cents", sa.BigInteger(), nullable=False),
        sa.Column("period_end", UTCDateTime(timezone=True), nullable=True),
        sa.Column("paid_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_subscription_invoices_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_invoices_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_subscription_invoices")),
    )
    op.create_index(
        "ix_subscription_invoices_subscription", "subscription_invoices", ["subscription_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_subscription_invoices_subscription", table_name="subscription_invoices")
    op.drop_table("subscription_invoices")
    op.drop_index("ix_subscriptions_status_period", table_name="subscriptions")
    op.drop_index("ix_subscriptions_provider_id", table_name="subscriptions")
    op.drop_index("ix_subscriptions_holder", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_index("ix_plans_env_active", table_name="plans")
    op.drop_table("plans")
