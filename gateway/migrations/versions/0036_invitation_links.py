"""invitation links: an invitation of an existing account is accepted only through its one-time
link (the SHA-256 of its token, and when it stops working), proof that whoever accepts reads the
invited address

Revision ID: 0036
Revises: 0035
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_merchant_invitations_token_hash"


def upgrade() -> None:
    # An invitation waiting from before has no link: it can no longer be accepted, and an owner
    # inviting the address again makes its link.
    op.add_column("merchant_invitations", sa.Column("token_hash", sa.String(64), nullable=True))
    op.add_column("merchant_invitations", sa.Column("expires_at", UTCDateTime(), nullable=True))
    op.create_index(_INDEX, "merchant_invitations", ["token_hash"], unique=True)


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="merchant_invitations")
    if op.get_bind().dialect.name == "sqlite":  # in place: no copy of a referenced table
        op.execute("ALTER TABLE merchant_invitations DROP COLUMN expires_at")
        op.execute("ALTER TABLE merchant_invitations DROP COLUMN token_hash")
    else:
        op.drop_column("merchant_invitations", "expires_at")
        op.drop_column("merchant_invitations", "token_hash")
