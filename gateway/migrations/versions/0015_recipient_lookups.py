"""recipient lookups: a merchant's top-ups by recipient address

``ix_topups_merchant_env_recipient`` (merchant, environment, address, id) serves every read of
one merchant's top-ups by recipient: ``GET /recipients`` and the dashboard's Recipients page
(grouped and paged by address, read in its order), one recipient (``GET /recipients/{email}``,
their own page, newest first), and an OpenRouter send's total for its recipient. Before it,
each read took every top-up of the merchant's environment and filtered or sorted them.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_topups_merchant_env_recipient",
        "topups",
        ["merchant_id", "env", "recipient_email", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_topups_merchant_env_recipient", table_name="topups")
