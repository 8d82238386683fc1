"""approvals where people are: a held send's one-time decision links, each mailed to one
approver (only the keyed hash of its token, spent once, ending with the hold)

Revision ID: 0045
Revises: 0038
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0045"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "approval_links",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("topup_id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["topup_id"], ["topups.id"], name=op.f("fk_approval_links_topup_id_topups")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_approval_links_user_id_users")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_approval_links")),
    )
    op.create_index("ix_approval_links_topup_id", "approval_links", ["topup_id"])


def downgrade() -> None:
    op.drop_index("ix_approval_links_topup_id", table_name="approval_links")
    op.drop_table("approval_links")
