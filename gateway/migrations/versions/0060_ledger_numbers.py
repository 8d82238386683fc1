"""ledger numbers: each ledger entry carries its number in its wallet, 1, 2, 3, … with no gap

The ledger a merchant reads (the dashboard's wallet page, ``GET /billing/transactions``, the CSV
export) numbered its entries by the table's id, which runs across every wallet: a merchant saw
gaps where other wallets' entries fell. An entry now has its number in its wallet, written with
it from the count of entries its wallet keeps (``ledger.service``). The entries that exist are
numbered here, each wallet's in the order they were written (their id), so the last one's number
is its wallet's count.

Revision ID: 0060
Revises: 0059
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0060"
down_revision: str | None = "0059"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ledger_entries", sa.Column("number", sa.BigInteger(), nullable=True))
    # One statement on either store (SQLite has had ``UPDATE … FROM`` and window functions since
    # 3.33), each wallet's entries read in the order of ``ix_ledger_entries_wallet_id_id``.
    op.execute(
        "UPDATE ledger_entries SET number = numbered.n FROM ("
        "SELECT id, row_number() OVER (PARTITION BY wallet_id ORDER BY id) AS n"
        " FROM ledger_entries) AS numbered WHERE numbered.id = ledger_entries.id"
    )
    with op.batch_alter_table("ledger_entries") as batch:
        batch.alter_column("number", existing_type=sa.BigInteger(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_column("number")
