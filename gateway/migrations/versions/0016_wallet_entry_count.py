"""wallet entry counts: each wallet keeps the number of its ledger entries

``GET /billing/transactions`` answers ``meta.total``, the number of the wallet's entries; it was
counted on every call, in proportion to the wallet's history. The wallet now keeps the number,
moved by the statement that moves its balance (every balance change comes with its entries), so
the total is read with the wallet. The entries that exist are counted once here.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "wallets",
        sa.Column("entry_count", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
    )
    # One statement on either store, each wallet counted from its own index entries
    # (``ix_ledger_entries_wallet_id_id``); wallets with no entry keep 0.
    op.execute(
        "UPDATE wallets SET entry_count = ("
        "SELECT count(*) FROM ledger_entries WHERE ledger_entries.wallet_id = wallets.id)"
        " WHERE EXISTS (SELECT 1 FROM ledger_entries WHERE ledger_entries.wallet_id = wallets.id)"
    )


def downgrade() -> None:
    op.drop_column("wallets", "entry_count")
