"""held payments: a payment to a seller a rule of its key's policy holds waits for a decision
(``approval_expires_at``, who decided it in ``decided_by``), and an approver's one-time link
names either a held send or a held payment; the payments still holding money, and a key's
payments to a payee, are indexed

Back: the links of held payments and the columns go (a payment still held is then one the code
before cannot read: decide or let them expire first).

Revision ID: 0064
Revises: 0063
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0064"
down_revision: str | None = "0063"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOLDING = "status IN ('pending', 'pending_approval', 'authorized')"


def upgrade() -> None:
    op.add_column("seller_payments", sa.Column("approval_expires_at", UTCDateTime(), nullable=True))
    op.add_column("seller_payments", sa.Column("decided_by", sa.String(60), nullable=True))
    op.create_index(
        "ix_seller_payments_held",
        "seller_payments",
        ["merchant_id", "env"],
        postgresql_where=sa.text(HOLDING),
        sqlite_where=sa.text(HOLDING),
    )
    op.create_index(
        "ix_seller_payments_key_payee", "seller_payments", ["api_key_id", "payee_origin"]
    )
    with op.batch_alter_table("approval_links") as table:  # SQLite alters by a copy
        table.alter_column("topup_id", existing_type=sa.String(40), nullable=True)
        table.add_column(sa.Column("payment_id", sa.String(40), nullable=True))
        table.create_foreign_key(
            op.f("fk_approval_links_payment_id_seller_payments"),
            "seller_payments",
            ["payment_id"],
            ["id"],
        )
        table.create_check_constraint(
            op.f("ck_approval_links_one_held"), "(topup_id IS NULL) <> (payment_id IS NULL)"
        )
    op.create_index("ix_approval_links_payment_id", "approval_links", ["payment_id"])


def downgrade() -> None:
    op.drop_index("ix_approval_links_payment_id", table_name="approval_links")
    op.execute("DELETE FROM approval_links WHERE payment_id IS NOT NULL")
    with op.batch_alter_table("approval_links") as table:
        table.drop_constraint(op.f("ck_approval_links_one_held"), type_="check")
        table.drop_constraint(
            op.f("fk_approval_links_payment_id_seller_payments"), type_="foreignkey"
        )
        table.drop_column("payment_id")
        table.alter_column("topup_id", existing_type=sa.String(40), nullable=False)
    op.drop_index("ix_seller_payments_key_payee", table_name="seller_payments")
    op.drop_index("ix_seller_payments_held", table_name="seller_payments")
    with op.batch_alter_table("seller_payments") as table:
        table.drop_column("decided_by")
        table.drop_column("approval_expires_at")
