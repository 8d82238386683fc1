"""Migration 0061: payments to sellers and their work, as the models describe them; an
operator's key, stored with every scope a key held before ``payments:send`` and no limit, holds
it after, a key whose scopes were named or that has a limit does not; and back, the tables gone
and the scope and the payee fields out of every stored policy."""

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
from tests.fixtures.migrations import (
    database_at,
    insert_old_merchant,
    table_names,
    up_down_up,
    url_of,
)

TABLES = {"seller_payments", "seller_payment_work"}
BEFORE = [
    "topup:send",
    "topup:read",
    "webhooks",
    "billing",
    "keys",
    "approvals",
    "fulfilment",
    "billing:card",
]
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


async def test_0061_adds_the_tables_as_the_models_say_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0060", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0060", "0061", TABLES, table_names)
    assert not TABLES & before
    assert after >= TABLES


async def _policies(db: Any) -> dict[str, dict[str, Any] | None]:
    async with db.read() as conn:
        rows = (
            await conn.execute(text("SELECT id, policy FROM api_keys WHERE id LIKE 'key_%'"))
        ).all()
    return {
        row.id: json.loads(row.policy) if isinstance(row.policy, str) else row.policy
        for row in rows
    }


async def test_0061_gives_operators_keys_the_scope_and_takes_it_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0060", database_url, tmp_path, request) as db:
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
        await asyncio.to_thread(upgrade, url_of(db), "0061")
        after = await _policies(db)
        assert after["key_operator"] is not None
        assert after["key_operator"]["scopes"] == [*BEFORE, "payments:send"]
        assert after["key_named"] == KEYS["key_named"]
        assert after["key_limited"] == KEYS["key_limited"]
        assert after["key_legacy"] is None
        assert "payments:send" in load(None).scopes
        # A policy written since holds the payee fields, which the code before cannot read.
        narrowed = {**OPERATORS, "scopes": ["payments:send"], "allowed_payees": ["acct_x"]}
        async with db.transaction() as conn:
            await conn.execute(
                text("UPDATE api_keys SET policy = :p WHERE id = 'key_named'"),
                {"p": json.dumps({**narrowed, "per_payee_limit": None})},
            )
        await asyncio.to_thread(command.downgrade, alembic_config(url_of(db)), "0060")
        back = await _policies(db)
    assert back["key_operator"] == OPERATORS
    assert back["key_named"] == {**OPERATORS, "scopes": []}
    assert back["key_limited"] == KEYS["key_limited"]
