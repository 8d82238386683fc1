"""coupon uses per environment, expiring checkouts, adjustment memos a merchant may read

A coupon's uses were one count for both environments, so staging sandbox checkouts used up live
uses. Each environment now counts its own (``coupon_uses``), rebuilt from the orders that hold a
use (pending or paid), and ``coupons.uses`` goes.

Pending checkouts get an ``expires_at``, counted from when they were made: the sandbox's default
hour, or Stripe's default day for a live session (its real expiry was not kept).

Adjustment entries in the ledger, and the ``wallet.*`` events that reported them (and the
delivery log's copies of those bodies), said which operator made them and why. They now say
"Balance adjustment", as a new adjustment does when the operator gives the merchant no memo; the
reason and the actor stay in the adjustments table and the audit log.

Revision ID: 0004
Revises: 0003
"""

import json
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEUTRAL_MEMO = "Balance adjustment"
SANDBOX_TTL = timedelta(hours=1)
STRIPE_TTL = timedelta(hours=24)

_orders = sa.table(
    "funding_orders",
    sa.column("id", sa.String),
    sa.column("provider", sa.String),
    sa.column("kind", sa.String),
    sa.column("status", sa.String),
    sa.column("created_at", UTCDateTime()),
    sa.column("expires_at", UTCDateTime()),
)
_events = sa.table(
    "events",
    sa.column("id", sa.String),
    sa.column("type", sa.String),
    sa.column("payload", sa.Text),
)
_deliveries = sa.table(
    "webhook_deliveries", sa.column("id", sa.String), sa.column("event_id", sa.String)
)
_attempts = sa.table(
    "webhook_attempts", sa.column("delivery_id", sa.String), sa.column("request_body", sa.Text)
)


def upgrade() -> None:
    op.create_table(
        "coupon_uses",
        sa.Column("coupon_id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_coupon_uses_coupon_id_coupons")
        ),
        sa.PrimaryKeyConstraint("coupon_id", "env", name=op.f("pk_coupon_uses")),
    )
    op.execute(
        "INSERT INTO coupon_uses (coupon_id, env, uses) "
        "SELECT coupon_id, env, COUNT(*) FROM funding_orders "
        "WHERE coupon_id IS NOT NULL AND status IN ('pending', 'completed') "
        "GROUP BY coupon_id, env"
    )
    # A plain column without constraints or indexes: dropped in place on both stores.
    op.drop_column("coupons", "uses")

    op.add_column("funding_orders", sa.Column("expires_at", UTCDateTime(), nullable=True))
    op.create_index(
        "ix_funding_orders_status_expires_at", "funding_orders", ["status", "expires_at"]
    )
    _expire_pending_from_creation()
    _scrub_adjustment_memos()


def _expire_pending_from_creation() -> None:
    bind = op.get_bind()
    pending = bind.execute(
        sa.select(_orders.c.id, _orders.c.provider, _orders.c.created_at).where(
            _orders.c.status == "pending", _orders.c.kind == "checkout"
        )
    ).all()
    for order in pending:
        ttl = SANDBOX_TTL if order.provider == "sandbox" else STRIPE_TTL
        bind.execute(
            sa.update(_orders)
            .where(_orders.c.id == order.id)
            .values(expires_at=order.created_at + ttl)
        )


def _scrub_adjustment_memos() -> None:
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "UPDATE ledger_entries SET memo = :memo "
            "WHERE kind = 'adjustment' AND reference IN (SELECT id FROM adjustments)"
        ),
        {"memo": NEUTRAL_MEMO},
    )
    wallet_events = bind.execute(
        sa.select(_events.c.id, _events.c.payload).where(
            _events.c.type.in_(["wallet.credited", "wallet.debited"])
        )
    ).all()
    for event in wallet_events:
        body = json.loads(event.payload)
        data = body.get("data")
        if not isinstance(data, dict) or data.get("source") != "adjustment":
            continue
        if data.get("description") == NEUTRAL_MEMO:
            continue
        data["description"] = NEUTRAL_MEMO
        # As the outbox writes bodies: compact, keys in the order they came.
        payload = json.dumps(body, separators=(",", ":"))
        bind.execute(sa.update(_events).where(_events.c.id == event.id).values(payload=payload))
        of_event = sa.select(_deliveries.c.id).where(_deliveries.c.event_id == event.id)
        bind.execute(
            sa.update(_attempts)
            .where(_attempts.c.delivery_id.in_(of_event.scalar_subquery()))
            .values(request_body=payload)
        )


def downgrade() -> None:
    op.execute("UPDATE funding_orders SET status = 'failed' WHERE status = 'expired'")
    op.drop_index("ix_funding_orders_status_expires_at", table_name="funding_orders")
    op.drop_column("funding_orders", "expires_at")
    op.add_column(
        "coupons", sa.Column("uses", sa.Integer(), nullable=False, server_default=sa.text("0"))
    )
    op.execute(
        "UPDATE coupons SET uses = COALESCE("
        "(SELECT SUM(u.uses) FROM coupon_uses u WHERE u.coupon_id = coupons.id), 0)"
    )
    op.drop_table("coupon_uses")
    # The memos scrubbed on the way up stay scrubbed: what they said is in the audit log.
