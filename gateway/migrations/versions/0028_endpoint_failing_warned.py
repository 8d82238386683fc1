"""endpoint failing warned: when a webhook endpoint's owners were warned, by e-mail, that its
run of failures will disable it

Revision ID: 0028
Revises: 0027
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhook_endpoints", sa.Column("failing_warned_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # in place: no copy of a referenced table
        op.execute("ALTER TABLE webhook_endpoints DROP COLUMN failing_warned_at")
    else:
        op.drop_column("webhook_endpoints", "failing_warned_at")
