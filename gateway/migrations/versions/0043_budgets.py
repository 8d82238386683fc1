"""budgets: windows several keys and consents of a merchant share, counted in ``key_spend``
under the budget's id (whose ``key_id`` so names a key or a budget, and loses its foreign key)

Revision ID: 0043
Revises: 0042
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.store.types

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FK = "fk_key_spend_key_id_api_keys"


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("frozen", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_budgets_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
    )
    op.create_index("ix_budgets_merchant_env", "budgets", ["merchant_id", "env"])
    with op.batch_alter_table("key_spend") as batch:
        batch.drop_constraint(_FK, type_="foreignkey")


def downgrade() -> None:
    # A budget's windows name no key: they go with the budgets.
    op.execute("DELETE FROM key_spend WHERE key_id IN (SELECT id FROM budgets)")
    with op.batch_alter_table("key_spend") as batch:
        batch.create_foreign_key(_FK, "api_keys", ["key_id"], ["id"])
    op.drop_index("ix_budgets_merchant_env", table_name="budgets")
    op.drop_table("budgets")
