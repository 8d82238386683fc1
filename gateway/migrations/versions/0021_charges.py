"""charges: the fees apps charge merchants through their consents

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.store.types

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "charges",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("app_id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("payer_merchant_id", sa.String(length=40), nullable=False),
        sa.Column("payee_merchant_id", sa.String(length=40), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("refunded_cents", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=True),
        sa.Column("created_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("refunded_at", gateway.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "refunded_cents >= 0 AND refunded_cents <= amount_cents", name=op.f("ck_charges_refund")
        ),
        sa.ForeignKeyConstraint(
            ["app_id"], ["oauth_apps.id"], name=op.f("fk_charges_app_id_oauth_apps")
        ),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_charges_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["payee_merchant_id"],
            ["merchants.id"],
            name=op.f("fk_charges_payee_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["payer_merchant_id"],
            ["merchants.id"],
            name=op.f("fk_charges_payer_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charges")),
    )
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.create_index("ix_charges_app", ["app_id", "env", "id"], unique=False)
        batch_op.create_index("ix_charges_payer", ["payer_merchant_id", "env", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.drop_index("ix_charges_payer")
        batch_op.drop_index("ix_charges_app")

    op.drop_table("charges")
