"""idempotency answers filled by the plan: ``idempotency_keys.filled``, the values of a keyed
payment's answer that its own statement computed (the balances after it, the mail's status),
as JSON text in clear beside the answer sealed before it ran (``idempotency.answer_step``); a
replay reads the sealed answer with them. Null for every answer sealed whole.

Down drops the column: a key whose answer was filled then replays the answer as it was sealed,
without the values its statement filled in (null where they stood), until its TTL passes; it
still replays, so no retry pays twice.

Revision ID: 0080
Revises: 0079
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0080"
down_revision: str | None = "0079"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: both stores add it in place, without rewriting the table.
    op.add_column("idempotency_keys", sa.Column("filled", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("idempotency_keys", "filled")
