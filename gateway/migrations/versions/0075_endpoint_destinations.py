"""event destinations beyond HTTP: an endpoint's destination type (``http`` for every endpoint
before), and the destination object of a broker's type, sealed whole as the endpoint's secret is
(``destination_sealed``) and as reads show it, its secrets masked (``destination_shown``);
and back, both dropped

Revision ID: 0075
Revises: 0074
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0075"
down_revision: str | None = "0074"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain, with a default: SQLite adds each in place.
    op.add_column(
        "webhook_endpoints",
        sa.Column(
            "destination_type",
            sa.String(length=20),
            server_default=sa.text("'http'"),
            nullable=False,
        ),
    )
    op.add_column("webhook_endpoints", sa.Column("destination_sealed", sa.Text(), nullable=True))
    op.add_column("webhook_endpoints", sa.Column("destination_shown", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("webhook_endpoints", "destination_shown")
    op.drop_column("webhook_endpoints", "destination_sealed")
    op.drop_column("webhook_endpoints", "destination_type")
