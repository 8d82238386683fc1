"""seller payments: an agent's wallet pays a seller's 402 (``POST /payments``): the payment,
debited as it is written and its credential kept sealed, and its work for the worker (its
credential made again past a deadline, its use looked at, its release at expiry); and the scope
that allows it, ``payments:send``, held by a key stored with every scope a key held before it and
no limit (an operator's key made without a policy), as a key made before policies holds it

A key whose scopes were named holds it only when asked for. Back: the tables are dropped and
the scope taken out of every stored policy (keys and templates), which the code before it could
not read.

Revision ID: 0061
Revises: 0060
"""

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0061"
down_revision: str | None = "0060"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPE = "payments:send"
# Every scope a key could hold before this revision: what an operator's key was stored with.
_BEFORE = frozenset(
    {
        "topup:send",
        "topup:read",
        "webhooks",
        "billing",
        "keys",
        "approvals",
        "fulfilment",
        "billing:card",
    }
)
_UNSET: tuple[Any, ...] = (None, [], False)

_keys = sa.table(
    "api_keys",
    sa.column("id", sa.String),
    sa.column("policy", sa.JSON(none_as_null=True)),
    sa.column("app_id", sa.String),
    sa.column("managed_by", sa.String),
)
_templates = sa.table("policy_templates", sa.column("id", sa.String), sa.column("policy", sa.JSON))


def _read(stored: Any) -> dict[str, Any] | None:
    """A stored policy as the driver hands it back (text on SQLite, parsed on PostgreSQL)."""
    value = json.loads(stored) if isinstance(stored, str) else stored
    return value if isinstance(value, dict) else None


def unrestricted(policy: dict[str, Any]) -> bool:
    """Whether ``policy`` is every scope a key held before this revision, the code revealed,
    and nothing else set: the policy an operator's key made without one was stored with."""
    if set(policy.get("scopes") or ()) != _BEFORE or policy.get("reveal_voucher") is not True:
        return False
    return all(v in _UNSET for k, v in policy.items() if k not in ("scopes", "reveal_voucher"))


def _rows(table: Any, where: Iterable[Any] = ()) -> list[Any]:
    return list(op.get_bind().execute(sa.select(table.c.id, table.c.policy).where(*where)))


def upgrade() -> None:
    op.create_table(
        "seller_payments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("api_key_id", sa.String(length=40), nullable=False),
        sa.Column("wallet_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("used_cents", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("protocol", sa.String(length=40), nullable=False),
        sa.Column("payee", sa.String(length=255), nullable=False),
        sa.Column("payee_origin", sa.String(length=300), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("challenge", sa.Text(), nullable=False),
        sa.Column("header", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("made_sealed", sa.Text(), nullable=True),
        sa.Column("spend_buckets", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("failure_reason", sa.String(length=300), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_seller_payments_amount")),
        sa.CheckConstraint(
            "used_cents >= 0 AND used_cents <= amount_cents", name=op.f("ck_seller_payments_used")
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_seller_payments_api_key_id_api_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_seller_payments_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seller_payments")),
    )
    op.create_index("ix_seller_payments_merchant", "seller_payments", ["merchant_id", "env", "id"])
    op.create_table(
        "seller_payment_work",
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_seller_payment_work_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["seller_payments.id"],
            name=op.f("fk_seller_payment_work_payment_id_seller_payments"),
        ),
        sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_seller_payment_work")),
    )
    op.create_index(
        "ix_seller_payment_work_due", "seller_payment_work", ["status", "next_attempt_at"]
    )
    bind = op.get_bind()
    own = (_keys.c.app_id.is_(None), _keys.c.managed_by.is_(None), _keys.c.policy.is_not(None))
    for row in _rows(_keys, own):
        policy = _read(row.policy)
        if policy is not None and unrestricted(policy):
            given = {**policy, "scopes": [*policy["scopes"], SCOPE]}
            bind.execute(sa.update(_keys).where(_keys.c.id == row.id).values(policy=given))


def downgrade() -> None:
    bind = op.get_bind()
    for table in (_keys, _templates):
        for row in _rows(table, (table.c.policy.is_not(None),)):
            policy = _read(row.policy)
            if policy is None:
                continue
            kept = {
                k: v for k, v in policy.items() if k not in ("allowed_payees", "per_payee_limit")
            }
            kept["scopes"] = [s for s in policy.get("scopes") or () if s != SCOPE]
            if kept != policy:
                bind.execute(sa.update(table).where(table.c.id == row.id).values(policy=kept))
    op.drop_index("ix_seller_payment_work_due", table_name="seller_payment_work")
    op.drop_table("seller_payment_work")
    op.drop_index("ix_seller_payments_merchant", table_name="seller_payments")
    op.drop_table("seller_payments")
