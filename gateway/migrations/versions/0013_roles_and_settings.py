"""roles of members, the merchant's display name and its low-balance threshold per environment

Every member made before roles becomes an owner (they could do everything), so nobody loses
what they had. An invitation waiting for its user to accept keeps the role it grants. A
merchant's wallet may carry a low-balance threshold of its own environment; where it has none,
the merchant's threshold applies, as it did in both environments before.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE merchant_users SET role = 'owner' WHERE role = 'member'")
    op.add_column(
        "merchant_invitations",
        sa.Column("role", sa.String(20), nullable=False, server_default="owner"),
    )
    op.add_column("merchants", sa.Column("display_name", sa.String(200), nullable=True))
    op.add_column(
        "wallets", sa.Column("low_balance_threshold_cents", sa.BigInteger(), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("wallets", "low_balance_threshold_cents")
    op.drop_column("merchants", "display_name")
    op.drop_column("merchant_invitations", "role")
    op.execute("UPDATE merchant_users SET role = 'member' WHERE role <> 'owner'")
