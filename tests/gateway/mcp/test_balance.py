"""One balance, whatever the door: REST, MCP, the sandbox's fund and the dashboard answer the
same figures for the same key's wallet at the same moment, the amount held by a pending top-up
included."""

import re

from gateway.accounts import users
from gateway.store.engine import Database
from tests.fixtures.core import local_client
from tests.fixtures.dashboard import PASSWORD, sign_in_on
from tests.fixtures.mcp import envelope_of, mcp_http
from tests.fixtures.merchants import MakeMerchant


def _figure(html: str, name: str) -> int:
    found = re.search(rf'id="balance-{name}" data-cents="(-?\d+)"', html)
    assert found is not None, html
    return int(found.group(1))


async def test_every_door_reads_the_same_balance_and_held_amount(
    mcp_root: str, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    invited = await users.invite(
        db, merchant_id=merchant.merchant_id, email=f"{merchant.merchant_id}@example.com"
    )
    assert invited.token is not None
    await users.set_password(db, invited.token, PASSWORD)
    async with (
        mcp_http(mcp_root, merchant.key) as session,
        local_client(base_url=f"{mcp_root}/api/public/v1", headers=merchant.headers) as rest,
        local_client(base_url=f"{mcp_root}/dashboard") as dashboard,
    ):
        await sign_in_on(dashboard, invited.email, PASSWORD)
        held = await rest.post(
            "/topup/send",
            json={"platform": "claude", "amount_cents": 1500, "recipient_email": "a+pending@x.io"},
        )
        assert held.json()["status"] == "pending"
        rest_balance = (await rest.get("/balance")).json()["data"]
        mcp_balance = (await envelope_of(session, "get_balance")).data
        overview = (await dashboard.get("/")).text
        funded = (await rest.post("/sandbox/fund", json={"amount_cents": 0 + 1})).json()["data"]
    assert rest_balance["balance_cents"] == 8_500
    assert rest_balance["held_cents"] == 1500
    assert mcp_balance == rest_balance
    assert (_figure(overview, "available"), _figure(overview, "held")) == (8_500, 1500)
    assert funded == {**rest_balance, "balance_cents": 8_501, "balance": 85.01}
