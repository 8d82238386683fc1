"""The Settings page's "Where your users redeem vouchers" in Chromium at 1280 and 390 px with
axe: a refused address is named beside its field, a good one saved and shown again."""

from playwright.async_api import Page, expect

from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.browser import DESKTOP, PHONE, Merchant


async def test_where_users_redeem_is_set_on_the_settings_page(
    page: Page, signed_up: Merchant
) -> None:
    await page.goto("/dashboard/settings")
    section = page.locator("#voucher-redemption")
    await section.get_by_label("Redemption page").fill("https://10.0.0.1/redeem")
    await section.get_by_role("button", name="Save where users redeem").click()
    await expect(page.locator("#redeem_url-error")).to_be_visible()
    await assert_accessible(page, "settings-vouchers-refused", widths=(DESKTOP, PHONE))

    section = page.locator("#voucher-redemption")
    await section.get_by_label("Redemption page").fill("https://shop.example/redeem")
    await section.get_by_label("What to do with the code").fill("Sign in, open Billing, Redeem.")
    await section.get_by_role("button", name="Save where users redeem").click()
    await page.wait_for_url("**/dashboard/settings?saved=vouchers")
    await expect(page.get_by_label("Redemption page")).to_have_value("https://shop.example/redeem")
    await assert_accessible(page, "settings-vouchers", widths=(DESKTOP, PHONE))
