"""Live everywhere: the top-ups list and a webhook endpoint's delivery log update without a
reload, through the same stream as the overview; a test event's result appears in place; the
navigation's count of sends awaiting approval changes on any page."""

from playwright.async_api import Page, expect

from tests.fixtures.browser import Merchant, shoot
from tests.fixtures.core import local_client
from tests.fixtures.workers import RunningWorker

# Under a stream's renewal (its lifetime is 60 s) and a closed one's reopening (20 to 40 s): what
# it rules out is an update that was not pushed, not a busy machine's seconds.
WITHIN_MS = 10_000


async def _key(page: Page) -> str:
    await page.goto("/dashboard/keys")
    await page.get_by_label("Name").fill("live pages")
    await page.get_by_role("checkbox", name="webhooks", exact=True).check()
    await page.get_by_role("button", name="Make key").click()
    return (await page.locator("#new-key").inner_text()).strip()


async def test_the_top_ups_list_shows_a_new_send_without_a_reload(
    page: Page, signed_up: Merchant, gateway_url: str
) -> None:
    key = await _key(page)
    await page.goto("/dashboard/topups")
    await expect(page.locator("body[data-live-at]")).to_have_count(1)  # the stream is open
    loaded_at = await page.evaluate("performance.timeOrigin")
    async with local_client(base_url=f"{gateway_url}/api/public/v1") as api:
        sent = await api.post(
            "/topup/send",
            headers={"Authorization": f"Bearer {key}"},
            json={"platform": "gemini", "amount_cents": 400, "recipient_email": "l@example.com"},
        )
    assert sent.status_code == 200, sent.text
    txn = sent.json()["transaction_id"]
    await expect(page.locator(f'[data-topup="{txn}"]')).to_be_visible(timeout=WITHIN_MS)
    assert await page.evaluate("performance.timeOrigin") == loaded_at
    await shoot(page, "topups-live")


async def test_a_test_events_result_appears_in_place(
    page: Page, signed_up: Merchant, worker: RunningWorker
) -> None:
    await page.goto("/dashboard/webhooks")
    # Nothing listens on port 1: each attempt fails at once, and the schedule runs out.
    await page.get_by_role("textbox", name="URL").fill("http://127.0.0.1:1/hook")
    await page.get_by_role("button", name="Add endpoint").click()
    await page.get_by_role("link", name="Done").click()  # the secret shown once, then its page
    await page.get_by_role("button", name="Send a test event").click()
    # The test's delivery page, rendered while its attempts (0, 0.4, 0.8 s apart) still run.
    await expect(page.get_by_role("heading", name="Delivery", exact=True)).to_be_visible()
    loaded_at = await page.evaluate("performance.timeOrigin")
    assert await page.locator("#delivery-status").inner_text() != "failed"
    await expect(page.locator("#delivery-status")).to_have_text("failed", timeout=10_000)
    await expect(page.locator("#attempt-count")).to_have_text("3")
    await expect(page.locator('[data-live-page="attempts"] article.attempt')).to_have_count(3)
    assert await page.evaluate("performance.timeOrigin") == loaded_at
    await shoot(page, "endpoint-test-live")


async def test_the_navigation_counts_held_sends_without_a_reload(
    page: Page, signed_up: Merchant, gateway_url: str
) -> None:
    await page.goto("/dashboard/keys")
    await page.get_by_label("Name").fill("held")
    await page.get_by_label("Hold for approval above ($)").fill("5")
    await page.get_by_role("button", name="Make key").click()
    key = (await page.locator("#new-key").inner_text()).strip()
    # A page with no live region of its own: only the navigation listens.
    await page.goto("/dashboard/settings")
    await expect(page.locator("body[data-live-at]")).to_have_count(1)  # the stream is open
    await expect(page.locator("#pending-approvals")).to_have_count(0)
    loaded_at = await page.evaluate("performance.timeOrigin")
    async with local_client(base_url=f"{gateway_url}/api/public/v1") as api:
        for cents in (700, 900):
            sent = await api.post(
                "/topup/send",
                headers={"Authorization": f"Bearer {key}"},
                json={
                    "platform": "gemini",
                    "amount_cents": cents,
                    "recipient_email": "h@example.com",
                },
            )
            assert sent.json()["status"] == "pending_approval", sent.text
    badge = page.locator("#pending-approvals")
    await expect(badge).to_have_text("2 awaiting approval", timeout=WITHIN_MS)
    assert await page.evaluate("performance.timeOrigin") == loaded_at
    await shoot(page, "navigation-approvals-live")
