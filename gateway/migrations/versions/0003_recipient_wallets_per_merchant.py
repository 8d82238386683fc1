"""recipient wallets per merchant: a shared recipient wallet is split by the merchant of each entry

A recipient's wallet was shared by every merchant that sent to the address, so a reply's
``new_balance_cents`` told one merchant what others had sent. Each share becomes a wallet of
its own (owner ``r:<merchant>:<platform>:<email>``), holding the entries of that merchant's
top-ups, so every balance is still the sum of its entries.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime
from gateway.values.clock import new_id

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SHARED = sa.text(
    "SELECT id, env, platform, email, created_at FROM wallets "
    "WHERE owner LIKE 'r:%' AND merchant_id IS NULL"
).columns(
    sa.column("id"),
    sa.column("env"),
    sa.column("platform"),
    sa.column("email"),
    sa.column("created_at", UTCDateTime()),
)
_SHARES = sa.text(
    "SELECT t.merchant_id, COALESCE(SUM(l.amount_cents), 0) AS total "
    "FROM ledger_entries l JOIN topups t ON t.id = l.reference "
    "WHERE l.wallet_id = :wallet GROUP BY t.merchant_id ORDER BY t.merchant_id"
)
_NEW_WALLET = sa.text(
    "INSERT INTO wallets (id, env, owner, merchant_id, platform, email, balance_cents, "
    "created_at, updated_at) VALUES (:id, :env, :owner, :merchant, :platform, :email, :total, "
    ":created, :now)"
).bindparams(sa.bindparam("created", type_=UTCDateTime()), sa.bindparam("now", type_=UTCDateTime()))
_MOVE_ENTRIES = sa.text(
    "UPDATE ledger_entries SET wallet_id = :new WHERE wallet_id = :old "
    "AND reference IN (SELECT id FROM topups WHERE merchant_id = :merchant)"
)
_MOVE_TOPUPS = sa.text(
    "UPDATE topups SET recipient_wallet_id = :new "
    "WHERE recipient_wallet_id = :old AND merchant_id = :merchant"
)
_LEFT = sa.text(
    "SELECT COUNT(*) AS n, COALESCE(SUM(amount_cents), 0) AS total FROM ledger_entries "
    "WHERE wallet_id = :old"
)


def upgrade() -> None:
    conn = op.get_bind()
    now = datetime.now(UTC)
    for wallet in conn.execute(_SHARED).all():
        for share in conn.execute(_SHARES, {"wallet": wallet.id}).all():
            new = new_id("wal")
            owner = f"r:{share.merchant_id}:{wallet.platform}:{wallet.email}"
            conn.execute(
                _NEW_WALLET,
                {
                    "id": new,
                    "env": wallet.env,
                    "owner": owner,
                    "merchant": share.merchant_id,
                    "platform": wallet.platform,
                    "email": wallet.email,
                    "total": share.total,
                    "created": wallet.created_at,
                    "now": now,
                },
            )
            moved = {"new": new, "old": wallet.id, "merchant": share.merchant_id}
            conn.execute(_MOVE_ENTRIES, moved)
            conn.execute(_MOVE_TOPUPS, moved)
        left = conn.execute(_LEFT, {"old": wallet.id}).one()
        if left.n == 0:
            conn.execute(sa.text("DELETE FROM wallets WHERE id = :old"), {"old": wallet.id})
        else:  # entries of no top-up (none are written): the wallet keeps exactly those
            conn.execute(
                sa.text("UPDATE wallets SET balance_cents = :total WHERE id = :old"),
                {"total": left.total, "old": wallet.id},
            )


def downgrade() -> None:
    raise NotImplementedError("recipient wallets are not merged back: restore a backup")
