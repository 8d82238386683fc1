"""An agent refused for balance learns the shortfall and where to fund it; it opens a checkout
through MCP, a person pays the link (the staging sandbox), and the send then goes through."""

from gateway.mcp.tools import by_name
from gateway.values.settings import Settings
from tests.fixtures.core import local_client
from tests.fixtures.mcp import envelope_of, mcp_http, send_args
from tests.fixtures.merchants import MakeMerchant

OK = "https://agent.example/paid"
NO = "https://agent.example/cancelled"


async def test_a_refused_send_says_the_shortfall_and_the_checkout_tool_funds_it(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging", balance_cents=300)
    async with mcp_http(mcp_root, merchant.key) as session:
        refused = await envelope_of(session, "send_topup", send_args("k-1", amount_cents=1000))
        assert (refused.is_error, refused.code) == (True, 4001)
        short = refused.data
        assert (short["balance_cents"], short["required_cents"], short["shortfall_cents"]) == (
            300,
            1000,
            700,
        )
        assert short["fund"]["wallet_url"].endswith("/dashboard/wallet")
        # The packs whose credit covers the 700 missing, cheapest first: not Starter's 500.
        assert [p["id"] for p in short["fund"]["packs"]] == ["pack_pro", "pack_business"]
        again = await envelope_of(session, "send_topup", send_args("k-1", amount_cents=1000))
        assert again.envelope["data"] == short  # the replay of the refusal says the same

        info = await envelope_of(session, "get_topup_info")
        assert (info.code, info.data["providers"]) == (1000, ["sandbox"])
        made = await envelope_of(
            session,
            "create_checkout",
            {"amount_cents": short["shortfall_cents"], "success_url": OK, "cancel_url": NO},
        )
        assert (made.is_error, made.code, made.envelope["status"]) == (False, 1004, "pending")
        link = made.data["checkout_url"]

        # The human pays the link on the sandbox's page.
        async with local_client(base_url=mcp_root) as browser:
            page = await browser.get(link)
            assert page.status_code == 200
            paid = await browser.post(
                link.replace("?token=", "/pay?token="), headers={"Accept": "application/json"}
            )
            assert paid.status_code == 200, paid.text

        balance = await envelope_of(session, "get_balance")
        assert balance.data["balance_cents"] == 1000
        sent = await envelope_of(session, "send_topup", send_args("k-2", amount_cents=1000))
        assert (sent.is_error, sent.code) == (False, 1001)


async def test_the_funding_tools_need_the_billing_scope(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    spec = by_name("create_checkout")
    assert spec is not None and spec.scope == "billing"
    async with local_client(base_url=f"{mcp_root}/api/public/v1", headers=merchant.headers) as http:
        made = await http.post(
            "/keys", json={"name": "no billing", "policy": {"scopes": ["topup:send"]}}
        )
        assert made.status_code == 201, made.text
        narrow = made.json()["data"]["key"]
    async with mcp_http(mcp_root, narrow) as session:
        for name, args in (
            ("get_topup_info", {}),
            ("create_checkout", {"amount_cents": 1000, "success_url": OK, "cancel_url": NO}),
        ):
            refused = await envelope_of(session, name, args)
            assert (refused.is_error, refused.code) == (True, 2301), name
        bad = await envelope_of(
            session, "create_checkout", {"amount_cents": "x", "success_url": OK}
        )
        assert bad.is_error


async def test_the_checkout_tool_counts_in_the_merchants_payment_calls(
    mcp_root: str, make_merchant: MakeMerchant, hook_settings: Settings
) -> None:
    """The API's limit on calls that reach the payment provider, in the same bucket."""
    merchant = await make_merchant("staging")
    args = {"amount_cents": 1000, "success_url": OK, "cancel_url": NO}
    async with (
        mcp_http(mcp_root, merchant.key) as session,
        local_client(base_url=f"{mcp_root}/api/public/v1") as http,
    ):
        for _ in range(hook_settings.payment_calls_per_minute - 1):
            made = await envelope_of(session, "create_checkout", args)
            assert made.code == 1004, made.envelope
        api = await http.post("/billing/checkout", json=args, headers=merchant.headers)
        assert api.status_code == 201, api.text
        refused = await envelope_of(session, "create_checkout", args)
        assert (refused.is_error, refused.code) == (True, 2208)
