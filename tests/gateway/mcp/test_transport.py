"""What ``/mcp`` serves at the HTTP level: POST alone (no stream stays open: GET and every other
method get 405 with ``Allow: POST``), a request only to one of the gateway's own host names (421
otherwise), and a browser's request only from an allowed origin or the gateway's own (403
otherwise), both before anything runs; a client without ``Origin`` is served as before."""

from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures.core import asgi_client, local_client, make_settings, running_app
from tests.fixtures.mcp import McpCall, counts, send_args
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
    async with local_client(base_url=mcp_root, timeout=5) as http:
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
    async with local_client(base_url=mcp_root, timeout=5) as http:
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
    async with local_client(base_url=mcp_root, timeout=5) as http:
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


def _initialize() -> dict[str, Any]:
    """The first request of a session, as the MCP conformance suite's rebinding check sends it."""
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "rebinding-check", "version": "1"},
        },
    }


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "[::1]", "LOCALHOST"])
async def test_own_loopback_host_and_origin_are_served(
    mcp_root: str, make_merchant: MakeMerchant, name: str
) -> None:
    merchant = await make_merchant()
    own = f"{name}:{urlsplit(mcp_root).port}"
    async with local_client(base_url=mcp_root, timeout=5) as http:
        reply = await http.post(
            "/mcp",
            json=_initialize(),
            headers={
                "Authorization": f"Bearer {merchant.key}",
                "Accept": _ACCEPT,
                "Host": own,
                "Origin": f"http://{own}",
            },
        )
    assert reply.status_code == 200, reply.text
    assert reply.json()["result"]["serverInfo"]["name"]


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
async def test_the_sdk_client_at_an_own_address_with_its_origin_is_served(
    mcp_root: str, db: Database, make_merchant: MakeMerchant, name: str
) -> None:
    merchant = await make_merchant()
    own = f"http://{name}:{urlsplit(mcp_root).port}"
    headers = {"Authorization": f"Bearer {merchant.key}", "Origin": own}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{own}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        assert "send_topup" in {tool.name for tool in (await session.list_tools()).tools}
        sent = McpCall(await session.call_tool("send_topup", send_args(f"own-{name}")))
    assert sent.code == 1001
    assert (await counts(db, merchant.merchant_id))["topups"] == 1


@pytest.mark.parametrize(
    ("host", "origin", "code"),
    [
        # The MCP conformance suite's rebinding request: a name the gateway is not, both headers.
        ("evil.example.com:{port}", "http://evil.example.com:{port}", 2007),
        ("evil.example.com:{port}", None, 2008),
        ("evil.example.com:{port}", "http://127.0.0.1:{port}", 2008),
        ("127.0.0.1:{port}@evil.example.com", None, 2008),
        ("localhost.evil.example:{port}", None, 2008),
        ("127.0.0.1:{port}", "http://evil.example.com:{port}", 2007),
        ("127.0.0.1:{port}", "http://localhost:{other}", 2007),
        ("localhost:{port}", "https://localhost:{port}", 2007),
    ],
)
async def test_a_foreign_host_or_origin_is_refused_before_anything_runs(
    mcp_root: str,
    db: Database,
    make_merchant: MakeMerchant,
    host: str,
    origin: str | None,
    code: int,
) -> None:
    merchant = await make_merchant()
    before = await counts(db, merchant.merchant_id)
    port = urlsplit(mcp_root).port
    assert port is not None
    headers = {"Authorization": f"Bearer {merchant.key}", "Accept": _ACCEPT}
    headers["Host"] = host.format(port=port)
    if origin is not None:
        headers["Origin"] = origin.format(port=port, other=port + 1)
    async with local_client(base_url=mcp_root, timeout=5) as http:
        reply = await http.post("/mcp", json=_send("foreign-1"), headers=headers)
    assert (reply.status_code, reply.json()["code"]) == ({2007: 403, 2008: 421}[code], code)
    assert reply.json()["success"] is False
    assert await counts(db, merchant.merchant_id) == before


async def test_the_public_host_and_named_hosts_are_served_and_no_other(
    database_url: str, redis_url: str, make_merchant: MakeMerchant
) -> None:
    settings: Settings = make_settings(
        database_url,
        redis_url,
        public_base_url="https://pay.example/base/",
        mcp_allowed_hosts="gw.internal, Other.Example:8443, [fd00::1]",
    )
    merchant = await make_merchant()
    async with running_app(settings) as app, asgi_client(app, base_url="http://gw.test") as http:
        served = {}
        for host in (
            "pay.example",
            "pay.example:443",
            "gw.internal:8000",
            "other.example",
            "[FD00::1]:8000",
            "gw.test",
        ):
            headers = {"Authorization": f"Bearer {merchant.key}", "Accept": _ACCEPT, "Host": host}
            reply = await http.post("/mcp", json=_initialize(), headers=headers)
            served[host] = reply.status_code
        refused = await http.post(
            "/mcp",
            json=_initialize(),
            headers={
                "Authorization": f"Bearer {merchant.key}",
                "Accept": _ACCEPT,
                "Host": "pay.example.evil.test",
            },
        )
    assert served == dict.fromkeys(served, 200)
    assert (refused.status_code, refused.json()["code"]) == (421, 2008)
