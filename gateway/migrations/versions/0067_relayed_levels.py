"""relayed levels: Telegram reads a key's and a budget's level events (``key.budget_threshold``,
``key.budget_recovered``, ``budget.threshold``, ``budget.recovered``) beside the wallet's
``balance.low`` and ``balance.recovered``, from the same partial index, which keeps its name

Back: the index reads the wallet's two alone again.

Revision ID: 0067
Revises: 0066
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0067"
down_revision: str | None = "0066"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_events_balance_low"
BEFORE = "type IN ('balance.low', 'balance.recovered')"
AFTER = (
    "type IN ('balance.low', 'balance.recovered', 'key.budget_threshold', "
    "'key.budget_recovered', 'budget.threshold', 'budget.recovered')"
)


def _index(where: str) -> None:
    predicate = sa.text(where)
    op.drop_index(INDEX, table_name="events")
    op.create_index(
        INDEX, "events", ["merchant_id", "id"], postgresql_where=predicate, sqlite_where=predicate
    )


def upgrade() -> None:
    _index(AFTER)


def downgrade() -> None:
    _index(BEFORE)
