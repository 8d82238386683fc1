"""voucher redemption: a merchant redeems the built-in voucher it sent, once

The built-in voucher (``ATU-…``) is redeemed with the merchant that sent it
(``POST /vouchers/redeem``). Its digest (``Sealer.lookup``: a keyed hash, the voucher itself
stays sealed) finds it, and ``redeemed_at`` says it was used. Vouchers delivered before this
revision have no digest and are not found: the digest needs the sealing secret, which a
migration does not hold.

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("topups", sa.Column("voucher_hash", sa.String(64), nullable=True))
    op.add_column("topups", sa.Column("redeemed_at", UTCDateTime(), nullable=True))
    op.create_index("ix_topups_voucher_hash", "topups", ["voucher_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_topups_voucher_hash", table_name="topups")
    op.drop_column("topups", "redeemed_at")
    op.drop_column("topups", "voucher_hash")
