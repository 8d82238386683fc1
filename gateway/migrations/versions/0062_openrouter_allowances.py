"""openrouter allowances: a fulfilment setting may say how the keys it makes for recipients
reset their limit (``limit_reset``: daily, weekly, monthly) and how many days after their making
they expire (``key_expires_after_days``); a recipient's key keeps when it expires
(``upstream_keys.expires_at``)

Settings and keys made before it have none: their keys never reset nor expire, as before. Back:
the three columns go.

Revision ID: 0062
Revises: 0061
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0062"
down_revision: str | None = "0061"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("fulfilment_settings", sa.Column("limit_reset", sa.String(10), nullable=True))
    op.add_column(
        "fulfilment_settings", sa.Column("key_expires_after_days", sa.Integer(), nullable=True)
    )
    op.add_column("upstream_keys", sa.Column("expires_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("upstream_keys") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("fulfilment_settings") as batch:
        batch.drop_column("key_expires_after_days")
        batch.drop_column("limit_reset")
