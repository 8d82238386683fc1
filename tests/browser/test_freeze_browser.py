"""The kill switch page in Chromium at 1280 and 390 px with axe (the frozen page's axe run at
390 px is ``test_languages_browser``'s): reached from Keys, it freezes the environment (held
sends cancelled, as chosen) and unfreezes it, saying which each time."""

from playwright.async_api import Page, expect

from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.browser import DESKTOP, PHONE, Merchant


async def test_the_kill_switch_freezes_and_unfreezes_from_the_page(
    page: Page, signed_up: Merchant
) -> None:
    await page.goto("/dashboard/keys")
    await page.get_by_role("link", name="Kill switch: freeze every key of staging").click()
    await page.wait_for_url("**/dashboard/freeze")
    await expect(page.get_by_role("heading", name="Not frozen")).to_be_visible()
    await assert_accessible(page, "freeze-running", widths=(DESKTOP, PHONE))

    await page.get_by_label("Cancel them and refund the wallet").check()
    await page.get_by_role("button", name="Freeze staging").click()
    await page.wait_for_url("**/dashboard/freeze?done=frozen*")
    await expect(page.get_by_role("status")).to_contain_text("Staging is frozen.")
    await expect(page.get_by_role("heading", name="Frozen", exact=True)).to_be_visible()
    # axe at 390 px on the frozen page is the English run of test_languages_browser's; here
    # the desktop's, and the sideways check at 390 px as always.
    await assert_accessible(page, "freeze-frozen")

    await page.get_by_role("button", name="Unfreeze staging").click()
    await page.wait_for_url("**/dashboard/freeze?done=unfrozen")
    await expect(page.get_by_role("status")).to_contain_text("Staging is unfrozen")
    await expect(page.get_by_role("heading", name="Not frozen")).to_be_visible()
