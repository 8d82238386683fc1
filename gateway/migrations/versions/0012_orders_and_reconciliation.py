"""orders a merchant can reconcile: custom amounts, tiers, provider state, voided codes

A checkout may now be for a custom amount, with a discount tier (its percent and cents kept on
the order beside the coupon's discount), or an invoice. What the payment provider last said
about an order (``provider_status``, its payment intent or invoice in ``provider_payment_id``,
``checked_at``) is kept so an operator can list orders whose state there and here differ; the
sweep of pending orders reads them by status and age. Redemption codes can be voided.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("funding_orders") as batch:
        batch.add_column(
            sa.Column("tier_percent", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(
            sa.Column(
                "tier_discount_cents", sa.BigInteger(), nullable=False, server_default=sa.text("0")
            )
        )
        batch.add_column(sa.Column("provider_payment_id", sa.String(255), nullable=True))
        batch.add_column(sa.Column("provider_status", sa.String(40), nullable=True))
        batch.add_column(sa.Column("checked_at", UTCDateTime(), nullable=True))
    op.create_index(
        op.f("ix_funding_orders_status_created_at"),
        "funding_orders",
        ["status", "created_at"],
    )
    with op.batch_alter_table("redemption_codes") as batch:
        batch.add_column(sa.Column("voided_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("voided_by", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("redemption_codes") as batch:
        batch.drop_column("voided_by")
        batch.drop_column("voided_at")
    op.drop_index(op.f("ix_funding_orders_status_created_at"), table_name="funding_orders")
    with op.batch_alter_table("funding_orders") as batch:
        batch.drop_column("checked_at")
        batch.drop_column("provider_status")
        batch.drop_column("provider_payment_id")
        batch.drop_column("tier_discount_cents")
        batch.drop_column("tier_percent")
