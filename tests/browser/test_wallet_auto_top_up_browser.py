"""The Wallet page's auto top-up and low-balance alerts cards, in Chromium at 1280 and 390 px
with axe: a sandbox card is saved, then a threshold, a target and a monthly cap, and the card
says it is on; a target not above the threshold is refused in words; removing it forgets it.
Alert levels are set as dollars, shown highest first, and a repeated level is refused in words."""

from playwright.async_api import Page, expect

from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.browser import DESKTOP, PHONE, Merchant


async def test_auto_top_up_is_set_up_and_removed_from_the_wallet(
    page: Page, signed_up: Merchant
) -> None:
    await page.goto("/dashboard/wallet")
    card = page.locator("#auto-top-up")
    await expect(card.get_by_role("heading", name="Auto top-up")).to_be_visible()
    await card.get_by_label("Sandbox test card").select_option(label="Visa •••• 4242")
    await card.get_by_role("button", name="Save a payment method").click()
    await page.wait_for_url("**/dashboard/wallet?auto=card#auto-top-up")
    await expect(page.locator("#auto-notice")).to_have_text("Payment method saved.")
    await expect(page.locator("#auto-card")).to_have_text("Visa •••• 4242")

    await card.get_by_label("Threshold, in dollars").fill("50")
    await card.get_by_label("Top up to, in dollars").fill("40")
    await card.get_by_label("Monthly cap, in dollars").fill("500")
    await card.get_by_role("button", name="Save auto top-up").click()
    await page.wait_for_url("**/dashboard/wallet?auto=invalid#auto-top-up")
    await expect(page.locator("#auto-notice")).to_contain_text("a target above it")

    await card.get_by_label("Threshold, in dollars").fill("50")
    await card.get_by_label("Top up to, in dollars").fill("200")
    await card.get_by_label("Monthly cap, in dollars").fill("500")
    await card.get_by_role("button", name="Save auto top-up").click()
    await page.wait_for_url("**/dashboard/wallet?auto=saved#auto-top-up")
    await expect(page.locator("#auto-armed")).to_have_text("On")
    await expect(page.locator("#auto-month")).to_contain_text("500")

    levels = page.locator("#alerts")
    await levels.get_by_label("Levels, in dollars (up to 5, separated by commas)").fill("5, 5")
    await levels.get_by_role("button", name="Save alert levels").click()
    await page.wait_for_url("**/dashboard/wallet?levels=invalid#alerts")
    await expect(page.locator("#levels-notice")).to_contain_text("up to 5 different amounts")
    await levels.get_by_label("Levels, in dollars (up to 5, separated by commas)").fill("5, 50, 20")
    await levels.get_by_role("button", name="Save alert levels").click()
    await page.wait_for_url("**/dashboard/wallet?levels=saved#alerts")
    await expect(page.locator("#levels-now")).to_have_text("$50.00, $20.00, and $5.00")
    await assert_accessible(page, "wallet-auto-top-up", widths=(DESKTOP, PHONE))

    await card.get_by_role("button", name="Remove auto top-up").click()
    await page.wait_for_url("**/dashboard/wallet?auto=off#auto-top-up")
    await expect(page.locator("#auto-state")).to_have_count(0)
