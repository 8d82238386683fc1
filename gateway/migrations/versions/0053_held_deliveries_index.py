"""held deliveries: an index of the deliveries a throttle holds to their slots, which the lease
takes before any other due row

Revision ID: 0053
Revises: 0052
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0053"
down_revision: str | None = "0052"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELD = "throttle_slot_us IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_held",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text(HELD),
        sqlite_where=sa.text(HELD),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_held", table_name="webhook_deliveries")
