"""key policies: a policy and a name on every key, spend windows, top-ups held for approval

A key made before this revision keeps a null policy, which means what it meant before: every
scope and no limit. ``key_spend`` counts a key's spend per window under a CHECK that refuses
the write passing the limit. A top-up remembers the windows it was counted in (given back on a
refund) and, when held for approval, when the hold expires and who decided it.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("name", sa.String(100), nullable=True))
        batch.add_column(sa.Column("policy", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("last_used_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("topups") as batch:
        batch.add_column(sa.Column("spend_buckets", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("approval_expires_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("decided_by", sa.String(60), nullable=True))
    held = sa.text("status IN ('pending', 'pending_approval')")
    op.create_index(
        "ix_topups_held",
        "topups",
        ["merchant_id", "env"],
        postgresql_where=held,
        sqlite_where=held,
    )
    awaiting = sa.text("status = 'pending_approval'")
    op.create_index(
        "ix_topups_approval_expires_at",
        "topups",
        ["approval_expires_at"],
        postgresql_where=awaiting,
        sqlite_where=awaiting,
    )
    op.create_table(
        "key_spend",
        sa.Column("key_id", sa.String(40), nullable=False),
        sa.Column("bucket", sa.String(300), nullable=False),
        sa.Column("spent_cents", sa.BigInteger(), nullable=False),
        sa.Column("limit_cents", sa.BigInteger(), nullable=False),
        sa.Column("alerted_by", sa.String(40), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_key_spend_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("key_id", "bucket", name=op.f("pk_key_spend")),
        sa.CheckConstraint("spent_cents <= limit_cents", name=op.f("ck_key_spend_within_limit")),
        sa.CheckConstraint("spent_cents >= 0", name=op.f("ck_key_spend_spent_not_negative")),
    )


def downgrade() -> None:
    op.drop_table("key_spend")
    op.drop_index("ix_topups_held", table_name="topups")
    op.drop_index("ix_topups_approval_expires_at", table_name="topups")
    with op.batch_alter_table("topups") as batch:
        batch.drop_column("decided_by")
        batch.drop_column("approval_expires_at")
        batch.drop_column("spend_buckets")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("policy")
        batch.drop_column("name")
