"""The pages a person reads once, in a real browser at 1280 and 390 px with axe: the Wallet
page (who makes plans and channels, the funding history's channel and what was paid, the
test clock's note on relative times), the headings' one form, and a phone's nav that shows it
scrolls."""

import re

from playwright.async_api import Page, expect

from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.browser import DESKTOP, PHONE, Merchant


async def test_the_wallet_reads_once_at_both_widths(page: Page, signed_up: Merchant) -> None:
    await page.goto("/dashboard/wallet")
    await page.get_by_label("Pack").select_option("pack_pro")
    await page.get_by_role("button", name="Go to checkout").click()
    await page.wait_for_url("**/billing/sandbox/checkout/ord_*")
    await page.goto("/dashboard/wallet")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Wallet · Staging")
    await expect(page.locator("#who-offers")).to_contain_text("operator")
    row = page.locator("#history tbody tr").first
    await expect(row).to_contain_text("through Sandbox")
    await expect(row.locator("td.num").nth(1)).to_have_text("$0.00 (of $20.00)")
    await expect(page.locator("#clock-relative")).to_contain_text("count from this clock's time")
    await assert_accessible(page, "wallet-units", widths=(DESKTOP, PHONE))
    for path, name in (("/dashboard/webhooks", "Webhooks"), ("/dashboard/topups", "Top-ups")):
        await page.goto(path)
        await expect(page.get_by_role("heading", level=1)).to_have_text(f"{name} · Staging")


async def test_a_phones_nav_shows_that_it_scrolls(page: Page, signed_up: Merchant) -> None:
    await page.set_viewport_size(PHONE)
    await page.goto("/dashboard/")
    nav = page.get_by_role("navigation", name="Sections")
    wider = await nav.evaluate("e => e.scrollWidth > e.clientWidth")
    assert wider  # a phone cannot show every section at once
    shades = await nav.evaluate("e => getComputedStyle(e).backgroundImage")
    assert len(re.findall(r"linear-gradient", shades)) == 4, shades
    # The covers move with the links and the shades stay: "local" then "scroll".
    attached = await nav.evaluate("e => getComputedStyle(e).backgroundAttachment")
    assert attached.replace(" ", "").startswith("local,local,scroll,scroll"), attached
    await nav.get_by_role("link", name="Go live").scroll_into_view_if_needed()
    assert await nav.evaluate("e => e.scrollLeft") > 0
    await assert_accessible(page, "nav-phone", widths=(PHONE,))
