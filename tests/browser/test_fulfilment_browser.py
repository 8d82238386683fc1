"""The Fulfilment page in a real browser, against a live gateway and a New API stand-in on
127.0.0.1: a provider saved on the page (its token never shown again), its connection tested,
and a refused token reported with the upstream's reason."""

from playwright.async_api import Page

from tests.fixtures.browser import Merchant, shoot
from tests.fixtures.upstreams import NEWAPI_ADMIN_TOKEN, NewApiStandIn


async def _save_newapi(page: Page, root: str, token: str) -> None:
    await page.locator("#provider-claude").select_option("newapi")
    await page.locator("#base_url-claude").fill(root)
    await page.locator("#access_token-claude").fill(token)
    await page.locator("#user_id-claude").fill("1")
    await page.get_by_role("button", name="Save Claude", exact=True).click()


async def test_a_provider_saved_on_the_page_is_tested_and_its_token_never_shown(
    page: Page, signed_up: Merchant, newapi_standin: tuple[NewApiStandIn, str]
) -> None:
    newapi, root = newapi_standin
    await page.goto("/dashboard/fulfilment")
    assert (
        await page.locator("#platform-claude [data-provider]").get_attribute("data-provider")
        == "voucher"
    )
    await _save_newapi(page, root, NEWAPI_ADMIN_TOKEN)
    assert "Provider saved" in await page.locator(".notice").inner_text()
    assert (
        await page.locator("#platform-claude [data-provider]").get_attribute("data-provider")
        == "newapi"
    )
    assert NEWAPI_ADMIN_TOKEN not in await page.content()
    await shoot(page, "fulfilment")

    await page.locator("#platform-claude").get_by_role("button", name="Test connection").click()
    result = page.locator("#platform-claude [data-test-result]")
    assert (await result.inner_text()).startswith("Connected to New API in")
    assert newapi.faults.calls == 1

    await _save_newapi(page, root, "a-wrong-token")
    await page.locator("#platform-claude").get_by_role("button", name="Test connection").click()
    refused = await page.locator("#platform-claude [data-test-result]").inner_text()
    assert "New API refused the credentials." in refused
    assert "a-wrong-token" not in await page.content()


async def test_a_bad_upstream_url_is_refused_on_the_page(page: Page, signed_up: Merchant) -> None:
    await page.goto("/dashboard/fulfilment")
    await page.locator("#provider-gemini").select_option("openrouter")
    await page.locator("#management_key-gemini").fill("sk-or-v1-x")
    await page.locator("#openrouter_base_url-gemini").fill("http://10.0.0.1/api/v1")
    await page.get_by_role("button", name="Save Gemini", exact=True).click()
    alert = await page.locator("#platform-gemini [role=alert]").inner_text()
    assert "Upstream URL invalid: URL host resolves to 10.0.0.1, which is private" in alert
    assert (
        await page.locator("#platform-gemini [data-provider]").get_attribute("data-provider")
        == "voucher"
    )
