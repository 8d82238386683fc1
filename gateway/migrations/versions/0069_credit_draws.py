"""credit draws: what each settle drew from each grant (``credit_draws``), the span of a
merchant wallet's debits in all it covered, with the wallet's running total of what was drawn
(``wallets.drawn_cents``) and each debit's end in it (``ledger_entries.drawn_through``): a
give-back of a debit restores the grants it was drawn from, with their expiry and category.

A debit written before has no span: its give-back comes back as a paid grant, as before.

Back: the table and both columns go; a give-back makes a paid grant again.

Revision ID: 0069
Revises: 0068
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0069"
down_revision: str | None = "0068"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Both columns plain, without an index or a constraint: SQLite adds and drops them in place.


def upgrade() -> None:
    op.add_column(
        "wallets",
        sa.Column("drawn_cents", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("ledger_entries", sa.Column("drawn_through", sa.BigInteger(), nullable=True))
    op.create_table(
        "credit_draws",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("wallet_id", sa.String(length=40), nullable=False),
        sa.Column("grant_id", sa.String(length=60), nullable=False),
        sa.Column("from_cents", sa.BigInteger(), nullable=False),
        sa.Column("to_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallets.id"]),
        sa.ForeignKeyConstraint(["grant_id"], ["credit_grants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_credit_draws_wallet_to", "credit_draws", ["wallet_id", "to_cents"])


def downgrade() -> None:
    op.drop_index("ix_credit_draws_wallet_to", table_name="credit_draws")
    op.drop_table("credit_draws")
    op.drop_column("ledger_entries", "drawn_through")
    op.drop_column("wallets", "drawn_cents")
