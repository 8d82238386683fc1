"""``aitopup mcp`` as an agent starts it: a subprocess speaking MCP on stdin and stdout, with
the store, Redis and the key from its environment. The SDK's own stdio client lists the tools
and sends end to end (a real worker delivers to a receiver that verifies the webhook); the key
is checked on every call, so a key revoked meanwhile is refused from the next one. The agents'
guide is read through it too: the process builds it from the gateway's routes when first asked."""

from pathlib import Path

from gateway.mcp.tools import SendTopupArguments
from gateway.merchants import service as merchants
from gateway.store.engine import Database
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures.mcp import TOOLS, counts, envelope_of, make_live_endpoint, mcp_stdio, send_args
from tests.fixtures.merchants import MakeMerchant, merchant_balance
from tests.fixtures.policies import set_policy
from tests.fixtures.webhooks import Receiver, only_delivery, verify_both_schemes
from tests.fixtures.workers import StartWorker


async def test_stdio_lists_the_tools_and_sends_end_to_end(
    mcp_root: str,
    hook_settings: Settings,
    db: Database,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    await start_worker()
    merchant = await make_merchant()
    endpoint = await make_live_endpoint(mcp_root, merchant, receiver.url)
    before = await merchant_balance(db, merchant)
    async with mcp_stdio(hook_settings, merchant.key, tmp_path) as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(listed) >= TOOLS
        assert listed["send_topup"].input_schema == SendTopupArguments.model_json_schema()

        sent = await envelope_of(session, "send_topup", send_args("stdio-1"))
        assert (sent.is_error, sent.code) == (False, 1001)
        again = await envelope_of(session, "send_topup", send_args("stdio-1"))
        assert again.envelope == sent.envelope
        balance = await envelope_of(session, "get_balance")
        assert balance.data["balance_cents"] == before - 1000

        payload = verify_both_schemes(await only_delivery(receiver), endpoint["secret"])
        assert payload["type"] == "topup.delivered"
        assert payload["data"]["transaction_id"] == sent.envelope["transaction_id"]

        # Revoked while the process runs: refused from the next call, and nothing moves.
        async with db.transaction() as conn:
            assert await merchants.revoke_key(conn, merchant.key_id, utcnow())
        rows = await counts(db, merchant.merchant_id)
        refused = await envelope_of(session, "send_topup", send_args("stdio-2"))
        assert (refused.is_error, refused.code) == (True, 2004)
        assert await counts(db, merchant.merchant_id) == rows
    assert await merchant_balance(db, merchant) == before - 1000


async def test_stdio_without_a_key_refuses_every_call(
    hook_settings: Settings, db: Database, make_merchant: MakeMerchant, tmp_path: Path
) -> None:
    merchant = await make_merchant("live", balance_cents=10_000)
    async with mcp_stdio(hook_settings, None, tmp_path) as session:
        missing = await envelope_of(session, "send_topup", send_args("nokey"))
        assert (missing.is_error, missing.code) == (True, 2001)
        # The guide, built from the gateway's routes only when it is first read, needs no key.
        [guide] = (await session.read_resource("aitopup://llms.txt")).contents
        assert "aitopup mcp" in getattr(guide, "text", "")
    async with mcp_stdio(hook_settings, "ak_live_" + "B" * 32, tmp_path) as session:
        unknown = await envelope_of(session, "get_balance")
        assert (unknown.is_error, unknown.code) == (True, 2003)
    assert await merchant_balance(db, merchant) == 10_000


async def test_stdio_answers_a_call_beyond_the_keys_scopes_with_the_envelope(
    hook_settings: Settings, db: Database, make_merchant: MakeMerchant, tmp_path: Path
) -> None:
    """No HTTP, so no scope challenge: the refused result carries the envelope, as ever."""
    reader = await make_merchant("live", balance_cents=10_000)
    await set_policy(db, reader.key_id, {"scopes": ["topup:read"]})
    async with mcp_stdio(hook_settings, reader.key, tmp_path) as session:
        refused = await envelope_of(session, "send_topup", send_args("stdio-scope"))
        assert (refused.is_error, refused.code, refused.door_error) == (True, 2301, None)
        assert refused.data == {"scope": "topup:send"}
    assert await merchant_balance(db, reader) == 10_000
