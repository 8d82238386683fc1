"""Where a recipient redeems, as the merchant set it: a New API top-up's e-mail (text and HTML,
received by a real SMTP server) gives the merchant's redemption address as a button and its
line of instructions; an OpenRouter e-mail names the merchant's API root, never a hardcoded
one; the recipient's page gives the same and says whether the code was redeemed, read from the
upstream once per code and cached, "unknown" when the upstream fails. On SQLite and
PostgreSQL."""

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis

from gateway.mail.links import RecipientLink
from gateway.recipients import page
from gateway.recipients.redeemed import CodeStates
from gateway.store.engine import Database
from gateway.upstreams.outbound import Upstreams
from gateway.values.clock import utcnow
from keys import Sealer
from tests.fixtures.core import TEST_SECRET, local_client
from tests.fixtures.mail import Inbox, html_of, settled, smtp, text_of
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.upstreams import (
    OPENROUTER_MANAGEMENT_KEY,
    NewApiStandIn,
    OpenRouterStandIn,
    newapi_body,
    send_body,
)
from tests.fixtures.workers import StartWorker

SEALER = Sealer(TEST_SECRET.encode())
SITE = "https://newapi.example.com/console/topup"
LINE = "Sign in with this e-mail address, then Wallet."


async def test_a_newapi_mail_gives_the_merchants_redemption_address_and_line(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    smtp_server: Inbox,
    db: Database,
    newapi_standin: tuple[NewApiStandIn, str],
    live_reaches_loopback: None,
) -> None:
    newapi, root = newapi_standin
    await start_worker(**smtp(smtp_server))
    merchant = await make_merchant("live", balance_cents=10_000)
    body = {**newapi_body(root), "redeem_url": SITE, "redeem_instructions": LINE}
    saved = await fulfil_client.put("/fulfilment/claude", json=body, headers=merchant.headers)
    assert saved.status_code == 200, saved.text
    sent = await fulfil_client.post(
        "/topup/send", json=send_body(1234, "ann@example.com"), headers=merchant.headers
    )
    assert sent.json()["code"] == 1001, sent.text
    await settled(db, merchant.merchant_id, "sent")
    [message] = smtp_server.received
    text, html = text_of(message), html_of(message)
    assert f"Redeem at newapi.example.com: {SITE}" in text
    assert f'href="{SITE}"' in html and "Redeem at newapi.example.com</a>" in html
    for part in (text, html):
        assert LINE in part
        assert newapi.redemptions[0]["key"] in part


async def test_an_openrouter_mail_names_the_merchants_api_root(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    smtp_server: Inbox,
    db: Database,
    openrouter_standin: tuple[OpenRouterStandIn, str],
    live_reaches_loopback: None,
) -> None:
    _, root = openrouter_standin
    await start_worker(**smtp(smtp_server))
    merchant = await make_merchant("live", balance_cents=10_000)
    body = {"provider": "openrouter", "management_key": OPENROUTER_MANAGEMENT_KEY, "base_url": root}
    saved = await fulfil_client.put("/fulfilment/claude", json=body, headers=merchant.headers)
    assert saved.status_code == 200, saved.text
    sent = await fulfil_client.post(
        "/topup/send", json=send_body(250, "ann@example.com"), headers=merchant.headers
    )
    assert sent.json()["code"] == 1001, sent.text
    await settled(db, merchant.merchant_id, "sent")
    [message] = smtp_server.received
    for part in (text_of(message), html_of(message)):
        assert root in part
        assert "openrouter.ai/api/v1" not in part
        assert "Redeem at openrouter.ai" in part  # OpenRouter's own site, the default


@pytest.fixture
async def code_states(redis_url: str) -> AsyncIterator[CodeStates]:
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    client = local_client()
    try:
        yield CodeStates(redis, Upstreams(live=client, staging=client), SEALER)
    finally:
        await client.aclose()
        await redis.aclose()


async def test_the_page_says_whether_a_newapi_code_was_redeemed_asking_once(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    newapi_standin: tuple[NewApiStandIn, str],
    code_states: CodeStates,
) -> None:
    newapi, root = newapi_standin
    merchant = await make_merchant("staging", balance_cents=10_000)
    body = {**newapi_body(root), "redeem_url": root + "/console/topup", "redeem_instructions": LINE}
    await fulfil_client.put("/fulfilment/claude", json=body, headers=merchant.headers)
    for cents in (100, 200):
        sent = await fulfil_client.post(
            "/topup/send", json=send_body(cents, "ada@example.com"), headers=merchant.headers
        )
        assert sent.json()["code"] == 1001, sent.text
    link = RecipientLink(
        merchant.merchant_id, "staging", "ada@example.com", utcnow() + timedelta(hours=1)
    )

    calls = newapi.faults.calls
    shown = await page.view(db, SEALER, link, code_states)
    assert shown is not None
    assert [t.redeemed for t in shown.topups] == ["unused", "unused"]
    assert newapi.faults.calls == calls + 2  # once per code
    for t in shown.topups:
        assert t.how is not None
        assert f'href="{root}/console/topup"' in t.how and "Redeem at 127.0.0.1</a>" in t.how
        assert LINE in t.how
    again = await page.view(db, SEALER, link, code_states)
    assert again is not None and newapi.faults.calls == calls + 2  # cached: no call

    # Redeemed at New API (its own redeem: the user's POST /api/user/topup {key}).
    user, token = newapi.add_user()
    code = shown.topups[0].code
    async with local_client() as http:
        redeemed = await http.post(
            root + "/api/user/topup",
            json={"key": code},
            headers={"Authorization": token, "New-Api-User": str(user)},
        )
    assert redeemed.json()["success"] is True
    await code_states.redis.flushdb()  # past the short cache
    after = await page.view(db, SEALER, link, code_states)
    assert after is not None
    assert [t.redeemed for t in after.topups] == ["spent", "unused"]

    # A failing upstream: unknown, and the page is still there; the code seen spent was
    # recorded as redeemed (off the balance), so it stays spent with nothing asked.
    await code_states.redis.flushdb()
    newapi.faults.down = True
    failing = await page.view(db, SEALER, link, code_states)
    assert failing is not None
    assert [t.redeemed for t in failing.topups] == ["spent", "unknown"]
