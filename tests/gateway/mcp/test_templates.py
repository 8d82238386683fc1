"""A key under a policy template is held to it through MCP as through REST: ``send_topup``
above the template's cap is refused with the code a key's own cap answers, and admitted once
the template loosens."""

from tests.fixtures.core import local_client
from tests.fixtures.mcp import SEND, envelope_of, mcp_http, send_args
from tests.fixtures.merchants import MakeMerchant


async def test_send_topup_is_held_to_the_keys_template(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    cap = SEND["amount_cents"] - 1
    async with local_client(base_url=f"{mcp_root}/api/public/v1", headers=owner.headers) as api:
        made = await api.post(
            "/policy-templates", json={"name": "agents", "policy": {"max_per_send_cents": cap}}
        )
        template = made.json()["data"]["id"]
        key = (await api.post("/keys", json={"policy": {"template": template}})).json()["data"]
        async with mcp_http(mcp_root, key["key"]) as session:
            refused = await envelope_of(session, "send_topup", send_args("tpl-1"))
            assert refused.code == 2305
            assert refused.data["limit_cents"] == cap
            loosened = await api.patch(
                f"/policy-templates/{template}", json={"policy": {"max_per_send_cents": None}}
            )
            assert loosened.status_code == 200, loosened.text
            sent = await envelope_of(session, "send_topup", send_args("tpl-2"))
            assert sent.code == 1001
