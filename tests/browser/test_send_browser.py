"""The person's job from the dashboard alone, in Chromium: a key made, a top-up sent from the
Send page (the reply's envelope shown), its voucher read from the staging mailbox's e-mail, the
recipient's page showing the balance, then the voucher taken back on the Wallet page and the
recipient's page showing it off their balance. The Send page and the Wallet page pass axe at
1280 and 390 px."""

import re

from playwright.async_api import Page, expect

from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.browser import DESKTOP, PHONE, Merchant
from tests.fixtures.core import wait_until
from tests.fixtures.workers import StartWorker

VOUCHER = re.compile(r"ATU-TEST(?:-[0-9A-Z]{4}){3,}")


async def test_send_from_the_dashboard_then_take_the_voucher_back_on_the_wallet(
    page: Page, signed_up: Merchant, start_worker: StartWorker
) -> None:
    await start_worker()
    await page.goto("/dashboard/keys")
    await page.get_by_label("Name").fill("shop")
    await page.get_by_role("button", name="Make key").click()
    await expect(page.locator("#new-key")).to_contain_text("ak_staging_")

    await page.goto("/dashboard/topups")
    await page.get_by_role("link", name="Send a top-up").click()
    await page.wait_for_url("**/dashboard/topups/send")
    await assert_accessible(page, "send-form", widths=(DESKTOP, PHONE))
    await page.get_by_label("Platform").select_option("claude")
    await page.get_by_label("Amount (USD)").fill("7.00")
    await page.get_by_label("Recipient's e-mail").fill("max@example.com")
    await page.get_by_label("Note (optional)").fill("For the hackathon")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#reply-code")).to_have_text("1001")
    await assert_accessible(page, "send-reply", widths=(DESKTOP, PHONE))

    # The e-mail, in the staging mailbox: its voucher and the recipient's link.
    await page.goto("/dashboard/mail")
    mails = page.locator("tr", has_text="max@example.com").get_by_role("link", name="voucher")

    async def mailed() -> bool:
        await page.reload()
        return await mails.count() > 0

    await wait_until(mailed, within=20, interval=0.5)
    await mails.first.click()
    body = await page.locator("main").inner_text()
    voucher = VOUCHER.search(body)
    assert voucher is not None, body
    recipient = await page.locator("#mail-link").get_attribute("href")
    assert recipient is not None and "/dashboard/recipient/" in recipient
    await page.goto(recipient)
    await expect(page.locator("#balances")).to_contain_text("$7.00")

    await page.goto("/dashboard/wallet")
    await page.get_by_label("Voucher", exact=True).fill(voucher.group())
    await page.get_by_role("button", name="Take it back").click()
    await expect(page.locator("#voucher-done")).to_contain_text("$7.00 of Claude credit")
    await assert_accessible(page, "wallet-take-back", widths=(DESKTOP, PHONE))
    await page.goto(recipient)
    await expect(page.locator("#balances")).to_contain_text("$0.00")


async def test_a_new_merchant_makes_its_key_on_the_send_page_and_a_freeze_is_the_sends(
    page: Page, signed_up: Merchant
) -> None:
    """Signed up with no key: the Send page makes one in place and comes back with it picked;
    with the environment frozen, the send's refusal says so and links the Kill switch page
    (not "Please correct"). Both states pass axe at 1280 and 390 px."""
    await page.goto("/dashboard/topups/send")
    await assert_accessible(page, "send-no-key", widths=(DESKTOP, PHONE))
    await page.get_by_role("button", name="Make a key to send with").click()
    await page.wait_for_url("**/dashboard/topups/send?key=*")
    await expect(page.get_by_label("Send as key")).to_contain_text("Dashboard sends")

    await page.goto("/dashboard/freeze")
    await page.get_by_role("button", name="Freeze staging").click()
    await page.wait_for_url("**/dashboard/freeze?done=frozen*")
    await page.goto("/dashboard/topups/send")
    await page.get_by_label("Amount (USD)").fill("7.00")
    await page.get_by_label("Recipient's e-mail").fill("max@example.com")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#reply-code")).to_have_text("2360")
    refusal = page.locator("#send-error")
    await expect(refusal).to_contain_text("The send was refused:")
    await expect(refusal).not_to_contain_text("Please correct")
    await assert_accessible(page, "send-frozen", widths=(DESKTOP, PHONE))
    await refusal.get_by_role("link", name="Kill switch page").click()
    await page.wait_for_url("**/dashboard/freeze")
