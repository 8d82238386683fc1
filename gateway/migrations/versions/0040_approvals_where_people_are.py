"""approvals where people are: a held send's one-time decision links, each mailed to one
approver (only the keyed hash of its token, spent once, ending with the hold); the Telegram
bot's linked chats, their one-time link codes, and its outbox of Bot API calls

Revision ID: 0040
Revises: 0039
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "approval_links",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("topup_id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["topup_id"], ["topups.id"], name=op.f("fk_approval_links_topup_id_topups")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_approval_links_user_id_users")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_approval_links")),
    )
    op.create_index("ix_approval_links_topup_id", "approval_links", ["topup_id"])
    op.create_table(
        "telegram_chats",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("alerted_through", sa.String(40), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_telegram_chats_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_telegram_chats_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_chats")),
        sa.UniqueConstraint(
            "merchant_id", "user_id", "chat_id", name=op.f("uq_telegram_chats_merchant_id")
        ),
    )
    op.create_index("ix_telegram_chats_chat_id", "telegram_chats", ["chat_id"])
    op.create_table(
        "telegram_link_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_telegram_link_codes_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_telegram_link_codes_user_id_users")
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_telegram_link_codes")),
    )
    op.create_table(
        "telegram_messages",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=True),
        sa.Column("call_sealed", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_messages")),
    )
    op.create_index("ix_telegram_messages_due", "telegram_messages", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_telegram_messages_due", table_name="telegram_messages")
    op.drop_table("telegram_messages")
    op.drop_table("telegram_link_codes")
    op.drop_index("ix_telegram_chats_chat_id", table_name="telegram_chats")
    op.drop_table("telegram_chats")
    op.drop_index("ix_approval_links_topup_id", table_name="approval_links")
    op.drop_table("approval_links")
