"""endpoint signing and headers: ed25519 (Standard Webhooks v1a) keys beside the HMAC secret,
and custom headers, per webhook endpoint

Revision ID: 0026
Revises: 0025
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "signing",
    "signing_key_sealed",
    "signing_public_key",
    "previous_signing_key_sealed",
    "previous_signing_public_key",
    "previous_signing_key_expires_at",
    "custom_headers",
)


def upgrade() -> None:
    add = op.add_column
    add(
        "webhook_endpoints",
        sa.Column("signing", sa.String(length=10), server_default="hmac", nullable=False),
    )
    add("webhook_endpoints", sa.Column("signing_key_sealed", sa.Text(), nullable=True))
    add("webhook_endpoints", sa.Column("signing_public_key", sa.String(length=60), nullable=True))
    add("webhook_endpoints", sa.Column("previous_signing_key_sealed", sa.Text(), nullable=True))
    add(
        "webhook_endpoints",
        sa.Column("previous_signing_public_key", sa.String(length=60), nullable=True),
    )
    add(
        "webhook_endpoints",
        sa.Column("previous_signing_key_expires_at", UTCDateTime(), nullable=True),
    )
    add("webhook_endpoints", sa.Column("custom_headers", sa.Text(), nullable=True))


def downgrade() -> None:
    for column in reversed(_COLUMNS):
        if op.get_bind().dialect.name == "sqlite":  # in place: no copy of a referenced table
            op.execute(f"ALTER TABLE webhook_endpoints DROP COLUMN {column}")
        else:
            op.drop_column("webhook_endpoints", column)
