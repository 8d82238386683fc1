"""undrawn debits: a merchant wallet's debits not yet drawn from its credit grants
(``wallets.undrawn_cents``), which the next change of its grants draws first
(``ledger.grants.settle``); the grants' version, which a debit no longer reads, goes.

Back: the version returns at 0, after each wallet's undrawn debits are drawn as a debit then
did (the running sum over its live grants in the draw order), so the grants hold the balance.

Revision ID: 0068
Revises: 0067
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0068"
down_revision: str | None = "0067"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The running sum of ``ledger.grants.draw`` in its draw order, as it stood when this migration
# was written.
_DRAW = """
UPDATE credit_grants SET remaining_cents = CASE
    WHEN ranked.through <= :taken THEN 0 ELSE ranked.through - :taken END
FROM (
    SELECT id, remaining_cents, SUM(remaining_cents) OVER (
        ORDER BY priority, expires_at IS NULL, expires_at,
        CASE category WHEN 'promotional' THEN 0 WHEN 'plan' THEN 1 ELSE 2 END, effective_at, id
    ) AS through
    FROM credit_grants WHERE wallet_id = :wallet AND remaining_cents > 0
) AS ranked
WHERE credit_grants.id = ranked.id AND ranked.through - ranked.remaining_cents < :taken
"""


# Both columns plain, without an index or a constraint: SQLite adds and drops them in place
# (``ALTER TABLE … DROP COLUMN``), where a copy of ``wallets`` would trip the foreign keys of the
# tables that refer to it.


def upgrade() -> None:
    op.add_column(
        "wallets",
        sa.Column("undrawn_cents", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.drop_column("wallets", "grants_version")


def downgrade() -> None:
    bind = op.get_bind()
    undrawn = bind.execute(
        sa.text("SELECT id, undrawn_cents FROM wallets WHERE undrawn_cents > 0")
    ).all()
    for wallet_id, taken in undrawn:
        bind.execute(sa.text(_DRAW), {"wallet": wallet_id, "taken": taken})
    op.drop_column("wallets", "undrawn_cents")
    op.add_column(
        "wallets",
        sa.Column("grants_version", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
