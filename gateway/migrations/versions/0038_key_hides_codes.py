"""key hides codes: a key made by someone who may not see spendable codes (a dashboard role
that does not reveal them, or a key made by such a key) sees none through any door

Revision ID: 0038
Revises: 0037
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column("hides_codes", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # in place: no copy of a referenced table
        op.execute("ALTER TABLE api_keys DROP COLUMN hides_codes")
    else:
        op.drop_column("api_keys", "hides_codes")
