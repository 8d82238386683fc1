"""The staging test inbox in a real browser: its URL copied from the Webhooks page becomes an
endpoint, a top-up sent over HTTP reaches it through the worker, and the signed request shows
on the open page, marked verified, without a reload."""

import uuid

from playwright.async_api import Page

from gateway.accounts import users
from gateway.store.engine import Database
from tests.fixtures.accessibility import axe_findings
from tests.fixtures.browser import Merchant, shoot
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.workers import RunningWorker


async def test_a_top_up_to_the_copied_inbox_url_shows_on_the_page_verified_without_a_reload(
    page: Page,
    signed_up: Merchant,
    gateway_url: str,
    worker: RunningWorker,
    db: Database,
    make_merchant: MakeMerchant,
) -> None:
    user = await users.check_password(db, signed_up.email, signed_up.password)
    assert user is not None
    key = await make_merchant("staging", merchant_id=user.merchant_id)
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    await page.goto("/dashboard/webhooks")
    shown = (await page.locator("#inbox-url").inner_text()).strip()
    assert shown.startswith(f"{gateway_url}/api/public/v1/webhooks/inbox/")
    await page.get_by_role("button", name="Copy the inbox URL").click()
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert copied == shown

    await page.locator("#url").fill(copied)
    await page.get_by_role("checkbox", name="topup.delivered").check()
    await page.get_by_role("button", name="Add endpoint").click()
    assert (await page.locator("#secret").inner_text()).strip().startswith("whsec_")
    await page.get_by_role("link", name="Done").click()
    await page.wait_for_url("**/dashboard/webhooks/endpoints/we_*")

    await page.goto("/dashboard/webhooks")
    await page.evaluate("window.stillThisPage = true")
    body = {
        "platform": "claude",
        "amount_cents": 500,
        "recipient_email": f"r-{uuid.uuid4().hex[:8]}@example.com",
    }
    async with local_client(base_url=f"{gateway_url}/api/public/v1") as api:
        sent = await api.post("/topup/send", json=body, headers=key.headers)
        assert sent.status_code == 200, sent.text

    arrived = page.locator('#inbox-requests li[data-signature="verified"]')
    await arrived.wait_for(timeout=20_000)
    assert await page.evaluate("window.stillThisPage === true")  # no reload on the way
    await arrived.locator("summary").click()
    text = await arrived.inner_text()
    assert "signature verified" in text and "webhook-signature" in text
    assert "topup.delivered" in text
    await shoot(page, "webhooks-inbox")
    # The section with a request open, as axe sees it: nothing serious or critical.
    violations = (await axe_findings(page))["violations"]
    assert not [v["id"] for v in violations if v.get("impact") in ("serious", "critical")]
