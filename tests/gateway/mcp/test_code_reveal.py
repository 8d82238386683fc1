"""The MCP tools that return top-ups (``get_topup``, ``list_topups``) show an upstream's code by
the one rule (``Policy.reveals_voucher``): a key made without a policy (stored as the operator's
and ``make run``'s are) reveals, one made with a policy only if it says so."""

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.merchants import service as merchants
from gateway.policies.model import UNRESTRICTED, Policy
from gateway.store.engine import Database
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures.core import TEST_PEPPER, live_server
from tests.fixtures.mcp import envelope_of, mcp_http
from tests.fixtures.upstreams import MakeUpstreamMerchant, NewApiStandIn, send_body


@pytest.fixture
async def fulfil_root(fulfil_settings: Settings) -> AsyncIterator[str]:
    async with live_server(fulfil_settings) as root:
        yield root


async def test_the_topup_tools_show_the_code_by_the_keys_policy(
    fulfil_root: str,
    fulfil_client: httpx.AsyncClient,
    newapi_merchant: MakeUpstreamMerchant,
    newapi_standin: tuple[NewApiStandIn, str],
    db: Database,
) -> None:
    newapi, _ = newapi_standin
    merchant = await newapi_merchant()
    sent = await fulfil_client.post("/topup/send", json=send_body(300), headers=merchant.headers)
    assert sent.json()["code"] == 1001, sent.text
    txn = sent.json()["transaction_id"]
    [made] = newapi.redemptions
    cases = [
        (UNRESTRICTED, True),  # the operator's, ``make run``'s
        (Policy(scopes=("topup:read",)), False),
        (Policy(scopes=("topup:read",), reveal_voucher=True), True),
    ]
    for policy, reveals in cases:
        async with db.transaction() as conn:
            _, key = await merchants.create_key(
                conn, merchant.merchant_id, "staging", TEST_PEPPER.encode(), utcnow(), policy=policy
            )
        async with mcp_http(fulfil_root, key.raw) as session:
            one = await envelope_of(session, "get_topup", {"transaction_id": txn})
            listed = await envelope_of(session, "list_topups", {"limit": 10})
        assert (one.data["voucher_code"] == made["key"]) is reveals, policy
        [row] = [t for t in listed.data if t["id"] == txn]
        assert (row["voucher_code"] == made["key"]) is reveals, policy
        assert (made["key"] in one.text + listed.text) is reveals, policy
