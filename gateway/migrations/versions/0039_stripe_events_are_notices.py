"""stripe events are notices: Stripe's events are recorded as every channel's notifications
are, in payment_notices under the channel stripe; stripe_events goes

Revision ID: 0039
Revises: 0038
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.store.types

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO payment_notices (channel, event_id, kind, order_id, outcome, received_at) "
        "SELECT 'stripe', id, type, order_id, outcome, received_at FROM stripe_events"
    )
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stripe_events_order_id"))
    op.drop_table("stripe_events")


def downgrade() -> None:
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("outcome", sa.String(length=30), nullable=False),
        sa.Column("received_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stripe_events_order_id"), ["order_id"], unique=False)
    op.execute(
        "INSERT INTO stripe_events (id, type, order_id, outcome, received_at) "
        "SELECT event_id, kind, order_id, outcome, received_at FROM payment_notices "
        "WHERE channel = 'stripe'"
    )
    op.execute("DELETE FROM payment_notices WHERE channel = 'stripe'")
