"""policy templates: named policies of a merchant and environment that keys and consents name
(``api_keys.template_id``), and the record of every change to one

Revision ID: 0045
Revises: 0044
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.store.types

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "policy_templates",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("created_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_policy_templates_merchant_env", "policy_templates", ["merchant_id", "env"])
    op.create_table(
        "policy_template_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("template_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("name_before", sa.String(length=100), nullable=True),
        sa.Column("name_after", sa.String(length=100), nullable=True),
        sa.Column("policy_before", sa.JSON(), nullable=True),
        sa.Column("policy_after", sa.JSON(), nullable=True),
        sa.Column("created_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_policy_template_changes_template_id", "policy_template_changes", ["template_id"]
    )
    # A plain column: a reference would make SQLite copy api_keys, which every top-up references.
    op.add_column("api_keys", sa.Column("template_id", sa.String(length=40), nullable=True))
    op.create_index(op.f("ix_api_keys_template_id"), "api_keys", ["template_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_api_keys_template_id"), table_name="api_keys")
    if op.get_bind().dialect.name == "sqlite":  # in place: no copy of a referenced table
        op.execute("ALTER TABLE api_keys DROP COLUMN template_id")
    else:
        op.drop_column("api_keys", "template_id")
    op.drop_index("ix_policy_template_changes_template_id", table_name="policy_template_changes")
    op.drop_table("policy_template_changes")
    op.drop_index("ix_policy_templates_merchant_env", table_name="policy_templates")
    op.drop_table("policy_templates")
