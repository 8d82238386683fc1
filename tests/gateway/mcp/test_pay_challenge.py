"""MCP's ``pay_challenge``: the same operation as ``POST /payments``, its input the route's body
with the idempotency key, its result the envelope (a held payment's too, until decided);
``get_key_limits`` shows the payee fields."""

from typing import Any

import httpx
from jsonschema import validate  # type: ignore[import-untyped]

from gateway.mcp.tools import by_name
from gateway.store.engine import Database
from tests.fixtures.held_payments import HOLDING
from tests.fixtures.mcp import envelope_of, mcp_http
from tests.fixtures.merchants import MakeMerchant, merchant_balance
from tests.fixtures.policies import set_policy
from tests.fixtures.seller_payments import SELLER, payment_rows
from tests.fixtures.tally_payer import HEADER, TallyPayer, challenge


def _args(key: str, **changes: Any) -> dict[str, Any]:
    return {"url": SELLER, "challenge": challenge(), "idempotency_key": key, **changes}


async def test_a_tool_pays_a_challenge_once_per_key(
    mcp_root: str, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    async with mcp_http(mcp_root, merchant.key) as session:
        [tool] = [t for t in (await session.list_tools()).tools if t.name == "pay_challenge"]
        assert tool.annotations is not None and tool.annotations.idempotent_hint
        assert set(tool.input_schema["required"]) == {"url", "challenge", "idempotency_key"}
        paid = await envelope_of(session, "pay_challenge", _args("m-1"))
        assert (paid.code, paid.envelope["status"]) == (1170, "authorized"), paid.envelope
        assert paid.data["header"] == HEADER
        assert paid.data["value"] == tally.made[paid.data["id"]].value
        validate(paid.envelope, tool.output_schema)
        again = await envelope_of(session, "pay_challenge", _args("m-1"))
        assert again.envelope == paid.envelope
        assert again.result.meta == {"idempotent_replayed": True}
        refused = await envelope_of(session, "pay_challenge", _args("m-2", challenge="Other"))
        assert refused.is_error and refused.code == 4504
        missing = await envelope_of(session, "pay_challenge", {"url": SELLER, "challenge": "x"})
        assert missing.is_error and missing.code == 4006
    assert len(await payment_rows(db, merchant.merchant_id)) == 1
    assert await merchant_balance(db, merchant) == 975


async def test_a_key_without_the_scope_is_refused_and_its_limits_show_its_payees(
    mcp_root: str, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    policy = {
        "scopes": ["topup:read"],
        "allowed_payees": ["https://seller.example"],
        "per_payee_limit": {"amount_cents": 300, "interval": "weekly"},
    }
    await set_policy(db, merchant.key_id, policy)
    spec = by_name("pay_challenge")
    assert spec is not None and spec.scope == "payments:send"
    async with mcp_http(mcp_root, merchant.key) as session:
        refused = await envelope_of(session, "pay_challenge", _args("s-1"))
        assert refused.is_error and refused.code == 2301
        assert refused.data == {"scope": "payments:send"}
        limits = await envelope_of(session, "get_key_limits")
    shown = limits.data["policy"]
    assert shown["allowed_payees"] == ["https://seller.example"]
    assert shown["per_payee_limit"] == {"amount_cents": 300, "interval": "weekly"}
    assert tally.makes == []
    assert await payment_rows(db, merchant.merchant_id) == []


async def test_a_held_payment_answers_pending_approval_then_its_credential_once_approved(
    mcp_root: str,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    tally: TallyPayer,
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    await set_policy(db, merchant.key_id, HOLDING)
    approver = await make_merchant(merchant_id=merchant.merchant_id)
    async with mcp_http(mcp_root, merchant.key) as session:
        [tool] = [t for t in (await session.list_tools()).tools if t.name == "pay_challenge"]
        held = await envelope_of(session, "pay_challenge", _args("h-1"))
        assert (held.code, held.envelope["status"]) == (1173, "pending_approval"), held.envelope
        assert not held.is_error and "value" not in held.data
        validate(held.envelope, tool.output_schema)
        payment_id = held.data["id"]
        assert tally.makes == []
        approved = await client.post(f"/payments/{payment_id}/approve", headers=approver.headers)
        assert approved.status_code == 200, approved.text
        made = await envelope_of(session, "pay_challenge", _args("h-1"))
        assert made.code == 1170 and made.data["value"] == tally.made[payment_id].value
    assert await merchant_balance(db, merchant) == 975


async def test_the_limits_show_what_is_left_for_each_payee_paid(
    mcp_root: str,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    tally: TallyPayer,
) -> None:
    """``GET /keys/self`` and ``get_key_limits`` alike: each seller paid in the current window
    of ``per_payee_limit``, with what is left for it; a seller not paid is not listed."""
    merchant = await make_merchant(balance_cents=1_000)
    policy = {
        "scopes": ["payments:send", "topup:read"],
        "per_payee_limit": {"amount_cents": 300, "interval": "weekly"},
    }
    await set_policy(db, merchant.key_id, policy)
    other = "https://other_seller.example/data"
    paying = (("p-1", SELLER, 25, "acct_seller"), ("p-2", other, 40, "acct_seller"))
    async with mcp_http(mcp_root, merchant.key) as session:
        before = await envelope_of(session, "get_key_limits")
        assert before.data["payees"] == []
        for key, url, amount, payee in (*paying, ("p-3", other, 7, "acct_other")):
            said = challenge(amount, payee=payee)
            paid = await envelope_of(session, "pay_challenge", _args(key, url=url, challenge=said))
            assert paid.envelope["status"] == "authorized", paid.envelope
        limits = await envelope_of(session, "get_key_limits")
    shown = (await client.get("/keys/self", headers=merchant.headers)).json()["data"]
    assert shown["payees"] == limits.data["payees"]
    left = {p["payee"]: (p["spent_cents"], p["remaining_cents"]) for p in shown["payees"]}
    # Counted by where the money went, whatever url named it.
    assert left == {"tally:acct_seller": (65, 235), "tally:acct_other": (7, 293)}
    assert {(p["interval"], p["limit_cents"]) for p in shown["payees"]} == {("weekly", 300)}
    assert all(p["resets_at"] is not None for p in shown["payees"])
