"""The dashboard in Chromium: sign up, make a key, watch a top-up arrive without a reload, and
every page at desktop width and at a phone's 390 px."""

import time
import uuid

from playwright.async_api import Locator, Page, expect

from tests.fixtures.browser import PASSWORD, Merchant, shoot
from tests.fixtures.core import local_client
from tests.fixtures.workers import RunningWorker

# Judged against what an update not pushed would look like (the state sent again when the stream
# is renewed, at the end of its 60 s, or a closed one reopened after 20 to 40 s), not a quiet
# machine's pace: on one busy with the rest of the suite the send, the other process's publish and
# the page's redraw take seconds.
LIVE_WITHIN_MS = 10_000


def _nav(page: Page, name: str) -> Locator:
    return page.get_by_role("navigation", name="Sections").get_by_role("link", name=name)


async def _make_key(page: Page, name: str) -> str:
    await _nav(page, "Keys").click()
    await page.get_by_label("Name").fill(name)
    await page.get_by_role("button", name="Make key").click()
    key = (await page.locator("#new-key").inner_text()).strip()
    assert key.startswith("ak_staging_")
    return key


async def test_a_top_up_sent_with_a_new_key_appears_on_the_overview_without_a_reload(
    page: Page, signed_up: Merchant, other_gateway: str, worker: RunningWorker
) -> None:
    """The top-up goes through another gateway process than the one serving the page."""
    await shoot(page, "overview-empty")
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    key = await _make_key(page, "agent one")
    await shoot(page, "key-created")
    await page.get_by_role("button", name="Copy").click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == key
    await page.get_by_role("link", name="Done").click()
    await expect(page.get_by_role("cell", name="agent one")).to_be_visible()
    await shoot(page, "keys")

    await _nav(page, "Overview").click()
    await expect(page.locator("#balance-available")).to_have_text("$1,000.00")
    # The live stream is open before the send: the update must come through it.
    await expect(page.locator("body[data-live-at]")).to_have_count(1)
    loaded_at = await page.evaluate("performance.timeOrigin")

    async with local_client(base_url=f"{other_gateway}/api/public/v1") as api:
        sent = await api.post(
            "/topup/send",
            headers={"Authorization": f"Bearer {key}"},
            json={"platform": "claude", "amount_cents": 1250, "recipient_email": "ada@example.com"},
        )
    assert sent.status_code == 200, sent.text
    txn = sent.json()["transaction_id"]
    started = time.monotonic()
    await expect(page.locator(f'[data-topup="{txn}"]')).to_be_visible(timeout=LIVE_WITHIN_MS)
    await expect(page.locator("#balance-available")).to_have_text("$987.50", timeout=LIVE_WITHIN_MS)
    assert time.monotonic() - started < LIVE_WITHIN_MS / 1000
    # Same document: nothing reloaded the page.
    assert await page.evaluate("performance.timeOrigin") == loaded_at
    await shoot(page, "overview-live")

    await page.locator(f'[data-topup="{txn}"] a').first.click()
    await expect(page.get_by_text("ada@example.com")).to_be_visible()
    await shoot(page, "topup-detail")

    await _nav(page, "Keys").click()
    await page.get_by_role("link", name="ak_staging_").first.click()
    await expect(page.get_by_role("heading", name="Policy")).to_be_visible()
    await shoot(page, "key-detail")
    await page.goto("/dashboard/topups/approvals")
    await expect(page.get_by_role("heading", name="Awaiting approval")).to_be_visible()
    await shoot(page, "approvals")


async def test_every_page_at_desktop_and_phone_width(page: Page, signed_up: Merchant) -> None:
    await page.goto("/dashboard/topups")
    await expect(page.get_by_role("heading", name="Top-ups")).to_be_visible()
    await shoot(page, "topups")
    await page.goto("/dashboard/developers")
    await expect(page.get_by_role("heading", name="Developers")).to_be_visible()
    await shoot(page, "developers")
    await page.goto("/dashboard/keys")
    await shoot(page, "keys-form")
    # The environment switch is a form on every page.
    await page.get_by_role("button", name="Live").click()
    await expect(page.get_by_role("heading", name="API keys")).to_contain_text("Live")
    await expect(page.get_by_text("Live: real credits move.")).to_be_visible()
    await shoot(page, "keys-live")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await shoot(page, "sign-in")
    await page.goto("/dashboard/sign-up")
    await shoot(page, "sign-up")


async def test_a_merchant_signs_up_then_in_by_the_forms_labels(page: Page) -> None:
    """The sign-up form, then the sign-in form it leads to, filled by their labels as a person
    reads them: the overview after, the merchant's name on it. (``signed_up`` makes the other
    tests' merchants as the form does, without the form.)"""
    tag = uuid.uuid4().hex[:10]
    email = f"owner-{tag}@example.com"
    await page.goto("/dashboard/sign-up")
    await page.get_by_label("Merchant name").fill(f"Shop {tag}")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await page.wait_for_url("**/dashboard/sign-in?signed-up")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/dashboard/")
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await expect(page.locator("body")).to_contain_text(f"Shop {tag}")


async def test_sign_in_keeps_the_address_and_says_what_went_wrong(
    page: Page, signed_up: Merchant
) -> None:
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_label("E-mail").fill(signed_up.email)
    await page.get_by_label("Password").fill("not the password at all")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("do not match")
    await expect(page.get_by_label("E-mail")).to_have_value(signed_up.email)
    await expect(page.get_by_label("Password")).to_have_value("")
    await shoot(page, "sign-in-error")
    await page.get_by_label("Password").fill(signed_up.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()


async def test_the_keyboard_reaches_the_nav_and_focus_shows(
    page: Page, signed_up: Merchant
) -> None:
    await page.keyboard.press("Tab")  # the skip link
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


async def test_a_failed_delivery_shows_in_webhook_health_without_a_reload(
    page: Page, signed_up: Merchant, gateway_url: str, worker: RunningWorker
) -> None:
    await _nav(page, "Keys").click()
    await page.get_by_label("Name").fill("hooks")
    await page.get_by_role("checkbox", name="webhooks").check()
    await page.get_by_role("button", name="Make key").click()
    key = (await page.locator("#new-key").inner_text()).strip()
    await page.goto("/dashboard/")
    await expect(page.locator("body[data-live-at]")).to_have_count(1)
    await expect(page.locator('[data-live="webhook-health"]')).to_contain_text(
        "0 deliveries failed"
    )

    headers = {"Authorization": f"Bearer {key}"}
    async with local_client(base_url=f"{gateway_url}/api/public/v1") as api:
        # Nothing listens on port 1: every attempt fails at once.
        made = await api.post(
            "/webhooks/endpoints", headers=headers, json={"url": "http://127.0.0.1:1/hook"}
        )
        assert made.status_code in (200, 201), made.text
        sent = await api.post(
            "/topup/send",
            headers=headers,
            json={"platform": "chatgpt", "amount_cents": 300, "recipient_email": "f@example.com"},
        )
        assert sent.status_code == 200, sent.text
    # The retry schedule (0, 0.4, 0.8 s here) runs out, then the overview says so by itself.
    await expect(page.locator('[data-live="webhook-health"]')).to_contain_text(
        "1 delivery failed", timeout=10_000
    )
    await expect(page.locator('[data-live="webhook-health"]')).to_contain_text("topup.delivered")
    await shoot(page, "overview-webhook-failure")
