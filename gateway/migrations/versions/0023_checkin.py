"""checkin: daily check-ins, their operator's settings, and the staging test clocks

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.store.types

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkins",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_checkins_amount_positive")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_checkins_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkins")),
        sa.UniqueConstraint("merchant_id", "env", "day", name=op.f("uq_checkins_merchant_id")),
    )
    op.create_table(
        "checkin_configs",
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("min_cents", sa.BigInteger(), nullable=False),
        sa.Column("max_cents", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "min_cents > 0 AND min_cents <= max_cents", name=op.f("ck_checkin_configs_range")
        ),
        sa.PrimaryKeyConstraint("env", name=op.f("pk_checkin_configs")),
    )
    op.create_table(
        "sandbox_clocks",
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("offset_seconds", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("offset_seconds >= 0", name=op.f("ck_sandbox_clocks_forward_only")),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_sandbox_clocks_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_sandbox_clocks")),
    )


def downgrade() -> None:
    op.drop_table("sandbox_clocks")
    op.drop_table("checkin_configs")
    op.drop_table("checkins")
