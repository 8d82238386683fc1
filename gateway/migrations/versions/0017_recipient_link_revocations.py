"""recipient link revocations: a merchant ends every link to a recipient's page made until now

A link to a recipient's page is a sealed token that says when it was made. A merchant who
revokes a recipient's links (``POST /recipients/{email}/revoke-links``, the dashboard's
Recipients page) keeps the time here, per merchant, environment and address: a link made until
then stops working, on its page and on the page's live stream; a fresh one works.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recipient_link_revocations",
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("env", sa.String(10), nullable=False),
        sa.Column("recipient_email", sa.String(254), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_recipient_link_revocations_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint(
            "merchant_id", "env", "recipient_email", name=op.f("pk_recipient_link_revocations")
        ),
    )


def downgrade() -> None:
    op.drop_table("recipient_link_revocations")
