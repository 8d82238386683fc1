"""The ``freeze_environment`` tool: the same operation as ``POST /freeze``; once it has run,
the session's own key is refused with the rest of the environment, and no tool undoes it."""

import pytest
from mcp.shared.exceptions import MCPError

from gateway.freezes.schemas import FreezeData
from gateway.store.engine import Database
from tests.fixtures.core import local_client
from tests.fixtures.mcp import envelope_of, mcp_http, send_args
from tests.fixtures.merchants import MakeMerchant, merchant_balance
from tests.fixtures.policies import set_policy


async def test_the_freeze_tool_stops_the_environment_until_a_person_unfreezes_it(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging", balance_cents=10_000)
    async with mcp_http(mcp_root, merchant.key) as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
        tool = listed["freeze_environment"]
        assert tool.annotations is not None and tool.annotations.destructive_hint is True
        bad = await envelope_of(session, "freeze_environment", {"held": "never"})
        assert (bad.is_error, bad.code) == (True, 3001)
        done = await envelope_of(session, "freeze_environment", {"held": "cancel"})
        assert (done.is_error, done.code) == (False, 1000), done.text
        FreezeData.model_validate(done.data)
        assert done.data["frozen"] is True
    balance = await merchant_balance(db, merchant)
    async with local_client(base_url=f"{mcp_root}/api/public/v1", headers=merchant.headers) as http:
        send = {"platform": "claude", "amount_cents": 100, "recipient_email": "a@example.com"}
        assert (await http.post("/topup/send", json=send)).json()["code"] == 2360
        assert (await http.delete("/freeze")).json()["data"]["frozen"] is False
        assert (await http.post("/topup/send", json=send)).json()["code"] == 1001
    assert await merchant_balance(db, merchant) == balance - 100


async def test_the_freeze_tool_needs_the_keys_scope(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    await set_policy(db, merchant.key_id, {"scopes": ["topup:send", "topup:read"]})
    async with mcp_http(mcp_root, merchant.key) as session:
        refused = await envelope_of(session, "freeze_environment", {})
        assert (refused.is_error, refused.code) == (True, 2301)


async def test_an_agent_that_froze_through_mcp_cannot_undo_it(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    """An agent's key with ``keys`` and a daily limit pulls the switch through the tool; no tool
    lifts it, and the same key at ``DELETE /freeze`` is refused (2420), still frozen."""
    merchant = await make_merchant("staging", balance_cents=10_000)
    owner = await make_merchant("staging", merchant_id=merchant.merchant_id)
    daily = [{"amount_cents": 100, "interval": "daily"}]
    await set_policy(
        db, merchant.key_id, {"scopes": ["topup:send", "topup:read", "keys"], "limits": daily}
    )
    async with mcp_http(mcp_root, merchant.key) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert not {n for n in names if "unfreeze" in n or "thaw" in n}
        done = await envelope_of(session, "freeze_environment", {})
        assert (done.is_error, done.code) == (False, 1000), done.text
    async with local_client(base_url=f"{mcp_root}/api/public/v1", headers=merchant.headers) as http:
        refused = await http.delete("/freeze")
        assert refused.status_code == 403 and refused.json()["code"] == 2420
        assert (await http.get("/freeze")).json()["data"]["frozen"] is True
    async with local_client(base_url=f"{mcp_root}/api/public/v1", headers=owner.headers) as http:
        assert (await http.delete("/freeze")).json()["data"]["frozen"] is False


async def test_a_send_through_mcp_is_refused_while_frozen(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    """``send_topup`` on a session opened before the freeze: the call is refused at the door,
    nothing debited; the refusal is the request's JSON-RPC error (HTTP 200) with the envelope
    (2360) in its ``data``, which the SDK's client reads as the tool call's error, not as a
    failed exchange without a reason."""
    merchant = await make_merchant("staging", balance_cents=10_000)
    call = {
        "jsonrpc": "2.0",
        "id": "c1",
        "method": "tools/call",
        "params": {"name": "send_topup", "arguments": send_args("frozen-1")},
    }
    headers = {**merchant.headers, "Accept": "application/json, text/event-stream"}
    async with mcp_http(mcp_root, merchant.key) as session:
        await session.list_tools()
        done = await envelope_of(session, "freeze_environment", {})
        assert done.data["frozen"] is True
        with pytest.raises(MCPError) as told:
            await session.call_tool("send_topup", send_args("frozen-2"))
        async with local_client() as http:
            refused = await http.post(f"{mcp_root}/mcp", json=call, headers=headers)
    assert told.value.error.data["code"] == 2360, told.value.error
    assert refused.status_code == 200, refused.text
    error = refused.json()
    assert (error["id"], error["error"]["data"]["code"]) == ("c1", 2360), refused.text
    assert await merchant_balance(db, merchant) == 10_000
