"""credit grants: a merchant wallet's balance is the sum of its grants (category, priority,
expiry), each drawn down by debits in one order; every merchant wallet's balance becomes one
``paid`` grant without expiry; a plan says whether its periods' credits expire

Back: the grants and the columns go (the balances stay: they are the ledger's).

Revision ID: 0065
Revises: 0064
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0065"
down_revision: str | None = "0064"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "remaining_cents > 0"
PAID_PRIORITY = 50  # ``ledger.grants.DEFAULT_PRIORITY``


def upgrade() -> None:
    op.add_column(
        "wallets",
        sa.Column("grants_version", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "plans",
        sa.Column("credits_expire", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    grants = op.create_table(
        "credit_grants",
        sa.Column("id", sa.String(60), primary_key=True),
        sa.Column("wallet_id", sa.String(40), sa.ForeignKey("wallets.id"), nullable=False),
        sa.Column("env", sa.String(10), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("priority", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("remaining_cents", sa.BigInteger(), nullable=False),
        sa.Column("effective_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("removed_cents", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("voided_at", UTCDateTime(), nullable=True),
        sa.Column("expired_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "remaining_cents >= 0 AND remaining_cents <= amount_cents",
            name=op.f("ck_credit_grants_within"),
        ),
        sa.CheckConstraint(
            "category IN ('paid', 'promotional', 'plan')", name=op.f("ck_credit_grants_category")
        ),
    )
    op.create_index(
        "ix_credit_grants_live",
        "credit_grants",
        ["wallet_id"],
        postgresql_where=sa.text(LIVE),
        sqlite_where=sa.text(LIVE),
    )
    expiring = f"{LIVE} AND expires_at IS NOT NULL"
    op.create_index(
        "ix_credit_grants_expiring",
        "credit_grants",
        ["expires_at"],
        postgresql_where=sa.text(expiring),
        sqlite_where=sa.text(expiring),
    )
    op.create_index("ix_credit_grants_wallet_created", "credit_grants", ["wallet_id", "created_at"])
    # Each merchant wallet's balance so far: one paid grant, named by its last entry.
    now = datetime.now(UTC)
    wallets = op.get_bind().execute(
        sa.text(
            "SELECT id, env, balance_cents, entry_count FROM wallets "
            "WHERE owner LIKE 'm:%' AND balance_cents > 0"
        )
    )
    rows = [
        {
            "id": f"cg_{w.id[4:]}_{w.entry_count}",
            "wallet_id": w.id,
            "env": w.env,
            "category": "paid",
            "priority": PAID_PRIORITY,
            "amount_cents": w.balance_cents,
            "remaining_cents": w.balance_cents,
            "effective_at": now,
            "expires_at": None,
            "removed_cents": 0,
            "voided_at": None,
            "expired_at": None,
            "created_at": now,
        }
        for w in wallets
    ]
    if rows:
        op.bulk_insert(grants, rows)


def downgrade() -> None:
    op.drop_index("ix_credit_grants_wallet_created", table_name="credit_grants")
    op.drop_index("ix_credit_grants_expiring", table_name="credit_grants")
    op.drop_index("ix_credit_grants_live", table_name="credit_grants")
    op.drop_table("credit_grants")
    with op.batch_alter_table("plans") as table:  # SQLite drops a column by a copy
        table.drop_column("credits_expire")
    with op.batch_alter_table("wallets") as table:
        table.drop_column("grants_version")
