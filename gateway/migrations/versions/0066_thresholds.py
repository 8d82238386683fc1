"""thresholds: a merchant wallet keeps its list of low-balance levels
(``low_thresholds_cents``; null: its one ``low_balance_threshold_cents``) and where its alerts
stand (``low_told_cents``, ``low_from_cents``, ``low_event``), which its debit and its credits
move; a spend window keeps where its levels stand (``told_cents``, ``next_cents``) and a budget
its shares (``thresholds_percent``); Telegram reads ``balance.recovered`` beside ``balance.low``
from the same partial index

Back: the columns go, and the index reads ``balance.low`` alone again.

Revision ID: 0066
Revises: 0065
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0066"
down_revision: str | None = "0065"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("low_thresholds_cents", sa.JSON()),
    ("low_told_cents", sa.BigInteger()),
    ("low_from_cents", sa.BigInteger()),
    ("low_event", sa.String(40)),
)
# The windows' levels: where each window's stand, and a budget's shares of its limits.
WINDOW_COLUMNS = (("told_cents", sa.BigInteger()), ("next_cents", sa.BigInteger()))
INDEX = "ix_events_balance_low"
BEFORE = "type = 'balance.low'"
AFTER = "type IN ('balance.low', 'balance.recovered')"


def _index(where: str) -> None:
    predicate = sa.text(where)
    op.drop_index(INDEX, table_name="events")
    op.create_index(
        INDEX, "events", ["merchant_id", "id"], postgresql_where=predicate, sqlite_where=predicate
    )


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("wallets", sa.Column(name, type_, nullable=True))
    for name, type_ in WINDOW_COLUMNS:
        op.add_column("key_spend", sa.Column(name, type_, nullable=True))
    op.add_column("budgets", sa.Column("thresholds_percent", sa.JSON(), nullable=True))
    _index(AFTER)


def _drop(table: str, name: str) -> None:
    if op.get_bind().dialect.name == "sqlite":  # in place: no copy of a referenced table
        op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
    else:
        op.drop_column(table, name)


def downgrade() -> None:
    _index(BEFORE)
    _drop("budgets", "thresholds_percent")
    for name, _ in reversed(WINDOW_COLUMNS):
        _drop("key_spend", name)
    for name, _ in reversed(COLUMNS):
        _drop("wallets", name)
