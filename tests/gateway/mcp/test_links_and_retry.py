"""Every link a reply or a tool result gives is absolute, with ``AITOPUP_PUBLIC_BASE_URL`` set
or not; a checkout needs no return URLs (the payer lands on the gateway's own page); and the
whole loop an agent runs: refused for funds, a checkout, the link paid as a browser pays it, the
send again with a fresh idempotency key, while the old key still answers the refusal."""

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import uvicorn

from gateway.app import create_app
from gateway.billing.wallet.shortfall import RETRY
from gateway.mcp.tools import by_name
from gateway.values.settings import Settings
from tests.fixtures.core import free_port, local_client, started_server
from tests.fixtures.mcp import envelope_of, mcp_http, send_args
from tests.fixtures.merchants import MakeMerchant


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """The app on 127.0.0.1 as ``settings`` say, ``public_base_url`` left as it is."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=120,
        timeout_graceful_shutdown=5,
    )
    async with started_server(config):
        yield f"http://127.0.0.1:{port}"


def links(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a reply that names a link: a field ``*_url``, or one holding ``://`` or
    starting with ``/``."""
    if isinstance(value, dict):
        for name, each in value.items():
            yield from links(each, f"{where}.{name}")
    elif isinstance(value, list):
        for i, each in enumerate(value):
            yield from links(each, f"{where}[{i}]")
    elif isinstance(value, str) and (
        where.endswith("_url") or "://" in value or value.startswith("/")
    ):
        yield where, value


def assert_absolute(reply: dict[str, Any], base: str | None) -> int:
    found = list(links(reply["data"]))
    for where, url in found:
        parts = urlsplit(url)
        assert parts.scheme in ("http", "https") and parts.netloc, (where, url)
        if base is not None:
            assert url.startswith(base + "/"), (where, url)
    return len(found)


async def _every_door(root: str, key: str, headers: dict[str, str], base: str | None) -> None:
    """The refusal for funds and a checkout without return URLs, over REST and MCP."""
    async with local_client(base_url=f"{root}/api/public/v1", headers=headers) as api:
        body = {"platform": "claude", "amount_cents": 5000, "recipient_email": "a@example.com"}
        refused = await api.post("/topup/send", json=body, headers={"Idempotency-Key": "r-1"})
        assert refused.status_code == 402, refused.text
        assert assert_absolute(refused.json(), base) == 3
        made = await api.post("/billing/checkout", json={"amount_cents": 1000})
        assert made.status_code == 201, made.text
        assert assert_absolute(made.json(), base) == 1
        info = await api.get("/billing/topup-info")
        assert assert_absolute(info.json(), base) == 1
    async with mcp_http(root, key) as session:
        short = await envelope_of(session, "send_topup", send_args("m-1", amount_cents=5000))
        assert short.code == 4001
        assert assert_absolute(short.envelope, base) == 3
        made_mcp = await envelope_of(session, "create_checkout", {"amount_cents": 1000})
        assert made_mcp.code == 1004, made_mcp.envelope
        assert assert_absolute(made_mcp.envelope, base) == 1
        info_mcp = await envelope_of(session, "get_topup_info")
        assert assert_absolute(info_mcp.envelope, base) == 1


async def test_links_are_absolute_without_the_public_base_url(
    hook_settings: Settings, make_merchant: MakeMerchant
) -> None:
    assert hook_settings.public_base_url is None
    merchant = await make_merchant("staging", balance_cents=100)
    async with serving(hook_settings) as root:
        await _every_door(root, merchant.key, merchant.headers, None)


async def test_links_are_on_the_public_base_url_when_set(
    hook_settings: Settings, make_merchant: MakeMerchant
) -> None:
    base = "https://gateway.example.com"
    settings = hook_settings.model_copy(update={"public_base_url": base})
    merchant = await make_merchant("staging", balance_cents=100)
    async with serving(settings) as root:
        # /mcp answers to its own host names (127.0.0.1 is the gateway's own).
        await _every_door(root, merchant.key, merchant.headers, base)


def test_the_refusal_and_the_send_tool_say_how_to_retry_after_funding() -> None:
    spec = by_name("send_topup")
    assert spec is not None
    assert "FRESH idempotency_key" in spec.description
    assert "same refusal again" in spec.description
    assert "fresh idempotency key" in RETRY and "same key" in RETRY


async def _pay_as_a_browser(link: str) -> httpx.Response:
    """Open the sandbox's page at ``link`` and press Pay: its form posted, redirects followed."""
    async with local_client(follow_redirects=True) as browser:
        page = await browser.get(link)
        assert page.status_code == 200, page.text
        [action] = re.findall(r'<form method="post" action="([^"]+/pay\?[^"]+)"', page.text)
        return await browser.post(urljoin(link, action.replace("&amp;", "&")))


async def test_an_agent_refused_for_funds_funds_the_wallet_and_sends_with_a_fresh_key(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging", balance_cents=200)
    async with mcp_http(mcp_root, merchant.key) as session:
        refused = await envelope_of(session, "send_topup", send_args("old-key", amount_cents=900))
        assert (refused.is_error, refused.code) == (True, 4001)
        assert refused.data["retry"] == RETRY
        made = await envelope_of(
            session, "create_checkout", {"amount_cents": refused.data["shortfall_cents"]}
        )
        assert (made.is_error, made.code) == (False, 1004), made.envelope
        link = made.data["checkout_url"]
        assert link.startswith(mcp_root + "/")

        landed = await _pay_as_a_browser(link)
        assert landed.status_code == 200, landed.text
        assert urlsplit(str(landed.url)).path == "/api/public/v1/billing/checkout/done"
        assert "Wallet funded" in landed.text and "$7.00 credited" in landed.text
        assert made.data["order_id"] in landed.text

        again = await envelope_of(session, "send_topup", send_args("old-key", amount_cents=900))
        assert (again.is_error, again.code) == (True, 4001)
        assert again.data == refused.data  # the same refusal, though the wallet is funded now
        sent = await envelope_of(session, "send_topup", send_args("new-key", amount_cents=900))
        assert (sent.is_error, sent.code) == (False, 1001), sent.envelope
        balance = await envelope_of(session, "get_balance")
        assert balance.data["balance_cents"] == 0


async def test_a_cancelled_checkout_without_return_urls_lands_on_the_gateways_page(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    async with local_client(base_url=f"{mcp_root}/api/public/v1", headers=merchant.headers) as api:
        made = await api.post("/billing/checkout", json={"pack_id": "pack_starter"})
        assert made.status_code == 201, made.text
        order = made.json()["data"]
    async with local_client(follow_redirects=True) as browser:
        page = await browser.get(order["checkout_url"])
        [action] = re.findall(r'action="([^"]+/cancel\?[^"]+)"', page.text)
        landed = await browser.post(urljoin(order["checkout_url"], action.replace("&amp;", "&")))
        assert landed.status_code == 200, landed.text
        assert "Payment cancelled" in landed.text and "nothing was charged" in landed.text
        pending = await browser.get(
            f"{mcp_root}/api/public/v1/billing/checkout/done", params={"order": order["order_id"]}
        )
        assert (
            "Payment cancelled" in pending.text
        )  # the order failed: it says so without ?cancelled
        for bad in ("nope", "ord_" + "0" * 24):
            missing = await browser.get(
                f"{mcp_root}/api/public/v1/billing/checkout/done", params={"order": bad}
            )
            assert (missing.status_code, missing.json()["code"]) == (404, 4130)
