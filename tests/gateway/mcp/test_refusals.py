"""Who may do what through MCP: a missing, malformed, unknown, revoked or expired key is refused
with the envelope's code before anything runs; the key's environment decides which wallet moves
(a staging key never moves live money); a key without a tool's scope is refused with 2301,
over HTTP as a 403 with the scope challenge before the tool runs."""

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from gateway.merchants import service as merchants
from gateway.store.engine import Database
from gateway.values.clock import rfc3339, utcnow
from tests.fixtures.core import local_client
from tests.fixtures.mcp import SEND, counts, envelope_of, mcp_http, send_args
from tests.fixtures.merchants import MakeMerchant, merchant_balance
from tests.fixtures.policies import set_policy


def _call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A tools/call as a plain JSON-RPC POST (the stateless door needs no session first)."""
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


async def _post(root: str, authorization: str | None, body: dict[str, Any]) -> httpx.Response:
    headers = {"Accept": "application/json, text/event-stream"}
    if authorization is not None:
        headers["Authorization"] = authorization
    async with local_client() as http:
        return await http.post(f"{root}/mcp", json=body, headers=headers)


async def test_a_send_with_a_good_key_works_as_a_plain_post(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    reply = await _post(
        mcp_root, f"Bearer {merchant.key}", _call("send_topup", send_args("plain-1"))
    )
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    result = reply.json()["result"]
    assert result["isError"] is False
    assert result["structuredContent"]["code"] == 1001
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]


async def test_a_call_beyond_the_keys_scopes_is_a_403_challenge_before_the_tool_runs(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    """MCP's scope challenge, for a key as for a token: HTTP 403 with
    ``WWW-Authenticate: Bearer error="insufficient_scope"``, the scope the tool needs then the
    ones the key holds, and where ``/mcp`` is described; the body answers the call's id with a
    JSON-RPC error whose data is the envelope. Nothing is sent, debited or kept."""
    reader = await make_merchant("live", balance_cents=50_000)
    await set_policy(db, reader.key_id, {"scopes": ["webhooks", "topup:read"]})
    rows = await counts(db, reader.merchant_id)
    reply = await _post(
        mcp_root, f"Bearer {reader.key}", {**_call("send_topup", send_args("s-1")), "id": 7}
    )
    assert reply.status_code == 403, reply.text
    assert reply.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="topup:send topup:read webhooks", '
        f'resource_metadata="{mcp_root}/.well-known/oauth-protected-resource/mcp"'
    )
    answer = reply.json()
    assert (answer["jsonrpc"], answer["id"], answer["error"]["code"]) == ("2.0", 7, -32600)
    envelope = answer["error"]["data"]
    assert (envelope["success"], envelope["code"]) == (False, 2301)
    assert envelope["data"] == {"scope": "topup:send"}
    assert await merchant_balance(db, reader) == 50_000
    assert await counts(db, reader.merchant_id) == rows
    # A tool within the key's scopes, and one with none, are served as ever.
    for name in ("get_balance", "get_key_limits"):
        served = await _post(mcp_root, f"Bearer {reader.key}", _call(name, {}))
        assert served.status_code == 200 and "www-authenticate" not in served.headers, name
        assert served.json()["result"]["isError"] is False, name


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, 2001),
        ("Bearer ak_live_short", 2002),
        ("Basic dXNlcjpwYXNz", 2002),
        ("Bearer ak_live_" + "A" * 32, 2003),
    ],
    ids=["missing", "malformed", "not bearer", "unknown"],
)
async def test_no_key_no_call(
    mcp_root: str,
    db: Database,
    make_merchant: MakeMerchant,
    authorization: str | None,
    code: int,
) -> None:
    live = await make_merchant("live", balance_cents=50_000)
    rows = await counts(db, live.merchant_id)
    reply = await _post(mcp_root, authorization, _call("send_topup", send_args("k-1")))
    assert reply.status_code == 401
    # The challenge points an OAuth client at the resource's metadata (RFC 9728 5.1), and says
    # what it should ask for (RFC 6750 3), less than every scope the metadata lists.
    challenge = reply.headers["www-authenticate"]
    assert challenge.startswith('Bearer resource_metadata="http')
    # An invalid or expired credential is invalid_token (RFC 6750 3.1); none given, no error.
    invalid = ', error="invalid_token"' if authorization is not None else ""
    assert challenge.endswith(
        '/.well-known/oauth-protected-resource/mcp", scope="topup:send topup:read"' + invalid
    )
    envelope = reply.json()
    assert (envelope["success"], envelope["code"]) == (False, code)
    # Not even the tools' list is given away.
    listed = await _post(
        mcp_root, authorization, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    )
    assert listed.status_code == 401
    assert await merchant_balance(db, live) == 50_000
    assert await counts(db, live.merchant_id) == rows


async def test_two_authorization_headers_are_refused(mcp_root: str) -> None:
    async with local_client() as http:
        reply = await http.post(
            f"{mcp_root}/mcp",
            json=_call("get_balance", {}),
            headers=[("Authorization", "Bearer a"), ("Authorization", "Bearer b")],
        )
    assert (reply.status_code, reply.json()["code"]) == (400, 2203)


async def test_a_revoked_or_expired_key_moves_no_live_money(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    live = await make_merchant("live", balance_cents=50_000)
    async with mcp_http(mcp_root, live.key) as session:
        sent = await envelope_of(session, "send_topup", send_args("live-1"))
        assert sent.code == 1001
        assert not sent.data["voucher_code"].startswith("ATU-TEST")
    assert await merchant_balance(db, live) == 49_000

    async with db.transaction() as conn:
        assert await merchants.revoke_key(conn, live.key_id, utcnow())
    reply = await _post(mcp_root, f"Bearer {live.key}", _call("send_topup", send_args("live-2")))
    assert (reply.status_code, reply.json()["code"]) == (401, 2004)

    expiring = await make_merchant("live", merchant_id=live.merchant_id)
    past = rfc3339(utcnow() - timedelta(minutes=1))
    await set_policy(
        db, expiring.key_id, {"scopes": ["topup:send", "topup:read"], "expires_at": past}
    )
    reply = await _post(
        mcp_root, f"Bearer {expiring.key}", _call("send_topup", send_args("live-3"))
    )
    assert (reply.status_code, reply.json()["code"]) == (401, 2302)
    assert await merchant_balance(db, live) == 49_000


async def test_a_staging_key_never_moves_live_money(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    staging = await make_merchant("staging")
    live = await make_merchant("live", balance_cents=50_000, merchant_id=staging.merchant_id)
    staging_before = await merchant_balance(db, staging)
    async with mcp_http(mcp_root, staging.key) as session:
        sent = await envelope_of(session, "send_topup", send_args("env-1", amount_cents=5000))
        assert sent.code == 1001
        assert sent.data["voucher_code"].startswith("ATU-TEST-")
        got = await envelope_of(
            session, "get_topup", {"transaction_id": sent.envelope["transaction_id"]}
        )
        assert got.data["env"] == "staging"
        balance = await envelope_of(session, "get_balance")
        assert (balance.data["env"], balance.data["balance_cents"]) == (
            "staging",
            staging_before - 5000,
        )
    assert await merchant_balance(db, live) == 50_000
    # And the live key does not see the staging top-up.
    async with mcp_http(mcp_root, live.key) as session:
        missing = await envelope_of(
            session, "get_topup", {"transaction_id": sent.envelope["transaction_id"]}
        )
        assert missing.is_error and missing.code == 4002
        listed = await envelope_of(session, "list_topups")
        assert listed.data == []


async def test_a_key_without_the_scope_is_refused_2301(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    reader = await make_merchant("live", balance_cents=50_000)
    await set_policy(db, reader.key_id, {"scopes": ["topup:read"]})
    async with mcp_http(mcp_root, reader.key) as session:
        refused = await envelope_of(session, "send_topup", send_args("scope-1"))
        assert refused.is_error and refused.door_error == -32600
        assert refused.code == 2301
        assert refused.data == {"scope": "topup:send"}
        cancel = await envelope_of(session, "cancel_topup", {"transaction_id": "txn_" + "0" * 24})
        assert cancel.is_error and cancel.code == 2301
        balance = await envelope_of(session, "get_balance")
        assert not balance.is_error and balance.data["balance_cents"] == 50_000
    assert await merchant_balance(db, reader) == 50_000
    assert (await counts(db, reader.merchant_id))["topups"] == 0

    sender = await make_merchant("staging")
    await set_policy(db, sender.key_id, {"scopes": ["topup:send"]})
    async with mcp_http(mcp_root, sender.key) as session:
        for name, arguments in (
            ("get_balance", {}),
            ("list_topups", {}),
            ("get_topup", {"transaction_id": "txn_" + "0" * 24}),
        ):
            refused = await envelope_of(session, name, arguments)
            assert refused.is_error and refused.code == 2301, name
        assert not (
            await envelope_of(session, "send_topup", {**SEND, "idempotency_key": "s"})
        ).is_error
