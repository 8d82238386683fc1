"""The Wallet page with an unpaid subscription checkout, in Chromium at 1280 and 390 px with
axe: the checkout left on the sandbox's page is shown with "Continue the checkout", which opens
that same page, and "Cancel the checkout", after which a plan can be subscribed to at once."""

from playwright.async_api import Page, expect

from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.billing import make_staging_plan
from tests.fixtures.browser import DESKTOP, PHONE, Merchant


async def test_an_open_checkout_is_continued_then_cancelled_from_the_wallet(
    page: Page, signed_up: Merchant, db: Database, hook_settings: Settings
) -> None:
    await make_staging_plan(
        db, hook_settings, name="Left Open", price_monthly=900, price_yearly=9000,
        credits_included=1_200,
    )  # fmt: skip
    await page.goto("/dashboard/wallet")
    await page.get_by_label("Plan", exact=True).select_option(label="Left Open")
    await page.get_by_role("button", name="Subscribe").click()
    await page.wait_for_url("**/api/public/v1/subscription/sandbox/sub_*")
    checkout = page.url

    await page.goto("/dashboard/wallet")  # left unpaid
    shown = page.locator("#open-checkout")
    await expect(shown).to_contain_text("Left Open")
    await expect(page.get_by_role("button", name="Subscribe")).to_have_count(0)
    await assert_accessible(page, "wallet-open-checkout", widths=(DESKTOP, PHONE))

    await page.get_by_role("link", name="Continue the checkout").click()
    await page.wait_for_url(checkout)
    await page.goto("/dashboard/wallet")
    await page.get_by_role("button", name="Cancel the checkout").click()
    await page.wait_for_url("**/dashboard/wallet?notice=checkout-ended")
    await expect(page.locator("#open-checkout")).to_have_count(0)
    await expect(page.get_by_role("button", name="Subscribe")).to_be_enabled()
