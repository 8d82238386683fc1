"""The policy template pages in Chromium at 1280 and 390 px, checked by axe: a template made
with the policy form, a key made under it from the key form, the edit page whose only button
previews, the preview naming the key and what it would lose, and the save after it."""

from playwright.async_api import Page, expect

from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.browser import DESKTOP, PHONE, Merchant


async def test_a_template_is_made_named_previewed_and_saved(
    page: Page, signed_up: Merchant
) -> None:
    await page.goto("/dashboard/keys")
    await page.get_by_role("link", name="Policy templates").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Policy templates")
    await assert_accessible(page, "policy-templates-empty", widths=(DESKTOP, PHONE))

    await page.get_by_label("Name").fill("support agents")
    await page.locator("#f-limit_daily").fill("20")
    await page.get_by_role("button", name="Make template").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Template support agents")
    template_url = page.url

    await page.goto("/dashboard/keys")
    await page.get_by_label("Name").fill("agent seven")
    await page.get_by_label("Policy template").select_option(label="support agents")
    await page.get_by_role("button", name="Make key").click()
    await expect(page.locator("#new-key")).to_be_visible()

    await page.goto(template_url)
    await expect(page.locator("#references")).to_contain_text("agent seven")
    await expect(page.get_by_role("button", name="Save template")).to_have_count(0)
    await assert_accessible(page, "policy-template", widths=(DESKTOP, PHONE))

    await page.get_by_role("checkbox", name="topup:read", exact=True).uncheck()
    await page.locator("#f-limit_daily").fill("10")
    await page.get_by_role("button", name="Preview changes").click()
    preview = page.locator("#preview")
    await expect(preview).to_contain_text("agent seven")
    await expect(preview.locator("[data-field=limits]")).to_contain_text("may do less")
    await expect(preview.locator("[data-field=scopes]")).to_contain_text("may do less")
    await assert_accessible(page, "policy-template-preview", widths=(DESKTOP, PHONE))

    await page.get_by_role("button", name="Save template").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved")
    await expect(page.locator("#record")).to_contain_text("updated")
    await expect(page.locator("#f-limit_daily")).to_have_value("10")
    await page.goto("/dashboard/keys/templates")
    await expect(page.locator("[data-template]")).to_contain_text("$10.00 daily")
    await assert_accessible(page, "policy-templates", widths=(DESKTOP, PHONE))
