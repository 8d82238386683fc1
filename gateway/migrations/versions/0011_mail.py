"""mail: the outbox of e-mails, the recipient's notification switches, password resets

``mails`` holds every e-mail the gateway sends, written in the same transaction as the change
that causes it; the worker sends it over SMTP and records the outcome (``queued``, ``sent``,
``failed`` with its last error and attempts). Staging mail is ``staged``: it never leaves the
gateway. A voucher mail names its top-up and is rendered from it when sent, so neither the
address nor the voucher is copied; other mails hold their address and values sealed.

``topups.notify_recipient`` is the send's ``notify_recipient``, kept for a delivery that comes
later (an approval); ``merchants.notify_recipients`` is the merchant's own switch.
``password_resets`` holds each reset link's hash until it is used or expires.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mails",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("env", sa.String(10), nullable=True),
        sa.Column("merchant_id", sa.String(40), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("topup_id", sa.String(40), nullable=True),
        sa.Column("to_sealed", sa.Text(), nullable=True),
        sa.Column("data_sealed", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_mails_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mails")),
    )
    op.create_index("ix_mails_due", "mails", ["status", "next_attempt_at"])
    op.create_index("ix_mails_merchant_env_id", "mails", ["merchant_id", "env", "id"])
    op.create_index("ix_mails_topup_id", "mails", ["topup_id"])
    # In place on both stores (SQLite adds a column with a default without copying the table,
    # which other tables reference); every row already there is switched on.
    op.add_column(
        "topups",
        sa.Column("notify_recipient", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.add_column(
        "merchants",
        sa.Column("notify_recipients", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "password_resets",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_password_resets_user_id_users")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_password_resets")),
    )
    op.create_index("ix_password_resets_user_id", "password_resets", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_password_resets_user_id", table_name="password_resets")
    op.drop_table("password_resets")
    for table, column in (("merchants", "notify_recipients"), ("topups", "notify_recipient")):
        # In place: Alembic would copy the table on SQLite, which other tables reference;
        # SQLite drops a column in place since 3.35, as PostgreSQL does.
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.drop_index("ix_mails_topup_id", table_name="mails")
    op.drop_index("ix_mails_merchant_env_id", table_name="mails")
    op.drop_index("ix_mails_due", table_name="mails")
    op.drop_table("mails")
