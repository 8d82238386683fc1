"""Every page of the dashboard, checked by axe-core (through ``axe-playwright-python``) in
Chromium: no violation, of any impact; and no page scrolls sideways at 390 px (screenshots at
1280 and 390 px on request: ``tests.fixtures.accessibility``).

axe runs at the desktop's width, and at the phone's too for the pages in ``PHONE_TOO``: their
Chinese and Japanese checks (``test_languages_browser``) run axe at the desktop's width alone
(``widths_for``), so the phone's axe run of each is this English one; the other pages have
theirs in English elsewhere (the languages' English run, or the page's own test)."""

import re

from playwright.async_api import Page, expect

from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.browser import DESKTOP, PHONE, Merchant
from tests.fixtures.core import local_client

PHONE_TOO = {
    "key-created", "keys", "key", "telegram", "deliveries", "go-live", "not-found",
    "fulfilment-tested", "sandbox-checkout", "receipt",
    "apps-empty", "app-registered", "connected-apps", "oauth-code",
}  # fmt: skip


async def _accessible(page: Page, name: str) -> None:
    await assert_accessible(
        page, name, widths=(DESKTOP, PHONE) if name in PHONE_TOO else (DESKTOP,)
    )


async def test_every_page_has_no_accessibility_violation(
    page: Page, signed_up: Merchant, gateway_url: str
) -> None:
    await _accessible(page, "overview-empty")
    # A key that holds sends above $5 and may manage webhooks.
    await page.goto("/dashboard/keys")
    await page.get_by_label("Name").fill("everything")
    for scope in ("topup:send", "topup:read", "webhooks"):
        await page.get_by_role("checkbox", name=scope, exact=True).check()
    await page.locator("#f-approval_above").fill("5")
    await page.get_by_role("button", name="Make key").click()
    key = (await page.locator("#new-key").inner_text()).strip()
    await _accessible(page, "key-created")

    headers = {"Authorization": f"Bearer {key}"}
    async with local_client(base_url=f"{gateway_url}/api/public/v1", headers=headers) as api:
        made = await api.post("/webhooks/endpoints", json={"url": "http://127.0.0.1:1/hook"})
        assert made.status_code in (200, 201), made.text
        endpoint = made.json()["data"]["id"]
        sent = await api.post(
            "/topup/send",
            json={"platform": "claude", "amount_cents": 300, "recipient_email": "a@example.com"},
        )
        assert sent.status_code == 200, sent.text
        delivered = sent.json()["transaction_id"]
        held = await api.post(
            "/topup/send",
            json={"platform": "claude", "amount_cents": 900, "recipient_email": "b@example.com"},
        )
        assert held.status_code == 202, held.text
        waiting = held.json()["transaction_id"]

    for name, path in [
        ("overview", "/dashboard/"),
        ("keys", "/dashboard/keys"),
        ("topups", "/dashboard/topups"),
        ("topup", f"/dashboard/topups/{delivered}"),
        ("topup-held", f"/dashboard/topups/{waiting}"),
        ("send", "/dashboard/topups/send"),
        ("approvals", "/dashboard/topups/approvals"),
        ("approve", f"/dashboard/topups/{waiting}/approve"),
        ("deny", f"/dashboard/topups/{waiting}/deny"),
        ("telegram", "/dashboard/telegram"),
        ("approval-link-spent", "/dashboard/approval?token=apl_spent"),
        ("wallet", "/dashboard/wallet"),
        ("webhooks", "/dashboard/webhooks"),
        ("endpoint", f"/dashboard/webhooks/endpoints/{endpoint}"),
        ("deliveries", "/dashboard/webhooks/deliveries"),
        ("developers", "/dashboard/developers"),
        ("members", "/dashboard/members"),
        ("settings", "/dashboard/settings"),
        ("go-live", "/dashboard/go-live"),
        ("account", "/dashboard/account"),
        ("not-found", "/dashboard/nowhere"),
    ]:
        await page.goto(path)
        await expect(page.locator("h1")).to_be_visible()
        await _accessible(page, name)
    await page.goto("/dashboard/fulfilment?tested=claude&result=ok&provider=newapi&ms=12")
    await expect(page.locator("#platform-claude [data-test-result]")).to_be_visible()
    await _accessible(page, "fulfilment-tested")

    await page.goto("/dashboard/keys")
    await page.get_by_role("link", name=re.compile("ak_staging_")).first.click()
    await expect(page.get_by_role("heading", name="Usage")).to_be_visible()
    await _accessible(page, "key")
    await page.goto("/dashboard/webhooks/deliveries")
    links = page.locator('a[href^="/dashboard/webhooks/deliveries/"]')
    if await links.count():
        await links.first.click()
        await expect(page.locator("h1")).to_be_visible()
        await _accessible(page, "delivery")

    # The staging sandbox checkout, reached from the wallet: styled as the dashboard is.
    await page.goto("/dashboard/wallet")
    await page.get_by_label("Pack").select_option("pack_pro")
    await page.get_by_role("button", name="Go to checkout").click()
    await page.wait_for_url("**/api/public/v1/billing/sandbox/checkout/ord_*")
    await expect(page.locator("#total")).to_have_text("$20.00")
    # The dashboard's stylesheet applied: its header and cards, not the browser's defaults.
    assert await page.locator("header.top").evaluate("e => getComputedStyle(e).display") == "flex"
    await _accessible(page, "sandbox-checkout")
    # Paid, then the order's receipt.
    await page.locator("#pay").click()
    await page.wait_for_url("**/dashboard/wallet?notice=paid")
    await page.locator('#history a[href*="/receipt"]').first.click()
    await page.wait_for_url("**/dashboard/wallet/orders/*/receipt")
    await expect(page.locator("#paid")).to_have_text("$20.00")
    await _accessible(page, "receipt")

    await page.goto("/dashboard/")
    await page.get_by_role("button", name="Sign out").click()
    await _accessible(page, "sign-in")
    await page.goto("/dashboard/sign-up")
    await _accessible(page, "sign-up")


async def test_the_apps_pages_and_the_consent_page_have_no_violation(
    page: Page, signed_up: Merchant
) -> None:
    await page.goto("/dashboard/apps")
    await expect(page.locator("h1")).to_have_text("Apps")
    await _accessible(page, "apps-empty")
    await page.get_by_label("Name").fill("Ledger Lens")
    await page.get_by_label(re.compile("Redirect URIs")).fill("http://127.0.0.1:9/callback")
    await page.get_by_role("checkbox", name="topup:send", exact=True).check()
    await page.get_by_role("button", name="Register app").click()
    client_id = (await page.locator("#client-id").inner_text()).strip()
    assert (await page.locator("#client-secret").inner_text()).startswith("ocs_")
    await _accessible(page, "app-registered")
    await page.goto("/dashboard/apps")
    await _accessible(page, "apps")
    await page.goto("/dashboard/apps/connected")
    await _accessible(page, "connected-apps")

    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636's example
    await page.goto(
        f"/oauth/authorize?response_type=code&client_id={client_id}"
        "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&state=s"
        f"&code_challenge={challenge}&code_challenge_method=S256&scope=topup%3Asend"
    )
    await expect(page.locator("h1")).to_have_text("Connect Ledger Lens")
    await _accessible(page, "consent")
    await page.goto("/dashboard/oauth/code")
    await expect(page.locator("h1")).to_have_text("Authorization code")
    await _accessible(page, "oauth-code")
