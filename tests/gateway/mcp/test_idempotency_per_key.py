"""An idempotency key belongs to the API key that used it, through MCP as through REST: the
key's authorization is judged before any stored result is read, and no key reads another's
result or plants a refusal under it."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from gateway.merchants import service as merchants
from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, table_of
from gateway.values.clock import rfc3339, utcnow
from tests.fixtures.core import local_client
from tests.fixtures.mcp import counts, envelope_of, mcp_http, send_args
from tests.fixtures.merchants import MakeMerchant, MerchantKey, merchant_balance

_KEYS = table_of(ApiKeyRow)


async def _set_policy(db: Database, key: MerchantKey, policy: dict[str, Any]) -> None:
    async with db.transaction() as conn:
        await conn.execute(update(_KEYS).where(_KEYS.c.id == key.key_id).values(policy=policy))


async def _call_as(root: str, key: MerchantKey, arguments: dict[str, Any]) -> httpx.Response:
    """``send_topup`` as a plain JSON-RPC POST, so a refused key's 401 is seen as sent."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "send_topup", "arguments": arguments},
    }
    headers = {"Accept": "application/json, text/event-stream", **key.headers}
    async with local_client() as http:
        return await http.post(f"{root}/mcp", json=body, headers=headers)


async def test_a_key_without_the_send_scope_gets_its_own_refusal(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    sender = await make_merchant()
    hooks = await make_merchant(merchant_id=sender.merchant_id)
    await _set_policy(db, hooks, {"scopes": ["webhooks"]})
    async with mcp_http(mcp_root, sender.key) as session:
        sent = await envelope_of(session, "send_topup", send_args("mcp-order-1"))
    assert sent.code == 1001
    async with mcp_http(mcp_root, hooks.key) as session:
        other = await envelope_of(session, "send_topup", send_args("mcp-order-1"))
    assert other.is_error and other.code == 2301
    assert other.data == {"scope": "topup:send"}
    assert sent.data["voucher_code"] not in other.text
    assert other.result.meta is None
    assert await merchant_balance(db, sender) == 100_000 - 1000


@pytest.mark.both_stores
@pytest.mark.parametrize(
    ("policy", "code"),
    [({"max_per_send_cents": 500}, 2305), ({"allowed_platforms": ["gemini"]}, 2307)],
    ids=["over its cap", "platform not allowed"],
)
async def test_another_keys_refusal_does_not_block_a_send(
    mcp_root: str, db: Database, make_merchant: MakeMerchant, policy: dict[str, Any], code: int
) -> None:
    sender = await make_merchant()
    capped = await make_merchant(merchant_id=sender.merchant_id)
    await _set_policy(db, capped, {"scopes": ["topup:send"], **policy})
    async with mcp_http(mcp_root, capped.key) as session:
        refused = await envelope_of(session, "send_topup", send_args("mcp-shared"))
    assert refused.is_error and refused.code == code
    async with mcp_http(mcp_root, sender.key) as session:
        sent = await envelope_of(session, "send_topup", send_args("mcp-shared"))
        assert (sent.is_error, sent.code) == (False, 1001)
        assert sent.result.meta is None
        racing = await asyncio.gather(
            *(envelope_of(session, "send_topup", send_args("mcp-shared")) for _ in range(6))
        )
    assert {r.text for r in racing} == {sent.text}
    assert all(r.result.meta == {"idempotent_replayed": True} for r in racing)
    assert await merchant_balance(db, sender) == 100_000 - 1000
    assert (await counts(db, sender.merchant_id))["topups"] == 1


async def test_a_key_that_lost_the_scope_or_was_revoked_or_expired_cannot_replay(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    first = await make_merchant()
    async with mcp_http(mcp_root, first.key) as session:
        sent = await envelope_of(session, "send_topup", send_args("mcp-nightly"))
    assert sent.code == 1001
    voucher = sent.data["voucher_code"]
    await _set_policy(db, first, {"scopes": ["topup:read"]})
    async with mcp_http(mcp_root, first.key) as session:
        unscoped = await envelope_of(session, "send_topup", send_args("mcp-nightly"))
    assert unscoped.is_error and unscoped.code == 2301
    assert voucher not in unscoped.text
    async with db.transaction() as conn:
        assert await merchants.revoke_key(conn, first.key_id, utcnow())
    revoked = await _call_as(mcp_root, first, send_args("mcp-nightly"))
    assert (revoked.status_code, revoked.json()["code"]) == (401, 2004)

    # The next key's send under the same idempotency key is its own, and moves money once.
    successor = await make_merchant(merchant_id=first.merchant_id)
    async with mcp_http(mcp_root, successor.key) as session:
        own = await envelope_of(session, "send_topup", send_args("mcp-nightly"))
    assert own.code == 1001 and own.result.meta is None
    assert own.envelope["transaction_id"] != sent.envelope["transaction_id"]
    past = rfc3339(utcnow() - timedelta(minutes=1))
    await _set_policy(db, successor, {"scopes": ["topup:send"], "expires_at": past})
    expired = await _call_as(mcp_root, successor, send_args("mcp-nightly"))
    assert (expired.status_code, expired.json()["code"]) == (401, 2302)
    for reply in (revoked.text, expired.text):
        assert voucher not in reply and own.data["voucher_code"] not in reply
    assert await merchant_balance(db, first) == 100_000 - 2 * 1000
