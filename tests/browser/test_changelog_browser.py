"""``/changelog`` in a real browser: the changelog as a page, under the CSP it is served with
(the ``page`` fixture fails the test on any console error, a CSP violation included), with no
accessibility violation at 1280 and 390 px; reached from the dashboard's footer (the API
explorer's link is checked without a browser: ``tests/gateway/ops/test_changelog.py``)."""

from playwright.async_api import Page, expect

from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.browser import DESKTOP, PHONE, Merchant


async def test_the_changelog_is_a_page_reached_from_the_dashboards_footer(
    page: Page, signed_up: Merchant
) -> None:
    await page.goto("/dashboard/")
    await page.get_by_role("contentinfo").get_by_role("link", name="Changelog").click()
    await page.wait_for_url("**/changelog")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Changelog")
    await expect(page.get_by_role("heading", name="Version policy")).to_be_visible()
    # Styled by its own stylesheet, not the browser's defaults.
    width = await page.locator("main").evaluate("e => getComputedStyle(e).maxWidth")
    assert width != "none"
    await assert_accessible(page, "changelog", widths=(DESKTOP, PHONE))
