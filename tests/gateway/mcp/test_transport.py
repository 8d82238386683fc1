"""What ``/mcp`` serves at the HTTP level: POST alone (no stream stays open: GET and every other
method get 405 with ``Allow: POST``), and a browser's request only from an allowed origin (403
otherwise, before anything runs); a client without ``Origin`` is served as before."""

from typing import Any

import httpx
import pytest

from gateway.settings import Settings
from gateway.store.db import Database
from tests.fixtures.core import asgi_client, make_settings, running_app
from tests.fixtures.mcp import counts, send_args
from tests.fixtures.merchants import MakeMerchant

_ACCEPT = "application/json, text/event-stream"


def _send(key: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "send_topup", "arguments": send_args(key)},
    }


@pytest.mark.parametrize("with_key", [True, False])
async def test_get_is_405_at_once_not_a_stream(
    mcp_root: str, make_merchant: MakeMerchant, with_key: bool
) -> None:
    merchant = await make_merchant()
    headers = {"Accept": "text/event-stream"}
    if with_key:
        headers["Authorization"] = f"Bearer {merchant.key}"
    # A stream would never end: the timeout turns it into a failure here.
    async with httpx.AsyncClient(base_url=mcp_root, timeout=5) as http:
        reply = await http.get("/mcp", headers=headers)
    assert reply.status_code == 405
    assert reply.headers["allow"] == "POST"
    assert reply.headers["content-type"].startswith("application/json")
    envelope = reply.json()
    assert (envelope["success"], envelope["code"]) == (False, 3008)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
async def test_other_methods_are_405_too(
    mcp_root: str, make_merchant: MakeMerchant, method: str
) -> None:
    merchant = await make_merchant()
    async with httpx.AsyncClient(base_url=mcp_root, timeout=5) as http:
        reply = await http.request(
            method, "/mcp", headers={"Authorization": f"Bearer {merchant.key}"}
        )
    assert reply.status_code == 405
    assert reply.headers["allow"] == "POST"
    if method != "HEAD":
        assert reply.json()["code"] == 3008


@pytest.mark.parametrize(
    "origins",
    [
        ["http://evil.example"],
        ["null"],
        ["http://127.0.0.1:1"],
        ["https://a.test", "https://b.test"],
    ],
)
async def test_a_browser_origin_not_allowed_is_refused_before_anything_runs(
    mcp_root: str, db: Database, make_merchant: MakeMerchant, origins: list[str]
) -> None:
    merchant = await make_merchant()
    before = await counts(db, merchant.merchant_id)
    headers = [
        ("Authorization", f"Bearer {merchant.key}"),
        ("Accept", _ACCEPT),
        *(("Origin", origin) for origin in origins),
    ]
    async with httpx.AsyncClient(base_url=mcp_root, timeout=5) as http:
        reply = await http.post("/mcp", json=_send("origin-1"), headers=headers)
    assert reply.status_code == 403
    envelope = reply.json()
    assert (envelope["success"], envelope["code"]) == (False, 2007)
    assert await counts(db, merchant.merchant_id) == before


async def test_allowed_origins_and_clients_without_one_are_served(
    database_url: str, redis_url: str, db: Database, make_merchant: MakeMerchant
) -> None:
    settings: Settings = make_settings(
        database_url,
        redis_url,
        mcp_allowed_origins="https://agents.example, http://localhost:6274/",
        public_base_url="https://pay.example/base/",
    )
    merchant = await make_merchant()
    async with running_app(settings) as app, asgi_client(app, base_url="http://gw.test") as http:
        sent = 0
        for origin in (
            None,
            "https://agents.example",
            "HTTP://LOCALHOST:6274",
            "https://pay.example",
        ):
            headers = {"Authorization": f"Bearer {merchant.key}", "Accept": _ACCEPT}
            if origin is not None:
                headers["Origin"] = origin
            reply = await http.post("/mcp", json=_send(f"allowed-{sent}"), headers=headers)
            assert reply.status_code == 200, (origin, reply.text)
            assert reply.json()["result"]["structuredContent"]["code"] == 1001
            sent += 1
        refused = await http.post(
            "/mcp",
            json=_send("refused"),
            headers={
                "Authorization": f"Bearer {merchant.key}",
                "Accept": _ACCEPT,
                "Origin": "https://agents.example.evil.test",
            },
        )
        assert refused.status_code == 403
    assert (await counts(db, merchant.merchant_id))["topups"] == sent
