"""MCP's ``get_balance`` carries the merchant's subscription, as the REST balance does."""

import httpx

from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures.billing import make_staging_plan
from tests.fixtures.core import local_client
from tests.fixtures.mcp import envelope_of, mcp_http
from tests.fixtures.merchants import MakeMerchant


async def test_get_balance_shows_the_subscription(
    mcp_root: str, make_merchant: MakeMerchant, db: Database, settings: Settings
) -> None:
    plan = await make_staging_plan(
        db, settings, name="MCP Plan", price_monthly=500, price_yearly=5000, credits_included=250
    )
    merchant = await make_merchant()
    async with (
        mcp_http(mcp_root, merchant.key) as session,
        local_client(base_url=f"{mcp_root}/api/public/v1", headers=merchant.headers) as rest,
    ):
        before = (await envelope_of(session, "get_balance")).data
        assert before["subscription"] is None
        made = await rest.post(
            "/payment/create-session",
            json={"channel": "sandbox", "type": "subscription", "plan_id": plan.id},
        )
        url = httpx.URL(made.json()["data"]["url"])
        paid = await rest.post(
            url.path.removeprefix("/api/public/v1") + "/pay",
            params=url.params,
            headers={"Accept": "application/json"},
        )
        assert paid.status_code == 200, paid.text
        rest_balance = (await rest.get("/balance")).json()["data"]
        mcp_balance = (await envelope_of(session, "get_balance")).data
    assert mcp_balance == rest_balance
    shown = mcp_balance["subscription"]
    assert (shown["plan"]["id"], shown["status"], shown["interval"]) == (plan.id, "active", "month")
    assert shown["cancel_at_period_end"] is False and shown["current_period_end"]
    assert mcp_balance["balance_cents"] == before["balance_cents"] + 250
