"""card scope: ``billing:card`` (charge the merchant's saved card) is a key scope of its own; a
key stored with every scope a key held before it and no limit, as an operator's key made
without a policy is stored, holds it too, as a key made before policies (no stored policy) does

A key whose scopes were named holds it only when asked for; a consent never does. Back: the
scope is taken out of every stored policy (keys and templates), which the code before it could
not read.

Revision ID: 0059
Revises: 0058
"""

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0059"
down_revision: str | None = "0058"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CARD = "billing:card"
# Every scope a key could hold before this revision: what an operator's key was stored with.
_BEFORE = frozenset(
    {"topup:send", "topup:read", "webhooks", "billing", "keys", "approvals", "fulfilment"}
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
    bind = op.get_bind()
    own = (_keys.c.app_id.is_(None), _keys.c.managed_by.is_(None), _keys.c.policy.is_not(None))
    for row in _rows(_keys, own):
        policy = _read(row.policy)
        if policy is not None and unrestricted(policy):
            given = {**policy, "scopes": [*policy["scopes"], CARD]}
            bind.execute(sa.update(_keys).where(_keys.c.id == row.id).values(policy=given))


def downgrade() -> None:
    bind = op.get_bind()
    for table in (_keys, _templates):
        for row in _rows(table, (table.c.policy.is_not(None),)):
            policy = _read(row.policy)
            if policy is None or CARD not in (policy.get("scopes") or ()):
                continue
            kept = {**policy, "scopes": [s for s in policy["scopes"] if s != CARD]}
            bind.execute(sa.update(table).where(table.c.id == row.id).values(policy=kept))
