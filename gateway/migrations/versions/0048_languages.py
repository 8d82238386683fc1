"""languages: the language a person reads the dashboard in, and the one a merchant's recipients
read its page and e-mails in (null: the browser's, else English)

Revision ID: 0048
Revises: 0047
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0048"
down_revision: str | None = "0047"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("language", sa.String(length=8), nullable=True))
    op.add_column("merchants", sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    for table in ("merchants", "users"):
        if op.get_bind().dialect.name == "sqlite":  # in place: no copy of a referenced table
            op.execute(f"ALTER TABLE {table} DROP COLUMN language")
        else:
            op.drop_column(table, "language")
