"""endpoint retry schedule: an endpoint's deliveries follow the standard schedule or the long one

Revision ID: 0049
Revises: 0041
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0049"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "webhook_endpoints",
        sa.Column(
            "retry_schedule", sa.String(length=10), nullable=False, server_default="standard"
        ),
    )


def downgrade() -> None:
    op.drop_column("webhook_endpoints", "retry_schedule")
