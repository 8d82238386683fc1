"""The SDK's own client over streamable HTTP against the running gateway: the tools and their
schemas, a send end to end (a real worker, a real receiver that verifies the webhook), reads,
cancel, resources, and idempotency under concurrency."""

import asyncio
import json

import pytest
from jsonschema import validate  # type: ignore[import-untyped]

from gateway.mcp.tools import SendTopupArguments
from gateway.store.engine import Database
from gateway.topup.schemas import ListQuery, SendData, TopupData
from tests.fixtures.core import local_client
from tests.fixtures.mcp import (
    SEND,
    TOOLS,
    counts,
    envelope_of,
    make_live_endpoint,
    mcp_http,
    send_args,
)
from tests.fixtures.merchants import MakeMerchant, merchant_balance
from tests.fixtures.policies import set_policy
from tests.fixtures.webhooks import Receiver, only_delivery, verify_both_schemes
from tests.fixtures.workers import StartWorker


async def test_the_tools_and_their_schemas_come_from_the_rest_models(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    async with mcp_http(mcp_root, merchant.key) as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(listed) >= TOOLS
    send = listed["send_topup"]
    assert send.input_schema == SendTopupArguments.model_json_schema()
    assert set(send.input_schema["required"]) == {
        "platform",
        "amount_cents",
        "recipient_email",
        "idempotency_key",
    }
    assert send.input_schema["additionalProperties"] is False
    assert send.output_schema is not None
    assert send.output_schema["$defs"]["SendData"] == SendData.model_json_schema()
    assert send.annotations is not None
    assert send.annotations.destructive_hint is True
    assert send.annotations.read_only_hint is False
    assert listed["list_topups"].input_schema == ListQuery.model_json_schema()
    for name in ("get_balance", "get_topup", "list_topups"):
        annotations = listed[name].annotations
        assert annotations is not None and annotations.read_only_hint is True
    topup_schema = listed["get_topup"].output_schema
    assert topup_schema is not None
    assert topup_schema["$defs"]["TopupData"] == TopupData.model_json_schema()


async def test_a_send_end_to_end_reaches_a_verifying_receiver(
    mcp_root: str,
    db: Database,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
) -> None:
    await start_worker()
    merchant = await make_merchant()
    endpoint = await make_live_endpoint(mcp_root, merchant, receiver.url)
    before = await merchant_balance(db, merchant)
    async with mcp_http(mcp_root, merchant.key) as session:
        sent = await envelope_of(session, "send_topup", send_args("order-1"))
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert tools["send_topup"].output_schema is not None
        validate(sent.envelope, tools["send_topup"].output_schema)

        assert not sent.is_error
        assert sent.code == 1001
        assert sent.envelope["status"] == "delivered"
        assert sent.data["voucher_code"].startswith("ATU-TEST-")
        assert sent.data["amount_cents"] == 1000
        txn_id = sent.envelope["transaction_id"]
        assert await merchant_balance(db, merchant) == before - 1000

        payload = verify_both_schemes(await only_delivery(receiver), endpoint["secret"])
        assert payload["type"] == "topup.delivered"
        assert payload["data"]["transaction_id"] == txn_id

        got = await envelope_of(session, "get_topup", {"transaction_id": txn_id})
        assert got.code == 1000 and got.data["voucher_code"] == sent.data["voucher_code"]
        listed = await envelope_of(session, "list_topups", {"limit": 5})
        assert [t["id"] for t in listed.data] == [txn_id]
        assert listed.envelope["meta"] == {"limit": 5, "has_more": False, "next_cursor": None}
        balance = await envelope_of(session, "get_balance")
        assert balance.data["balance_cents"] == before - 1000
        assert balance.data["env"] == "staging"


async def test_the_results_are_the_rest_envelopes(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    async with (
        mcp_http(mcp_root, merchant.key) as session,
        local_client(base_url=f"{mcp_root}/api/public/v1", headers=merchant.headers) as rest,
    ):
        sent = await envelope_of(session, "send_topup", send_args("same-door"))
        txn_id = sent.envelope["transaction_id"]
        # The key is the operation's, not the door's: REST replays what MCP sent.
        again = await rest.post("/topup/send", json=SEND, headers={"Idempotency-Key": "same-door"})
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == sent.envelope
        got = await envelope_of(session, "get_topup", {"transaction_id": txn_id})
        rest_got = (await rest.get(f"/topup/{txn_id}")).json()
        assert {**got.envelope, "timestamp": None} == {**rest_got, "timestamp": None}
        balance = await envelope_of(session, "get_balance")
        rest_balance = (await rest.get("/balance")).json()
        assert {**balance.envelope, "timestamp": None} == {**rest_balance, "timestamp": None}


async def test_a_pending_send_can_be_cancelled_once(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    before = await merchant_balance(db, merchant)
    async with mcp_http(mcp_root, merchant.key) as session:
        held = await envelope_of(
            session, "send_topup", send_args("p-1", recipient_email="a+pending@example.com")
        )
        assert not held.is_error
        assert (held.code, held.envelope["status"]) == (1002, "pending")
        txn_id = held.envelope["transaction_id"]
        assert txn_id.startswith("txn_")
        cancelled = await envelope_of(session, "cancel_topup", {"transaction_id": txn_id})
        assert (cancelled.code, cancelled.envelope["status"]) == (1003, "cancelled")
        assert await merchant_balance(db, merchant) == before
        twice = await envelope_of(session, "cancel_topup", {"transaction_id": txn_id})
        assert twice.is_error and twice.code == 4005
        failed = await envelope_of(
            session, "send_topup", send_args("f-1", recipient_email="a+fail@example.com")
        )
        # A refusal carries its transaction and state like any outcome.
        assert failed.is_error and failed.code == 4004
        assert failed.envelope["status"] == "failed"
        assert failed.envelope["transaction_id"].startswith("txn_")
        unknown = await envelope_of(session, "get_topup", {"transaction_id": "txn_nope"})
        assert unknown.is_error and unknown.code == 4002
        bad_cursor = await envelope_of(session, "list_topups", {"cursor": "nope"})
        assert bad_cursor.is_error and bad_cursor.code == 3005
    assert await merchant_balance(db, merchant) == before


@pytest.mark.both_stores
async def test_the_same_idempotency_key_debits_once_even_concurrently(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    before = await merchant_balance(db, merchant)
    async with mcp_http(mcp_root, merchant.key) as session:
        first = await envelope_of(session, "send_topup", send_args("once"))
        second = await envelope_of(session, "send_topup", send_args("once"))
        assert second.envelope == first.envelope
        assert second.text == first.text
        assert second.result.meta == {"idempotent_replayed": True}
        assert first.result.meta is None
        racing = await asyncio.gather(
            *(envelope_of(session, "send_topup", send_args("race")) for _ in range(8))
        )
    assert len({r.text for r in racing}) == 1
    assert racing[0].code == 1001
    assert await merchant_balance(db, merchant) == before - 2000
    assert (await counts(db, merchant.merchant_id))["topups"] == 2

    # Another body under a used key is refused, and moves nothing.
    async with mcp_http(mcp_root, merchant.key) as session:
        reused = await envelope_of(session, "send_topup", send_args("once", amount_cents=5))
    assert reused.is_error and reused.code == 4003
    assert await merchant_balance(db, merchant) == before - 2000


async def test_the_resources_are_the_catalogue_and_the_guide(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    async with (
        mcp_http(mcp_root, merchant.key) as session,
        local_client(base_url=mcp_root) as http,
    ):
        listed = {str(r.uri) for r in (await session.list_resources()).resources}
        assert listed == {"aitopup://codes", "aitopup://llms.txt"}
        codes = await session.read_resource("aitopup://codes")
        guide = await session.read_resource("aitopup://llms.txt")
        rest_codes = (await http.get("/api/public/v1/codes")).json()
        rest_guide = (await http.get("/llms.txt")).text
    [codes_text] = codes.contents
    assert codes_text.mime_type == "application/json"
    served = json.loads(getattr(codes_text, "text", ""))
    assert {**served, "timestamp": None} == {**rest_codes, "timestamp": None}
    [guide_text] = guide.contents
    assert getattr(guide_text, "text", "") == rest_guide
    assert "aitopup mcp" in rest_guide


@pytest.mark.both_stores
async def test_key_limits_are_read_and_enforced_through_mcp(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live", balance_cents=50_000)
    await set_policy(
        db,
        merchant.key_id,
        {"scopes": ["topup:send"], "limits": [{"amount_cents": 1500, "interval": "daily"}]},
    )
    async with mcp_http(mcp_root, merchant.key) as session:
        assert not (await envelope_of(session, "send_topup", send_args("lim-1"))).is_error
        limits = await envelope_of(session, "get_key_limits")
        assert not limits.is_error
        [window] = limits.data["windows"]
        assert (window["interval"], window["spent_cents"], window["remaining_cents"]) == (
            "daily",
            1000,
            500,
        )
        refused = await envelope_of(session, "send_topup", send_args("lim-2"))
        assert refused.is_error and refused.code == 2304
        assert refused.envelope["transaction_id"] is None
    assert await merchant_balance(db, merchant) == 49_000


async def test_a_send_held_for_approval_returns_its_state(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live", balance_cents=50_000)
    await set_policy(
        db, merchant.key_id, {"scopes": ["topup:send", "topup:read"], "approval_above_cents": 500}
    )
    async with mcp_http(mcp_root, merchant.key) as session:
        held = await envelope_of(session, "send_topup", send_args("held-1"))
        assert not held.is_error
        assert (held.code, held.envelope["status"]) == (1006, "pending_approval")
        txn_id = held.envelope["transaction_id"]
        got = await envelope_of(session, "get_topup", {"transaction_id": txn_id})
        assert got.data["status"] == "pending_approval"
    # Debited and held, as the REST send is.
    assert await merchant_balance(db, merchant) == 49_000
