"""Migration 0059: an operator's key, stored with every scope a key held before ``billing:card``
and no limit, holds it after; a key whose scopes were named, or that has a limit, does not; a
key with no stored policy reads every key scope anyway; and back, the scope leaves every stored
policy."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from gateway.policies.model import load
from gateway.store.migrate import alembic_config, upgrade
from gateway.values.clock import utcnow
from tests.fixtures.migrations import database_at, insert_old_merchant, url_of

BEFORE = ["topup:send", "topup:read", "webhooks", "billing", "keys", "approvals", "fulfilment"]
OPERATORS = {
    "scopes": BEFORE,
    "max_per_send_cents": None,
    "limits": [],
    "per_recipient_limit": None,
    "allowed_platforms": None,
    "allowed_recipients": None,
    "approval_above_cents": None,
    "approval_for_new_recipients": False,
    "expires_at": None,
    "rate_limit_per_minute": None,
    "soft_limit_percent": None,
    "template": None,
    "budgets": [],
    "reveal_voucher": True,
}
KEYS: dict[str, dict[str, Any] | None] = {
    "key_operator": OPERATORS,
    "key_named": {**OPERATORS, "scopes": ["billing", "topup:read"], "reveal_voucher": False},
    "key_limited": {**OPERATORS, "limits": [{"amount_cents": 500, "interval": "daily"}]},
    "key_legacy": None,
}


async def _scopes(db: Any) -> dict[str, list[str] | None]:
    async with db.read() as conn:
        rows = (
            await conn.execute(text("SELECT id, policy FROM api_keys WHERE id LIKE 'key_%'"))
        ).all()
    found: dict[str, list[str] | None] = {}
    for row in rows:
        policy = json.loads(row.policy) if isinstance(row.policy, str) else row.policy
        found[row.id] = None if policy is None else list(policy["scopes"])
    return found


async def test_0059_gives_operators_keys_the_card_scope_and_takes_it_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0058", database_url, tmp_path, request) as db:
        async with db.transaction() as conn:
            await insert_old_merchant(conn)
            for n, (key_id, policy) in enumerate(KEYS.items()):
                await conn.execute(
                    text(
                        "INSERT INTO api_keys (id, merchant_id, env, key_hash, display_prefix, "
                        "created_at, policy) VALUES (:id, 'mer_old', 'live', :h, 'ak_live_x', "
                        ":now, :policy)"
                    ),
                    {
                        "id": key_id,
                        "h": f"{n}" * 64,
                        "now": utcnow(),
                        "policy": None if policy is None else json.dumps(policy),
                    },
                )
        await asyncio.to_thread(upgrade, url_of(db), "0059")
        after = await _scopes(db)
        assert after["key_operator"] == [*BEFORE, "billing:card"]
        assert after["key_named"] == ["billing", "topup:read"]
        assert after["key_limited"] == BEFORE
        assert after["key_legacy"] is None
        assert "billing:card" in load(None).scopes
        config = alembic_config(url_of(db))
        await asyncio.to_thread(command.downgrade, config, "0058")
        back = await _scopes(db)
    assert back["key_operator"] == BEFORE
    assert back == {k: None if p is None else p["scopes"] for k, p in KEYS.items()}
