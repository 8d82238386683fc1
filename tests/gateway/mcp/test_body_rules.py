"""The REST body rules at ``/mcp`` (``gateway/values/parsing.py``): a repeated key, deep nesting
and an oversized body are refused before the fast path or the SDK reads the body, as a JSON-RPC
error carrying the envelope and its code (never plain text, never a 500), and nothing moves."""

import json
from typing import Any

import httpx
import pytest

from gateway.store.engine import Database
from tests.fixtures.core import local_client
from tests.fixtures.mcp import counts, send_args
from tests.fixtures.merchants import MakeMerchant, merchant_balance

ACCEPT = "application/json, text/event-stream"


def _call(arguments_text: str, *, through_sdk: bool) -> bytes:
    """A ``tools/call`` of ``send_topup`` with its arguments as given, byte for byte."""
    meta = ', "_meta": {"progressToken": "p1"}' if through_sdk else ""
    return (
        '{"jsonrpc": "2.0", "id": "c1", "method": "tools/call", "params": '
        f'{{"name": "send_topup", "arguments": {arguments_text}{meta}}}}}'
    ).encode()


def _nested(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


async def _refusal(
    root: str, db: Database, make_merchant: MakeMerchant, body: bytes
) -> tuple[httpx.Response, dict[str, Any]]:
    merchant = await make_merchant()
    balance = await merchant_balance(db, merchant)
    rows = await counts(db, merchant.merchant_id)
    headers = {
        "Authorization": f"Bearer {merchant.key}",
        "Accept": ACCEPT,
        "Content-Type": "application/json",
    }
    async with local_client(timeout=30) as http:
        reply = await http.post(f"{root}/mcp", content=body, headers=headers)
    assert reply.headers["content-type"].startswith("application/json"), reply.text[:200]
    answer = reply.json()
    assert answer["jsonrpc"] == "2.0"
    envelope = answer["error"]["data"]
    assert envelope["success"] is False
    assert answer["error"]["message"] == envelope["message"]
    assert await merchant_balance(db, merchant) == balance
    assert await counts(db, merchant.merchant_id) == rows
    return reply, envelope


@pytest.mark.parametrize("through_sdk", [False, True], ids=["fast path", "sdk"])
async def test_a_repeated_key_is_refused_3101(
    mcp_root: str, db: Database, make_merchant: MakeMerchant, through_sdk: bool
) -> None:
    arguments = json.dumps(send_args("dup-1"))[:-1] + ', "amount_cents": 99999}'
    reply, envelope = await _refusal(
        mcp_root, db, make_merchant, _call(arguments, through_sdk=through_sdk)
    )
    assert reply.status_code == 400
    assert envelope["code"] == 3101


@pytest.mark.parametrize("levels", [33, 9_000], ids=["past the bound", "past the decoder"])
@pytest.mark.parametrize("through_sdk", [False, True], ids=["fast path", "sdk"])
async def test_deep_nesting_is_refused_3102(
    mcp_root: str, db: Database, make_merchant: MakeMerchant, levels: int, through_sdk: bool
) -> None:
    args = json.dumps(send_args("deep-1"))[:-1] + f', "metadata": {_nested(levels)}}}'
    body = _call(args, through_sdk=through_sdk)
    reply, envelope = await _refusal(mcp_root, db, make_merchant, body)
    assert reply.status_code == 400
    assert envelope["code"] == 3102


@pytest.mark.both_stores
@pytest.mark.parametrize(
    "changes",
    [{"metadata": {"note": "a\x00b"}}, {"recipient_email": "a\x00@example.com"}],
    ids=["metadata", "e-mail"],
)
@pytest.mark.parametrize("through_sdk", [False, True], ids=["fast path", "sdk"])
async def test_a_nul_in_a_tool_argument_is_refused_3103(
    mcp_root: str,
    db: Database,
    make_merchant: MakeMerchant,
    changes: dict[str, Any],
    through_sdk: bool,
) -> None:
    """PostgreSQL cannot store a NUL (it answered 500 there); refused as the REST body is."""
    arguments = json.dumps(send_args("nul-1", **changes))
    reply, envelope = await _refusal(
        mcp_root, db, make_merchant, _call(arguments, through_sdk=through_sdk)
    )
    assert reply.status_code == 400
    assert envelope["code"] == 3103


async def test_an_oversized_body_is_refused_3004_as_json(
    mcp_root: str, db: Database, make_merchant: MakeMerchant
) -> None:
    pad = json.dumps(send_args("big-1", metadata={"pad": "x" * 70_000}))
    reply, envelope = await _refusal(mcp_root, db, make_merchant, _call(pad, through_sdk=False))
    assert reply.status_code == 413
    assert envelope["code"] == 3004


async def test_an_oversized_body_without_a_length_is_refused_3004(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    """Sent in chunks, without Content-Length: counted as it arrives."""
    merchant = await make_merchant()

    async def chunks() -> Any:
        yield _call(json.dumps(send_args("big-2"))[:-1], through_sdk=False)[:40]
        for _ in range(20):
            yield b" " * 4096

    headers = {
        "Authorization": f"Bearer {merchant.key}",
        "Accept": ACCEPT,
        "Content-Type": "application/json",
    }
    async with local_client(timeout=30) as http:
        reply = await http.post(f"{mcp_root}/mcp", content=chunks(), headers=headers)
    assert reply.status_code == 413
    assert reply.json()["error"]["data"]["code"] == 3004


async def test_a_body_within_the_rules_still_works(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    headers = {"Authorization": f"Bearer {merchant.key}", "Accept": ACCEPT}
    deep_but_allowed = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with local_client(timeout=30) as http:
        reply = await http.post(f"{mcp_root}/mcp", json=deep_but_allowed, headers=headers)
    assert reply.status_code == 200
    assert "send_topup" in {t["name"] for t in reply.json()["result"]["tools"]}
