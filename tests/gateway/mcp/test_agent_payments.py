"""An agent pays a refused ``send_topup`` itself over MCP, as MPP's MCP binding says: the MCP
SDK's own client gets the JSON-RPC error -32042 with the challenge, pays it with the ``mpp``
package's MCP types and Stripe method (its token minted by the staging sandbox), and the call
made again with the credential in ``_meta`` is delivered, its receipt in the result's ``_meta``."""

from pathlib import Path
from typing import Any, cast

import pytest
from mcp import MCPError, types
from mpp.extensions.mcp.constants import CODE_PAYMENT_REQUIRED, META_CREDENTIAL
from mpp.extensions.mcp.types import MCPChallenge, MCPCredential, MCPReceipt
from mpp.methods.stripe.client import OnChallengeParameters, StripeMethod

from gateway.values.settings import Settings
from tests.fixtures.core import local_client
from tests.fixtures.mcp import McpCall, mcp_http, mcp_stdio, send_args
from tests.fixtures.merchants import MakeMerchant, MerchantKey

PROBLEMS = "https://paymentauth.org/problems/"


def _meta(found: dict[str, Any]) -> types.RequestParamsMeta:
    """The binding's keys in ``_meta``: the SDK's type names only its own, and keeps the rest."""
    return cast(types.RequestParamsMeta, found)


def _paying(root: str, merchant: MerchantKey) -> StripeMethod:
    async def create_token(params: OnChallengeParameters) -> str:
        async with local_client() as http:
            minted = await http.post(
                f"{root}/api/public/v1/billing/sandbox/shared-payment-tokens",
                json={"amount_cents": int(params.amount), "currency": params.currency},
                headers=merchant.headers,
            )
        token: str = minted.json()["data"]["id"]
        return token

    return StripeMethod(create_token=create_token, payment_method="pm_card_visa")


async def test_an_agent_pays_the_refused_send_over_mcp_and_it_is_delivered(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    arguments = send_args("mcp-pay-1", amount_cents=650)
    async with mcp_http(mcp_root, merchant.key) as session:
        with pytest.raises(MCPError) as refused:
            await session.call_tool("send_topup", arguments)
        assert refused.value.code == CODE_PAYMENT_REQUIRED
        data: dict[str, Any] = refused.value.data
        assert data["httpStatus"] == 402
        assert data["problem"]["type"] == PROBLEMS + "payment-required"
        assert data["envelope"]["code"] == 4001
        [offered] = [MCPChallenge.from_dict(c) for c in data["challenges"]]
        assert (offered.method, offered.intent, offered.request["amount"]) == (
            "stripe",
            "charge",
            "700",
        )
        core = await _paying(mcp_root, merchant).create_credential(offered.to_core())
        meta = _meta(MCPCredential.from_core(core, offered).to_meta())
        paid = McpCall(await session.call_tool("send_topup", arguments, meta=meta))
        assert (paid.is_error, paid.code) == (False, 1001), paid.envelope
        assert paid.data["payment"]["amount_cents"] == 700
        assert paid.result.meta is not None
        receipt = MCPReceipt.from_meta(paid.result.meta)
        assert receipt is not None
        assert (receipt.status, receipt.challenge_id) == ("success", offered.id)
        assert receipt.reference == paid.data["payment"]["reference"]

        # The same credential again: the key answers the send, nothing is charged twice.
        again = McpCall(await session.call_tool("send_topup", arguments, meta=meta))
        assert (again.code, again.data["payment"]["order_id"]) == (
            1001,
            paid.data["payment"]["order_id"],
        )
        balance = McpCall(await session.call_tool("get_balance", {}))
        assert balance.data["balance_cents"] == 50

        # Under a fresh key the spent challenge is refused with its problem type, and a fresh
        # challenge comes with it.
        with pytest.raises(MCPError) as spent:
            await session.call_tool(
                "send_topup", send_args("mcp-pay-2", amount_cents=650), meta=meta
            )
        assert spent.value.data["problem"]["type"] == PROBLEMS + "invalid-challenge"
        assert spent.value.data["challenges"][0]["id"] != offered.id
        garbled = _meta({META_CREDENTIAL: {"challenge": "no"}})
        with pytest.raises(MCPError) as unreadable:
            await session.call_tool(
                "send_topup", send_args("mcp-pay-3", amount_cents=650), meta=garbled
            )
        assert unreadable.value.data["problem"]["type"] == PROBLEMS + "malformed-credential"


async def test_initialize_advertises_the_payment_binding_over_http_and_stdio(
    mcp_root: str, make_merchant: MakeMerchant, settings: Settings, tmp_path: Path
) -> None:
    """``capabilities.experimental.payment`` of the initialize result, in the binding's shape,
    whichever transport the SDK's client comes by."""
    merchant = await make_merchant("staging")
    expected = {"payment": {"methods": {"stripe": {"intents": ["charge"]}}}}
    async with mcp_http(mcp_root, merchant.key) as session:
        assert session.server_capabilities is not None
        assert session.server_capabilities.experimental == expected
        assert session.server_capabilities.tools is not None  # the others stay
    async with mcp_stdio(settings, merchant.key, tmp_path) as session:
        assert session.server_capabilities is not None
        assert session.server_capabilities.experimental == expected
