"""The ``checkin`` tool: the same operation as ``POST /checkin``, its envelope as the result;
once a day by the staging clock; scope billing; no arguments."""

from gateway.billing.checkin.daily import DEFAULTS
from gateway.billing.checkin.schemas import CheckInData
from gateway.mcp.tools import by_name
from gateway.store.engine import Database
from tests.fixtures.core import local_client
from tests.fixtures.mcp import envelope_of, mcp_http
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced, merchant_balance


async def test_the_checkin_tool_credits_once_a_day_as_rest_does(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    before = await merchant_balance(db, merchant)
    async with mcp_http(mcp_root, merchant.key) as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
        tool = listed["checkin"]
        assert tool.output_schema is not None
        assert tool.output_schema["properties"]["data"]["$ref"].endswith("CheckInData")
        assert tool.annotations is not None and tool.annotations.idempotent_hint is True

        done = await envelope_of(session, "checkin")
        assert (done.is_error, done.code) == (False, 1130), done.text
        CheckInData.model_validate(done.data)
        amount = done.data["amount_cents"]
        bounds = DEFAULTS["staging"]
        assert bounds.min_cents <= amount <= bounds.max_cents
        assert done.data["balance_cents"] == before + amount
        assert done.envelope["transaction_id"].startswith("chk_")

        again = await envelope_of(session, "checkin")
        assert (again.is_error, again.code) == (True, 4300)
        assert again.data["next_checkin_at"] == done.data["next_checkin_at"]

        # REST says the same of the same day; the staging clock opens the next one for both.
        async with local_client(
            base_url=f"{mcp_root}/api/public/v1", headers=merchant.headers
        ) as http:
            rest = await http.post("/checkin")
            assert rest.json()["code"] == 4300
            moved = await http.post("/sandbox/clock/advance", json={"seconds": 86_400})
            assert moved.status_code == 200, moved.text
        next_day = await envelope_of(session, "checkin")
        assert (next_day.is_error, next_day.code) == (False, 1130), next_day.text
        assert next_day.data["checked_in_on"] > done.data["checked_in_on"]

        bad = await envelope_of(session, "checkin", {"day": "tomorrow"})
        assert (bad.is_error, bad.code) == (True, 3001)
    total = done.data["amount_cents"] + next_day.data["amount_cents"]
    assert await merchant_balance(db, merchant) == before + total
    await assert_ledger_balanced(db)


async def test_the_checkin_tool_needs_the_billing_scope(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    spec = by_name("checkin")
    assert spec is not None and spec.scope == "billing"
    merchant = await make_merchant("staging")
    before = await merchant_balance(db, merchant)
    async with local_client(base_url=f"{mcp_root}/api/public/v1", headers=merchant.headers) as http:
        made = await http.post(
            "/keys", json={"name": "sender", "policy": {"scopes": ["topup:send"]}}
        )
        assert made.status_code == 201, made.text
        narrow = made.json()["data"]["key"]
    async with mcp_http(mcp_root, narrow) as session:
        refused = await envelope_of(session, "checkin")
        assert (refused.is_error, refused.code) == (True, 2301)
    assert await merchant_balance(db, merchant) == before


async def test_the_checkin_tool_is_off_on_live_by_default(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live", balance_cents=0)
    async with mcp_http(mcp_root, merchant.key) as session:
        refused = await envelope_of(session, "checkin")
        assert (refused.is_error, refused.code) == (True, 4301)
    assert await merchant_balance(db, merchant) == 0
