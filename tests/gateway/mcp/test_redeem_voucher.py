"""``redeem_voucher`` through the SDK's own client: the REST route's models as its schemas, a
voucher redeemed once (a repeat refused with the first redemption's data), another merchant's
code not found, a malformed one refused; results are the REST envelopes."""

from jsonschema import validate  # type: ignore[import-untyped]

from gateway.topup.schemas import RedeemedData, RedeemVoucherRequest
from tests.fixtures.core import local_client
from tests.fixtures.mcp import envelope_of, mcp_http, send_args
from tests.fixtures.merchants import MakeMerchant


async def test_a_voucher_is_redeemed_once_through_mcp(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    other = await make_merchant()
    async with mcp_http(mcp_root, merchant.key) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        tool = tools["redeem_voucher"]
        assert tool.input_schema == RedeemVoucherRequest.model_json_schema()
        assert tool.output_schema is not None
        assert tool.output_schema["$defs"]["RedeemedData"] == RedeemedData.model_json_schema()

        sent = await envelope_of(session, "send_topup", send_args("redeem-1"))
        code = sent.data["voucher_code"]
        async with mcp_http(mcp_root, other.key) as stranger:
            theirs = await envelope_of(stranger, "redeem_voucher", {"code": code})
        assert theirs.is_error and theirs.code == 4240

        done = await envelope_of(session, "redeem_voucher", {"code": code.lower()})
        assert not done.is_error and done.code == 1008
        validate(done.envelope, tool.output_schema)
        assert done.data["code"] == code
        assert done.data["transaction_id"] == sent.envelope["transaction_id"]
        assert done.data["amount_cents"] == 1000
        assert done.data["recipient_balance_cents"] == 0

        again = await envelope_of(session, "redeem_voucher", {"code": code})
        assert again.is_error and again.code == 4241
        assert again.data["redeemed_at"] == done.data["redeemed_at"]

        bad = await envelope_of(session, "redeem_voucher", {"code": "ATU-0000"})
        assert bad.is_error and bad.code == 4243
        unknown_field = await envelope_of(session, "redeem_voucher", {"code": code, "x": 1})
        assert unknown_field.is_error and unknown_field.code == 3001

    async with local_client(base_url=f"{mcp_root}/api/public/v1", headers=merchant.headers) as rest:
        shown = await rest.get(f"/topup/{sent.envelope['transaction_id']}")
    assert shown.json()["data"]["redeemed_at"] == done.data["redeemed_at"]
