"""The Fulfilment form in Chromium at 1280 and 390 px: each label above its box (never beside
the previous one), only the chosen provider's fields, a refusal beside its field and the input
kept, post/redirect/get after a save, and no serious or critical axe violation."""

import pytest
from playwright.async_api import Page, ViewportSize

from tests.fixtures.accessibility import axe_findings
from tests.fixtures.browser import DESKTOP, PHONE, Merchant
from tests.fixtures.upstreams import NEWAPI_ADMIN_TOKEN, NewApiStandIn

NEWAPI_FIELDS = (
    "base_url",
    "access_token",
    "user_id",
    "quota_per_usd",
    "newapi_redeem_url",
    "newapi_redeem_instructions",
)
OPENROUTER_FIELDS = (
    "management_key",
    "openrouter_base_url",
    "openrouter_redeem_url",
    "openrouter_redeem_instructions",
)


async def _labels_above(page: Page, platform: str, fields: tuple[str, ...]) -> None:
    for name in fields:
        box = await page.locator(f"#{name}-{platform}").bounding_box()
        label = await page.locator(f"label[for={name}-{platform}]").bounding_box()
        assert box is not None and label is not None, name
        assert label["y"] + label["height"] <= box["y"] + 0.5, (name, label, box)
        assert abs(label["x"] - box["x"]) <= 4, (name, label, box)


async def _no_blocking_violation(page: Page) -> None:
    results = await axe_findings(page)
    blocking = [
        f"{v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"]
        if v.get("impact") in {"serious", "critical"}
    ]
    assert not blocking, blocking


async def test_labels_sit_above_their_boxes_and_only_the_chosen_provider_shows(
    page: Page, signed_up: Merchant
) -> None:
    """At 1280 px, then at 390 px: the page loaded afresh at each width (nothing chosen yet),
    for one merchant, as choosing a provider in the browser saves nothing."""
    for viewport in (DESKTOP, PHONE):
        await page.set_viewport_size(viewport)
        await page.goto("/dashboard/fulfilment")
        assert not await page.locator("#base_url-claude").is_visible()  # the voucher: none
        await page.locator("#provider-claude").select_option("newapi")
        await _labels_above(page, "claude", NEWAPI_FIELDS)
        assert not await page.locator("#management_key-claude").is_visible()
        await page.locator("#provider-claude").select_option("openrouter")
        await _labels_above(page, "claude", OPENROUTER_FIELDS)
        assert not await page.locator("#access_token-claude").is_visible()
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, viewport
        await _no_blocking_violation(page)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
async def test_a_refusal_sits_beside_its_field_keeps_the_input_and_a_save_redirects(
    page: Page,
    signed_up: Merchant,
    newapi_standin: tuple[NewApiStandIn, str],
    viewport: ViewportSize,
) -> None:
    _, root = newapi_standin
    await page.set_viewport_size(viewport)
    await page.goto("/dashboard/fulfilment")
    await page.locator("#provider-claude").select_option("newapi")
    await page.locator("#base_url-claude").fill(root)
    await page.locator("#access_token-claude").fill(NEWAPI_ADMIN_TOKEN)
    await page.locator("#user_id-claude").fill("1")
    await page.locator("#newapi_redeem_url-claude").fill("http://newapi.example.com/topup")
    await page.get_by_role("button", name="Save Claude", exact=True).click()

    error = page.locator("#newapi_redeem_url-claude-error")
    assert "must be https" in await error.inner_text()
    box = await page.locator("#newapi_redeem_url-claude").bounding_box()
    beside = await error.bounding_box()
    assert box is not None and beside is not None
    assert 0 <= beside["y"] - (box["y"] + box["height"]) <= 40  # right below its box
    described = await page.locator("#newapi_redeem_url-claude").get_attribute("aria-describedby")
    assert described is not None and "newapi_redeem_url-claude-error" in described
    listed = await page.locator("#errors-claude").inner_text()
    assert "Where recipients redeem (New API)" in listed and "redeem_url" not in listed
    # The input stays, the token excepted.
    assert await page.locator("#base_url-claude").input_value() == root
    assert await page.locator("#user_id-claude").input_value() == "1"
    assert await page.locator("#access_token-claude").input_value() == ""
    await _no_blocking_violation(page)

    await page.locator("#access_token-claude").fill(NEWAPI_ADMIN_TOKEN)
    await page.locator("#newapi_redeem_url-claude").fill(root + "/console/topup")
    await page.get_by_role("button", name="Save Claude", exact=True).click()
    await page.wait_for_url("**/dashboard/fulfilment?saved=claude*")
    assert "Provider saved" in await page.locator(".notice").first.inner_text()
    assert await page.locator("#newapi_redeem_url-claude").input_value() == (
        root + "/console/topup"
    )
    assert NEWAPI_ADMIN_TOKEN not in await page.content()
    # A reload is a GET of the page: nothing is posted again.
    reloaded = await page.reload()
    assert reloaded is not None and reloaded.request.method == "GET"
    await _labels_above(page, "claude", NEWAPI_FIELDS)
    await _no_blocking_violation(page)
