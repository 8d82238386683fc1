"""backlog indexes: an endpoint's held deliveries, a batch's members and a merchant's
``balance.low`` events each read from an index of their own, not from a whole backlog

Revision ID: 0055
Revises: 0054
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0055"
down_revision: str | None = "0054"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELD = "throttle_slot_us IS NOT NULL"
BATCHED = "batch_head IS NOT NULL AND status = 'pending' AND trigger = 'auto'"
BALANCE_LOW = "type = 'balance.low'"

# name, table, columns, predicate
INDEXES = (
    ("ix_webhook_deliveries_held_endpoint", "webhook_deliveries", ["endpoint_id", "id"], HELD),
    (
        "ix_webhook_deliveries_batch",
        "webhook_deliveries",
        ["batch_head", "created_at", "id"],
        BATCHED,
    ),
    ("ix_events_balance_low", "events", ["merchant_id", "id"], BALANCE_LOW),
)


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        predicate = sa.text(where)
        op.create_index(name, table, columns, postgresql_where=predicate, sqlite_where=predicate)


def downgrade() -> None:
    for name, table, _, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
