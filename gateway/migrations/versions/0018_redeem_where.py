"""where recipients redeem: a provider's public redemption address and a line of instructions

A merchant who fulfils through New API or OpenRouter says where its recipients spend what they
receive (``redeem_url``: New API's site, e.g. its top-up page; OpenRouter's site) and, if it
likes, one line of instructions (``redeem_instructions``, plain text). The e-mail and the
recipient's page give them as a button and a line. Both are optional: a row saved before them
has neither, and the recipient is sent to the provider's own address.

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fulfilment_settings") as batch:
        batch.add_column(sa.Column("redeem_url", sa.String(2048), nullable=True))
        batch.add_column(sa.Column("redeem_instructions", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fulfilment_settings") as batch:
        batch.drop_column("redeem_instructions")
        batch.drop_column("redeem_url")
