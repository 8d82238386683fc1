"""managed keys: the key an app makes through its consent's ``keys:manage`` scope names that
consent, at most one live per consent

Revision ID: 0050
Revises: 0049
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0050"
down_revision: str | None = "0049"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE = sa.text("managed_by IS NOT NULL AND revoked_at IS NULL")


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("managed_by", sa.String(length=40), nullable=True))
    op.create_index(
        "uq_api_keys_managed_live",
        "api_keys",
        ["managed_by"],
        unique=True,
        postgresql_where=_LIVE,
        sqlite_where=_LIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_api_keys_managed_live", table_name="api_keys")
    if op.get_bind().dialect.name == "sqlite":  # in place: no copy of a referenced table
        op.execute("ALTER TABLE api_keys DROP COLUMN managed_by")
    else:
        op.drop_column("api_keys", "managed_by")
