"""client metadata documents: an OAuth client known by the URL of its metadata document

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("oauth_apps", sa.Column("client_id_url", sa.String(length=2048), nullable=True))
    op.add_column("oauth_apps", sa.Column("fetched_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    for column in ("fetched_at", "client_id_url"):
        if op.get_bind().dialect.name == "sqlite":  # in place: no copy of a referenced table
            op.execute(f"ALTER TABLE oauth_apps DROP COLUMN {column}")
        else:
            op.drop_column("oauth_apps", column)
