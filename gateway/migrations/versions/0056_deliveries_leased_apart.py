"""deliveries leased apart: a delivery's lease ends in a column of its own, in no index, on
pages left half free, so that a lease is a heap-only update on PostgreSQL

A row leased before this migration keeps its lease's end in ``next_attempt_at`` and falls due
when it ends, as a lapsed lease does.

Revision ID: 0056
Revises: 0055
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0056"
down_revision: str | None = "0055"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 50


def upgrade() -> None:
    op.add_column("webhook_deliveries", sa.Column("leased_until", UTCDateTime(), nullable=True))
    if op.get_context().dialect.name == "postgresql":
        # Pages written from now on; the rows already there keep theirs until rewritten.
        op.execute(f"ALTER TABLE webhook_deliveries SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE webhook_deliveries RESET (fillfactor)")
    with op.batch_alter_table("webhook_deliveries") as table:  # SQLite drops by a copy
        table.drop_column("leased_until")
