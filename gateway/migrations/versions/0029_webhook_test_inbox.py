"""webhook test inbox: each staging merchant's receiver URL token, and the requests it received

Revision ID: 0029
Revises: 0028
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.store.types

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_inboxes",
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_webhook_inboxes_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_webhook_inboxes")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_webhook_inboxes_token_hash")),
    )
    op.create_table(
        "webhook_inbox_requests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("received_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_bytes", sa.Integer(), nullable=False),
        sa.Column("signature", sa.String(length=20), nullable=False),
        sa.Column("endpoint_id", sa.String(length=40), nullable=True),
        sa.Column("signature_detail", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_webhook_inbox_requests_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_inbox_requests")),
    )
    op.create_index(
        "ix_webhook_inbox_requests_merchant_id",
        "webhook_inbox_requests",
        ["merchant_id", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_inbox_requests_merchant_id", table_name="webhook_inbox_requests")
    op.drop_table("webhook_inbox_requests")
    op.drop_table("webhook_inboxes")
