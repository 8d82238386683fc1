"""The sections' bar at 390 px, in a real browser: it scrolls sideways, and the current section
is shown in it on every page, the last one (far past the phone's edge) included; at 1280 px the
bar does not scroll at all."""

from playwright.async_api import Page

from tests.fixtures.browser import DESKTOP, PHONE, Merchant

CURRENT = 'nav.nav a[aria-current="page"]'


async def _shown(page: Page) -> tuple[float, float, float]:
    """The current section's left and right edges and the viewport's width."""
    box = await page.locator(CURRENT).bounding_box()
    assert box is not None
    return (
        box["x"],
        box["x"] + box["width"],
        page.viewport_size["width"] if page.viewport_size else 0,
    )


async def test_the_current_section_is_in_view_on_a_phone(page: Page, signed_up: Merchant) -> None:
    """Three pages loaded one after the other on one page at 390 px: each is its own load, the
    bar drawn afresh with its own section current (the last one, Go live, the farthest)."""
    await page.set_viewport_size(PHONE)
    for path in ["/dashboard/settings", "/dashboard/go-live", "/dashboard/"]:
        await page.goto(path)
        left, right, width = await _shown(page)
        # Within the viewport, to the pixel: the bar scrolled to its end leaves the last section
        # a fraction of one over (the layout's sub-pixel widths).
        assert left >= 0 and right <= width + 1, (path, left, right, width)


async def test_at_1280_px_the_bar_stays_where_it_is(page: Page, signed_up: Merchant) -> None:
    await page.set_viewport_size(DESKTOP)
    await page.goto("/dashboard/settings")
    scrolled = await page.locator("nav.nav").evaluate("bar => bar.scrollLeft")
    assert scrolled == 0
