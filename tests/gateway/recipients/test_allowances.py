"""The recipient's page reads their OpenRouter key back (``upstreams.allowances``): what it used
and has left, its reset and expiry, one look-up a view, kept a minute (read again after, not
before), one read for views at once, at most so many of an origin a minute; a stand-in that
fails or hangs leaves the page there, saying the figures are unavailable. On SQLite and
PostgreSQL."""

import asyncio
import time
from datetime import timedelta

import httpx
import pytest
from starlette.types import ASGIApp

from gateway.mail.links import RecipientLink, recipient_token
from gateway.recipients import page
from gateway.store.engine import Database
from gateway.upstreams import allowances as allowances_module
from gateway.upstreams.allowances import Allowance, Allowances
from gateway.upstreams.outbound import Upstreams
from gateway.values.clock import utcnow
from keys import Sealer
from tests.fixtures.core import TEST_SECRET, local_client
from tests.fixtures.dashboard import dashboard_client
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.upstreams import (
    OPENROUTER_MANAGEMENT_KEY,
    Hanging,
    OpenRouterStandIn,
    send_body,
    serve_raw,
)

SEALER = Sealer(TEST_SECRET.encode())


class Clock:
    """Monotonic seconds a test moves."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def _merchant(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, root: str, **allowance: object
) -> MerchantKey:
    merchant = await make_merchant("staging", balance_cents=10_000)
    body = {
        "provider": "openrouter",
        "management_key": OPENROUTER_MANAGEMENT_KEY,
        "base_url": root,
        **allowance,
    }
    saved = await client.put("/fulfilment/claude", json=body, headers=merchant.headers)
    assert saved.status_code == 200, saved.text
    return merchant


async def _sent(
    client: httpx.AsyncClient, merchant: MerchantKey, cents: int, email: str
) -> RecipientLink:
    sent = await client.post("/topup/send", json=send_body(cents, email), headers=merchant.headers)
    assert sent.json()["code"] == 1001, sent.text
    return RecipientLink(merchant.merchant_id, "staging", email, utcnow() + timedelta(hours=1))


async def _allowance(db: Database, link: RecipientLink, reads: Allowances) -> Allowance:
    shown = await page.view(db, SEALER, link, allowances=reads)
    assert shown is not None
    [key] = shown.keys
    return shown.allowances[key.label]


async def test_the_figures_are_read_once_a_view_and_kept_a_minute(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    openrouter_standin: tuple[OpenRouterStandIn, str],
) -> None:
    openrouter, root = openrouter_standin
    merchant = await _merchant(
        fulfil_client, make_merchant, root, limit_reset="monthly", key_expires_after_days=30
    )
    link = await _sent(fulfil_client, merchant, 500, "ida@example.com")
    [key] = openrouter.keys.values()
    clock = Clock()
    async with local_client() as http:
        reads = Allowances(Upstreams(http, http), clock=clock)
        calls = openrouter.faults.calls
        first = await _allowance(db, link, reads)
        assert openrouter.faults.calls == calls + 1  # one look-up for the view
        assert first.figures is not None
        f = first.figures
        assert (f.used_cents, f.limit_cents, f.left_cents) == (0, 500, 500)
        assert f.limit_reset == "monthly"
        assert first.expires_at is not None and not first.expired
        assert first.expires_at.isoformat().replace("+00:00", "Z") == key["expires_at"]

        openrouter.record_usage(key["hash"], 1.25)
        kept = await _allowance(db, link, reads)  # within the minute: as kept, nothing asked
        assert kept.figures is not None and kept.figures.used_cents == 0
        assert openrouter.faults.calls == calls + 1

        clock.now += 60
        moved = await _allowance(db, link, reads)
        assert moved.figures is not None
        assert (moved.figures.used_cents, moved.figures.left_cents) == (125, 375)
        assert openrouter.faults.calls == calls + 2

        # Views at once, the answer gone stale: one read for them all.
        clock.now += 60
        openrouter.record_usage(key["hash"], 0.004)  # a fraction of a cent: used rounds up
        together = await asyncio.gather(*(_allowance(db, link, reads) for _ in range(5)))
        assert openrouter.faults.calls == calls + 3
        assert {(a.figures.used_cents, a.figures.left_cents) for a in together if a.figures} == {
            (126, 374)
        }
        assert all(a.figures is not None for a in together)


async def test_the_page_shows_what_was_used_and_left_in_the_readers_words(
    fulfil_client: httpx.AsyncClient,
    fulfil_app: ASGIApp,
    make_merchant: MakeMerchant,
    openrouter_standin: tuple[OpenRouterStandIn, str],
) -> None:
    openrouter, root = openrouter_standin
    merchant = await _merchant(
        fulfil_client, make_merchant, root, limit_reset="monthly", key_expires_after_days=30
    )
    link = await _sent(fulfil_client, merchant, 500, "jo@example.com")
    [key] = openrouter.keys.values()
    openrouter.record_usage(key["hash"], 1.25)
    token = recipient_token(SEALER, link)
    day = key["expires_at"][:10]
    async with dashboard_client(fulfil_app) as browser:
        shown = await browser.get(f"/recipient/{token}")
        assert shown.status_code == 200, shown.text
        assert "Used $1.25 of $5.00 this month; $3.75 left." in shown.text
        assert "Resets monthly, on the 1st at midnight UTC." in shown.text
        assert f"Expires on {day}" in shown.text
        assert key["secret"] in shown.text
        zh = await browser.get(f"/recipient/{token}?lang=zh")
        said = "本月已用 US$1.25，额度 US$5.00；剩余 US$3.75。"  # noqa: RUF001
        assert said in zh.text, zh.text
        ja = await browser.get(f"/recipient/{token}?lang=ja")
        assert "今月は $5.00 のうち $1.25 を使用、残り $3.75。" in ja.text, ja.text


@pytest.mark.parametrize("fault", ["down", "hangs"])
async def test_a_failing_or_hanging_openrouter_leaves_the_page_saying_unavailable(
    fulfil_client: httpx.AsyncClient,
    fulfil_app: ASGIApp,
    make_merchant: MakeMerchant,
    db: Database,
    openrouter_standin: tuple[OpenRouterStandIn, str],
    fault: str,
) -> None:
    openrouter, root = openrouter_standin
    merchant = await _merchant(fulfil_client, make_merchant, root, key_expires_after_days=10)
    link = await _sent(fulfil_client, merchant, 300, f"kay-{fault}@example.com")
    [key] = openrouter.keys.values()
    if fault == "down":
        openrouter.faults.down = True
        async with dashboard_client(fulfil_app) as browser:
            shown = await browser.get(f"/recipient/{recipient_token(SEALER, link)}")
        assert shown.status_code == 200, shown.text
        assert "unavailable right now" in shown.text and "Used " not in shown.text
        assert key["secret"] in shown.text
        # What the key was made with is the gateway's own: its expiry is still said.
        assert f"Expires on {key['expires_at'][:10]}" in shown.text
        return
    # The platform's OpenRouter now answers nothing, ever: the read is cut at its bound.
    hanging = Hanging()
    async with serve_raw(hanging) as served:
        moved = {"provider": "openrouter", "base_url": served.root + "/api/v1"}
        again = await fulfil_client.put("/fulfilment/claude", json=moved, headers=merchant.headers)
        assert again.status_code == 200, again.text
        async with local_client() as http:
            reads = Allowances(Upstreams(http, http), clock=Clock(), within=0.3)
            started = time.monotonic()
            hung = await _allowance(db, link, reads)
            assert time.monotonic() - started < 5
        assert hanging.taken == 1
    assert hung.figures is None and hung.expires_at is not None and not hung.expired


async def test_an_origin_is_read_at_most_so_often_a_minute(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    openrouter_standin: tuple[OpenRouterStandIn, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(allowances_module, "READS_PER_ORIGIN_PER_MINUTE", 2)
    openrouter, root = openrouter_standin
    merchant = await _merchant(fulfil_client, make_merchant, root)
    links = [await _sent(fulfil_client, merchant, 100, f"r{n}@example.com") for n in range(3)]
    clock = Clock()
    async with local_client() as http:
        reads = Allowances(Upstreams(http, http), clock=clock)
        calls = openrouter.faults.calls
        shown = [await _allowance(db, link, reads) for link in links]
        assert [a.figures is not None for a in shown] == [True, True, False]
        assert openrouter.faults.calls == calls + 2  # the third not made
        clock.now += 60
        third = await _allowance(db, links[2], reads)  # a new minute: read
        assert third.figures is not None and third.figures.limit_cents == 100
        assert openrouter.faults.calls == calls + 3
