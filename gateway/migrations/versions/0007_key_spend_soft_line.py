"""key spend: the soft line travels with the count

``key_spend.soft_cents``: the spend at which the window's ``key.budget_low`` is due, carried by
every upsert like ``limit_cents``, so one statement counts a send in all of its windows. Null
where a window has none (and on rows counted before). ``alert_event_id``: the alert written for
a window its send took past the line (``alerted_by``); a partial index holds those still
without one, for the worker's sweep. A window alerted before this revision had its alert
written with the send itself, so it is marked as reported (with the send's id).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_DUE = "alerted_by IS NOT NULL AND alert_event_id IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("key_spend") as batch:
        batch.add_column(sa.Column("soft_cents", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("alert_event_id", sa.String(40), nullable=True))
    op.execute("UPDATE key_spend SET alert_event_id = alerted_by WHERE alerted_by IS NOT NULL")
    op.create_index(
        "ix_key_spend_alert_due",
        "key_spend",
        ["key_id"],
        postgresql_where=sa.text(_DUE),
        sqlite_where=sa.text(_DUE),
    )


def downgrade() -> None:
    op.drop_index("ix_key_spend_alert_due", table_name="key_spend")
    with op.batch_alter_table("key_spend") as batch:
        batch.drop_column("alert_event_id")
        batch.drop_column("soft_cents")
