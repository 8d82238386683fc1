"""A key's limits on its pages in Chromium at 1280 and 390 px, checked by axe: a key made on the
Keys page with a rolling window and alert levels, its page after a send showing the rolling
window's spend and when its oldest spend frees, and its levels kept in its form."""

from playwright.async_api import Page, expect

from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.browser import DESKTOP, PHONE, Merchant
from tests.fixtures.core import local_client


async def test_a_key_made_with_a_rolling_window_and_levels_shows_them(
    page: Page, signed_up: Merchant, gateway_url: str
) -> None:
    await page.goto("/dashboard/keys")
    await page.get_by_label("Name").fill("five-hour agent")
    await page.locator("#f-limit_rolling").fill("4.00")
    await page.locator("#f-limit_rolling_hours").fill("5")
    await page.locator("#f-thresholds_percent").fill("80, 50")
    await page.get_by_role("button", name="Make key").click()
    key = await page.locator("#new-key").inner_text()

    async with local_client(base_url=f"{gateway_url}/api/public/v1") as api:
        body = {"platform": "claude", "amount_cents": 300, "recipient_email": "a@example.com"}
        sent = await api.post("/topup/send", json=body, headers={"Authorization": f"Bearer {key}"})
        assert sent.json()["code"] == 1001, sent.text

    await page.goto("/dashboard/keys")
    await page.locator("td.card-head a").first.click()
    rolling = page.locator('tr[data-window="rolling"]')
    await expect(rolling).to_contain_text("over the last 5 h")
    await expect(rolling).to_contain_text("$1.00")  # remaining of $4.00
    await expect(rolling).to_contain_text("oldest spend frees")
    await expect(page.locator("#f-thresholds_percent")).to_have_value("50, 80")
    await expect(page.locator("#f-limit_rolling_hours")).to_have_value("5")
    await assert_accessible(page, "key-rolling", widths=(DESKTOP, PHONE))
