"""The Payments page in a real browser against a live gateway, in English, Chinese and Japanese:
one merchant's agent pays another merchant's 402 (the gateway's own MPP challenge, refused
for funds) and the seller's retry with the credential goes through; the page, opened before,
shows the payment and what the seller was paid without a reload, then its use; never the
credential; one payment's page; no axe violation (at 1280 and 390 px in English, at 1280 px in
the others: ``widths_for`` says why), and no sideways scroll on a phone in any language."""

from types import SimpleNamespace

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import update

from gateway.accounts import users
from gateway.sellers import states
from gateway.sellers.authorizing import read
from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, table_of
from gateway.values import languages
from gateway.values.clock import utcnow
from tests.fixtures.accessibility import assert_accessible, widths_for
from tests.fixtures.browser import Merchant
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import set_policy

# Under a stream's renewal (60 s) and a closed one's reopening (20 to 40 s): what it rules out
# is an update that was not pushed, not a busy machine's seconds.
WITHIN_MS = 10_000
SEND = {"platform": "claude", "amount_cents": 1234, "recipient_email": "s@example.com"}
_K = table_of(ApiKeyRow)


@pytest.fixture(params=languages.LANGUAGES)
def language(request: pytest.FixtureRequest) -> str:
    found: str = request.param
    return found


async def _in_language(page: Page, language: str) -> None:
    """The signed-in person reads the dashboard in ``language`` (their Account setting)."""
    if language == languages.DEFAULT:
        return
    await page.goto("/dashboard/account")
    await page.locator("#language").select_option(language)
    await page.locator("#language-form button").click()
    await page.wait_for_url("**/dashboard/account?notice=language")
    await expect(page.locator("html")).to_have_attribute("lang", languages.html_lang(language))


async def test_a_payment_to_another_merchants_402_shows_live_in_each_language(
    page: Page,
    signed_up: Merchant,
    gateway_url: str,
    db: Database,
    make_merchant: MakeMerchant,
    language: str,
) -> None:
    await _in_language(page, language)
    user = await users.check_password(db, signed_up.email, signed_up.password)
    assert user is not None
    agent = await make_merchant("staging", merchant_id=user.merchant_id)
    policy = {
        "scopes": ["payments:send"],
        "per_payee_limit": {"amount_cents": 2_000, "interval": "daily"},
    }
    await set_policy(db, agent.key_id, policy)
    async with db.transaction() as conn:
        await conn.execute(update(_K).where(_K.c.id == agent.key_id).values(name="agent"))
    seller = await make_merchant("staging", balance_cents=0)

    # The link beside the wallet's, to the page before anything was paid.
    await page.goto("/dashboard/wallet")
    await page.locator('nav.nav a[href="/dashboard/payments"]').click()
    await page.wait_for_url("**/dashboard/payments")
    await expect(page.locator('nav.nav a[aria-current="page"]')).to_have_attribute(
        "href", "/dashboard/payments"
    )
    await expect(page.locator("#payments")).to_have_count(0)
    await assert_accessible(page, f"payments-empty-{language}", widths=widths_for(language))
    await expect(page.locator("body[data-live-at]")).to_have_count(1)  # the stream is open
    loaded_at = await page.evaluate("performance.timeOrigin")

    resource = f"{gateway_url}/api/public/v1/topup/send"
    async with local_client(base_url=f"{gateway_url}/api/public/v1") as api:
        key = {**seller.headers, "Idempotency-Key": "order-1"}
        refused = await api.post("/topup/send", json=SEND, headers=key)
        assert refused.status_code == 402, refused.text
        challenge = refused.headers["www-authenticate"]
        paid = await api.post(
            "/payments",
            json={"url": resource, "challenge": challenge},
            headers={**agent.headers, "Idempotency-Key": "pay-1"},
        )
        assert paid.status_code == 201, paid.text
        made = paid.json()["data"]
        retried = await api.post(
            "/topup/send", json=SEND, headers={**key, made["header"]: made["value"]}
        )
        assert retried.status_code == 200, retried.text
        assert retried.json()["data"]["payment"]["amount_cents"] == made["amount_cents"] == 1300

    row = page.locator(f'tr[data-payment="{made["id"]}"]')
    await expect(row).to_be_visible(timeout=WITHIN_MS)
    await expect(row).to_have_attribute("data-status", "authorized")
    await expect(row).to_contain_text(languages.money_in(1300, language))
    payee = page.locator('tr[data-payee="mpp:profile_aitopup"]')  # where the money went
    await expect(payee.locator('[data-window="daily"]')).to_have_text(
        languages.money_in(1300, language)
    )
    await expect(payee.locator(f'[data-key="{agent.key_id}"]')).to_contain_text(
        languages.money_in(700, language)
    )
    assert await page.evaluate("performance.timeOrigin") == loaded_at  # no reload
    assert made["value"] not in await page.content()

    # The seller took it: the page says so in place.
    async with db.transaction() as conn:
        found = await read(conn, made["id"])
        moved = await states.move(
            conn, SimpleNamespace(**found._asdict()), states.USED, utcnow(), used_cents=1300
        )
    assert moved is not None
    await expect(row).to_have_attribute("data-status", "used", timeout=WITHIN_MS)
    await assert_accessible(page, f"payments-{language}", widths=widths_for(language))

    await row.locator("a").click()
    await page.wait_for_url(f"**/dashboard/payments/{made['id']}")
    await expect(page.locator("#payment-id")).to_have_text(made["id"])
    await expect(page.locator("#origin")).to_have_text(gateway_url)
    assert made["value"] not in await page.content()
    await assert_accessible(page, f"payment-{language}", widths=widths_for(language))

    await page.goto("/dashboard/payments?status=released")
    await expect(page.locator("#payments")).to_have_count(0)
    await assert_accessible(page, f"payments-filtered-{language}", widths=widths_for(language))
