"""One balance, whatever the door: REST, MCP and the sandbox's fund answer the same figures
for the same key at the same moment, the amount held by a pending top-up included."""

import httpx

from tests.fixtures.mcp import envelope_of, mcp_http
from tests.fixtures.merchants import MakeMerchant


async def test_every_door_reads_the_same_balance_and_held_amount(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    async with (
        mcp_http(mcp_root, merchant.key) as session,
        httpx.AsyncClient(base_url=f"{mcp_root}/api/public/v1", headers=merchant.headers) as rest,
    ):
        held = await rest.post(
            "/topup/send",
            json={"platform": "claude", "amount_cents": 1500, "recipient_email": "a+pending@x.io"},
        )
        assert held.json()["status"] == "pending"
        rest_balance = (await rest.get("/balance")).json()["data"]
        mcp_balance = (await envelope_of(session, "get_balance")).data
        funded = (await rest.post("/sandbox/fund", json={"amount_cents": 0 + 1})).json()["data"]
    assert rest_balance["balance_cents"] == 8_500
    assert rest_balance["held_cents"] == 1500
    assert mcp_balance == rest_balance
    assert funded == {**rest_balance, "balance_cents": 8_501}
