"""approval doors: each decision token names the door it was issued for (``mail``: the
approver's e-mailed link, spent on the dashboard's confirmation page; ``telegram``: a button of
a held send's message, spent by the linked Telegram user's press), and decides only there

A token issued before this migration cannot be told apart (a send's mailed link and its buttons
were minted alike), so each is given the door with the stricter check: ``telegram``, spent only
by its approver's linked Telegram user. Its mailed link, opened after the upgrade, decides
nothing; the send stays decidable on the dashboard until its hold expires.

Revision ID: 0058
Revises: 0057
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0058"
down_revision: str | None = "0057"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "approval_links",
        sa.Column("door", sa.String(16), nullable=False, server_default="telegram"),
    )
    with op.batch_alter_table("approval_links") as table:  # new rows name theirs
        table.alter_column("door", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("approval_links") as table:  # SQLite drops by a copy
        table.drop_column("door")
