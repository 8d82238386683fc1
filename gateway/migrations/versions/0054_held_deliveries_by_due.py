"""held deliveries by due: the index of the deliveries a throttle holds keyed as the due index
is, by status and due time, so that the lease reads it on a table without statistics too

Revision ID: 0054
Revises: 0053
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0054"
down_revision: str | None = "0053"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELD = "throttle_slot_us IS NOT NULL"
NAME = "ix_webhook_deliveries_held"


def _held(columns: list[str]) -> None:
    op.drop_index(NAME, table_name="webhook_deliveries")
    op.create_index(
        NAME,
        "webhook_deliveries",
        columns,
        postgresql_where=sa.text(HELD),
        sqlite_where=sa.text(HELD),
    )


def upgrade() -> None:
    _held(["status", "next_attempt_at"])


def downgrade() -> None:
    _held(["next_attempt_at"])
