"""``/docs`` in a real browser, under the CSP it is served with: Swagger UI loads from the
gateway alone, Authorize takes a staging key, and Try it out on ``GET /balance`` shows the
envelope. The ``page`` fixture fails the test on any console error (a CSP violation is one)."""

import json

from playwright.async_api import Page, Request

from tests.fixtures.browser import shoot
from tests.fixtures.merchants import MakeMerchant


async def test_docs_authorizes_with_a_staging_key_and_tries_get_balance(
    page: Page, gateway_url: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    fetched: list[str] = []

    def seen(request: Request) -> None:
        fetched.append(request.url)

    page.on("request", seen)
    # Swagger UI parses its 1.7 MB bundle and the whole document (1.2 MB), and redraws an
    # operation as it opens: about 4 s to the first drawing on a quiet machine, and on one busy
    # with the rest of the suite that drawing has taken over 45 s, and a click on an operation as
    # long for the page's thread. The bound rules out a page that never draws, not a slow one.
    page.set_default_timeout(150_000)
    reply = await page.goto("/docs")
    assert reply is not None and reply.status == 200
    assert "script-src 'self'" in (await reply.all_headers())["content-security-policy"]
    await page.locator(".swagger-ui .info .title").wait_for()

    await page.locator(".auth-wrapper button.authorize").click()
    dialog = page.locator(".modal-ux")
    # The first scheme is the merchant key (apiKey); the second the operator token.
    await dialog.locator("input").first.fill(merchant.key)
    await dialog.locator("button.modal-btn.authorize").first.click()
    await dialog.locator("button.btn-done").first.click()

    # Every tag of the document is drawn (all open at once, Swagger UI stopped part way down).
    spec = await (await page.request.get("/api/public/v1/openapi.json")).json()
    shown = await page.locator(".opblock-tag").all_inner_texts()
    assert [line.split("\n")[0] for line in shown] == [tag["name"] for tag in spec["tags"]]
    await page.locator("#operations-tag-wallet").click()  # each tag opens when asked
    path = '[data-path="/api/public/v1/balance"]'
    operation = page.locator(f".opblock-get:has(.opblock-summary-path{path})")
    await operation.locator(".opblock-summary").click()
    await operation.get_by_role("button", name="Try it out").click()
    await operation.get_by_role("button", name="Execute").click()
    answer = operation.locator(".live-responses-table .response")
    await answer.locator(".response-col_status").get_by_text("200").wait_for()
    body = json.loads(await answer.locator(".response-col_description pre").first.inner_text())
    assert body["success"] is True and body["code"] == 1000
    assert body["data"]["env"] == "staging" and body["data"]["balance_cents"] == 100_000

    # Everything the page loaded, the call included, came from the gateway itself.
    assert fetched and all(url.startswith(gateway_url + "/") for url in fetched), fetched
    assert f"{gateway_url}/api/public/v1/balance" in fetched
    await shoot(page, "docs")


async def test_docs_in_chinese_draws_the_operations_in_chinese(
    page: Page, gateway_url: str
) -> None:
    """The explorer a Chinese reader opens (``?lang=zh``) draws each operation's summary from
    the Chinese document, under the same CSP."""
    page.set_default_timeout(150_000)
    reply = await page.goto("/docs?lang=zh")
    assert reply is not None and reply.status == 200
    await page.locator(".swagger-ui .info .title").wait_for()
    await page.locator("#operations-tag-wallet").click()
    path = '[data-path="/api/public/v1/balance"]'
    operation = page.locator(f".opblock-get:has(.opblock-summary-path{path})")
    await (
        operation.locator(".opblock-summary-description")
        .get_by_text("密钥所在环境的钱包余额")
        .wait_for()
    )
    await shoot(page, "docs-zh")
