"""The recipient's page: opened from the link an e-mail carries, it shows that recipient's
wallets and top-ups at that merchant only; bad and expired links say so; a fresh link is sent on
request, the same answer whether or not the address is known, rate-limited."""

from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis
from starlette.types import ASGIApp

from gateway.mail.links import RecipientLink, recipient_token
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.core import TEST_SECRET, running_app
from tests.fixtures.dashboard import csrf_of, dashboard_client
from tests.fixtures.limiters import client_at, limits, unique_address
from tests.fixtures.merchants import MakeMerchant, MerchantKey

__all__ = ["limits"]  # a fixture, used by name

SEND = {"platform": "claude", "amount_cents": 1500, "recipient_email": "dee@example.com"}
SEALER = Sealer(TEST_SECRET.encode())


async def link_of(client: httpx.AsyncClient, merchant: MerchantKey, kind: str = "voucher") -> str:
    mails = (await client.get("/emails", headers=merchant.headers)).json()["data"]
    link: str = next(m for m in mails if m["kind"] == kind)["link"]
    return link.split("/dashboard", 1)[1]


async def test_the_link_opens_the_recipients_page_at_that_merchant_only(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    other = await make_merchant("staging")
    mine = await client.post("/topup/send", json=SEND, headers=merchant.headers)
    theirs = await client.post(
        "/topup/send", json={**SEND, "amount_cents": 4321}, headers=other.headers
    )
    path = await link_of(client, merchant)
    async with dashboard_client(app) as browser:
        shown = await browser.get(path)
    assert shown.status_code == 200, shown.text
    assert shown.headers["cache-control"] == "no-store"
    assert mine.json()["data"]["voucher_code"] in shown.text
    assert "$15.00" in shown.text
    assert theirs.json()["data"]["voucher_code"] not in shown.text and "$43.21" not in shown.text
    assert theirs.json()["transaction_id"] not in shown.text
    assert "dee@example.com" not in path  # the address is sealed in the token
    # A recipient is no developer: no link to the API explorer or the changelog, which the
    # merchant's own pages keep.
    assert 'href="/docs' not in shown.text and 'href="/changelog"' not in shown.text
    async with dashboard_client(app) as browser:
        signed_out = await browser.get("/sign-in")
    assert 'href="/docs' in signed_out.text and 'href="/changelog"' in signed_out.text


async def test_bad_and_expired_links_say_so(app: ASGIApp, make_merchant: MakeMerchant) -> None:
    merchant = await make_merchant("staging")
    expired = recipient_token(
        SEALER,
        RecipientLink(merchant.merchant_id, "staging", "dee@example.com", utcnow() - timedelta(1)),
    )
    async with dashboard_client(app) as browser:
        old = await browser.get(f"/recipient/{expired}")
        assert old.status_code == 404 and "Send me a fresh link" in old.text
        assert 'href="/changelog"' not in old.text
        forged = await browser.get(f"/recipient/{expired[:-4]}AAAA")
        assert forged.status_code == 404 and "Send me a fresh link" not in forged.text
        huge = await browser.get(f"/recipient/{'A' * 5000}")
        assert huge.status_code == 404
        assert (await browser.get(f"/recipient/{expired}/live")).status_code == 404


async def test_a_fresh_link_the_same_answer_known_or_not_and_rate_limited(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, redis_url: str
) -> None:
    redis = Redis.from_url(redis_url)
    await redis.flushall()
    await redis.aclose()
    merchant = await make_merchant("staging")
    await client.post("/topup/send", json=SEND, headers=merchant.headers)
    path = await link_of(client, merchant)
    async with dashboard_client(app) as browser:
        page = await browser.get(path)
        token = csrf_of(page.text)
        answers = []
        for email in ("dee@example.com", "nobody@example.com"):
            asked = await browser.post(f"{path}/link", data={"csrf_token": token, "email": email})
            answers.append((asked.status_code, asked.text.count("on its way")))
        assert answers[0] == answers[1] == (202, 1)
        mails = (await client.get("/emails", headers=merchant.headers)).json()["data"]
        assert [m["kind"] for m in mails].count("recipient_link") == 1  # the known one only
        fresh = await link_of(client, merchant, "recipient_link")
        assert (await browser.get(fresh)).status_code == 200
        bad = await browser.post(f"{path}/link", data={"csrf_token": token, "email": "nope"})
        assert bad.status_code == 422
        for _ in range(2):  # three an hour per address (the first above counted)
            await browser.post(
                f"{path}/link", data={"csrf_token": token, "email": "dee@example.com"}
            )
        refused = await browser.post(
            f"{path}/link", data={"csrf_token": token, "email": "dee@example.com"}
        )
        assert refused.status_code == 429 and "Retry-After" in refused.headers


@pytest.mark.both_stores
async def test_views_from_one_address_are_bounded(
    settings: Settings, limits: Redis, make_merchant: MakeMerchant
) -> None:
    """A recipient's page and its stream, one bucket per client address: past it the page's
    429 with Retry-After, before the link is even opened; another address goes on."""
    merchant = await make_merchant("staging")
    token = recipient_token(
        SEALER,
        RecipientLink(merchant.merchant_id, "staging", "dee@example.com", utcnow() - timedelta(1)),
    )
    limited = settings.model_copy(update={"recipient_pages_per_client_per_minute": 2})
    root = "http://gateway.test/dashboard"
    async with running_app(limited) as app:
        async with client_at(app, unique_address(), root) as http:
            within = [
                await http.get(f"/recipient/{token}"),
                await http.get(f"/recipient/{token}/live"),
            ]
            past = [
                await http.get(f"/recipient/{token}"),
                await http.get(f"/recipient/{token}/live"),
            ]
        async with client_at(app, unique_address(), root) as http:
            elsewhere = await http.get(f"/recipient/{token}")
    assert [r.status_code for r in within] == [404, 404]
    assert [r.status_code for r in past] == [429, 429]
    assert all(0 < int(r.headers["retry-after"]) <= 60 for r in past)
    assert elsewhere.status_code == 404
