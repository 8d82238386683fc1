"""The forms of a URL refused or masked in one place (``webhooks.urls``): a port that is none
(0, past 65535), for webhook endpoints and upstreams alike, when saved and when connected to; an
upstream's API root with a query string (where a credential would be shown back in clear); a
webhook URL's query values never shown in clear on a page."""

import httpx
import pytest
from sqlalchemy import insert, select

from gateway.store.engine import Database
from gateway.store.models import FulfilmentSetting, WebhookEndpoint, table_of
from gateway.values.clock import utcnow
from gateway.webhooks.destinations.http import post
from gateway.webhooks.transport import WebhookTransport
from gateway.webhooks.urls import UrlRefused, masked, parse_webhook_url
from tests.fixtures.merchants import MakeMerchant

_EP, _F = table_of(WebhookEndpoint), table_of(FulfilmentSetting)
_PORT = "URL port must be a number from 1 to 65535"
_QUERY = "URL must not carry a query string or fragment"
PUBLIC = "93.184.215.14"  # an address as host: judged without DNS


@pytest.mark.parametrize("port", ["0", "00", "65536", "70000", "99999999999", "-1", "x"])
def test_a_port_that_is_none_is_refused(port: str) -> None:
    for api_root in (False, True):
        with pytest.raises(UrlRefused, match=_PORT):
            parse_webhook_url(f"https://{PUBLIC}:{port}/hook", api_root=api_root)


@pytest.mark.parametrize("port", [1, 443, 8080, 65535])
def test_every_port_from_1_to_65535_is_taken(port: int) -> None:
    assert parse_webhook_url(f"https://{PUBLIC}:{port}/hook").port == port


@pytest.mark.parametrize(
    "url",
    [
        f"https://{PUBLIC}/api?key=sk-123",
        f"https://{PUBLIC}/api?token=t",
        f"https://{PUBLIC}/api?api_key=k&x=1",
        f"https://{PUBLIC}/api?access_token=a",
        f"https://{PUBLIC}/api?password=p",
        f"https://{PUBLIC}/api?secret=s",
        f"https://{PUBLIC}/api?plain",
        f"https://{PUBLIC}/api?",
        f"https://{PUBLIC}/api#key=k",
    ],
)
def test_an_api_root_with_a_query_is_refused_a_webhook_url_is_not(url: str) -> None:
    with pytest.raises(UrlRefused, match=_QUERY):
        parse_webhook_url(url, api_root=True)
    assert parse_webhook_url(url).url == url


def test_masked_shows_names_but_no_value() -> None:
    assert masked("https://h.example/hook?token=abc&v=2&flag#top") == (
        "https://h.example/hook?token=***&v=***&flag#top"
    )
    assert masked("https://h.example/hook") == "https://h.example/hook"


async def test_webhook_endpoints_refuse_a_port_that_is_none_with_5002(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    live = await make_merchant("live")
    for port in (0, 65536):
        url = f"https://{PUBLIC}:{port}/hook"
        made = await client.post("/webhooks/endpoints", json={"url": url}, headers=live.headers)
        assert (made.status_code, made.json()["code"]) == (422, 5002), made.text
        assert made.json()["message"] == f"Webhook URL invalid: {_PORT}"
    good = await client.post(
        "/webhooks/endpoints", json={"url": f"https://{PUBLIC}/hook"}, headers=live.headers
    )
    endpoint_id = good.json()["data"]["id"]
    changed = await client.patch(
        f"/webhooks/endpoints/{endpoint_id}",
        json={"url": f"https://{PUBLIC}:0/hook"},
        headers=live.headers,
    )
    assert (changed.status_code, changed.json()["code"]) == (422, 5002), changed.text
    async with db.read() as conn:
        urls = (
            await conn.execute(select(_EP.c.url).where(_EP.c.merchant_id == live.merchant_id))
        ).scalars()
        assert list(urls) == [f"https://{PUBLIC}/hook"]  # nothing made, nothing changed


@pytest.mark.parametrize("port", [0, 70000])
async def test_a_delivery_to_a_port_that_is_none_is_refused_on_connecting(port: int) -> None:
    """An endpoint saved before the rule: the attempt fails, saying why, and connects nowhere
    (port 0 is not the scheme's default)."""
    transport = WebhookTransport(allow_loopback=True, limits=httpx.Limits(max_connections=1))
    try:
        attempt = await post(transport, f"http://127.0.0.1:{port}/hook", b"{}", {}, 2.0)
    finally:
        await transport.aclose()
    assert attempt.status is None
    assert attempt.error == f"connect failed: blocked: {_PORT}"


async def test_an_upstream_url_with_a_query_or_no_port_is_refused_and_none_is_shown_in_clear(
    fulfil_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("staging")
    h = merchant.headers
    for url in (
        f"https://{PUBLIC}/api?key=sk-upstream-secret",
        f"https://{PUBLIC}/api?access_token=sk-upstream-secret",
        f"https://{PUBLIC}:0/api",
    ):
        body = {"provider": "newapi", "base_url": url, "access_token": "t", "user_id": 1}
        put = await fulfil_client.put("/fulfilment/claude", json=body, headers=h)
        assert (put.status_code, put.json()["code"]) == (422, 4201), put.text
        openrouter = {"provider": "openrouter", "management_key": "k", "base_url": url}
        put = await fulfil_client.put("/fulfilment/gemini", json=openrouter, headers=h)
        assert (put.status_code, put.json()["code"]) == (422, 4201), put.text
    listed = await fulfil_client.get("/fulfilment", headers=h)
    assert {f["provider"] for f in listed.json()["data"]} == {"voucher"}

    # One saved before the rule is listed with its query's values hidden.
    async with db.transaction() as conn:
        now = utcnow()
        await conn.execute(
            insert(_F).values(
                merchant_id=merchant.merchant_id,
                env="staging",
                platform="claude",
                provider="newapi",
                base_url=f"https://{PUBLIC}/api?key=sk-upstream-secret",
                account="1",
                credentials_sealed=None,
                quota_per_usd=None,
                created_at=now,
                updated_at=now,
            )
        )
    listed = await fulfil_client.get("/fulfilment", headers=h)
    assert "sk-upstream-secret" not in listed.text
    [claude] = [f for f in listed.json()["data"] if f["platform"] == "claude"]
    assert claude["base_url"] == f"https://{PUBLIC}/api?key=***"
