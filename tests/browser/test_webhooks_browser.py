"""The webhook pages in a real browser, against a live gateway, a worker and a real receiver on
127.0.0.1: an endpoint made on the page receives a top-up sent over HTTP, the delivery and its
attempt show in the log, a failed delivery replayed from its page reaches the receiver with the
same ``webhook-id``, and failures are recovered since a time."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from playwright.async_api import Page
from standardwebhooks.webhooks import Webhook

from gateway.accounts import users
from gateway.store.engine import Database
from tests.fixtures.browser import Merchant, shoot
from tests.fixtures.core import local_client, wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import Receiver, Reply
from tests.fixtures.workers import RunningWorker


async def _key(db: Database, make_merchant: MakeMerchant, merchant: Merchant) -> dict[str, str]:
    """Headers with a staging key of the merchant signed up on the page."""
    user = await users.check_password(db, merchant.email, merchant.password)
    assert user is not None
    return (await make_merchant("staging", merchant_id=user.merchant_id)).headers


async def _reload_until(page: Page, selector: str, text: str) -> None:
    """Reload ``page`` until ``selector`` reads ``text`` (the log is written by the worker)."""

    async def shown() -> bool:
        await page.reload()
        return (await page.locator(selector).inner_text()).strip() == text

    await wait_until(shown, within=15, interval=0.2)


def _sent_ids(receiver: Receiver) -> list[str]:
    return [r.webhook_id for r in receiver.received]


async def _send(api: httpx.AsyncClient) -> None:
    body = {
        "platform": "claude",
        "amount_cents": 500,
        "recipient_email": f"r-{uuid.uuid4().hex[:8]}@example.com",
    }
    reply = await api.post("/topup/send", json=body)
    assert reply.status_code == 200, reply.text


async def test_an_endpoint_made_on_the_page_receives_shows_and_replays_deliveries(
    page: Page,
    signed_up: Merchant,
    gateway_url: str,
    worker: RunningWorker,
    receiver: Receiver,
    db: Database,
    make_merchant: MakeMerchant,
) -> None:
    headers = await _key(db, make_merchant, signed_up)
    await page.goto("/dashboard/webhooks")
    await shoot(page, "webhooks")

    await page.locator("#url").fill(receiver.url)
    await page.locator("#description").fill("Order notifications")
    await page.get_by_role("checkbox", name="topup.delivered").check()
    await page.get_by_role("button", name="Add endpoint").click()
    secret = (await page.locator("#secret").inner_text()).strip()
    assert secret.startswith("whsec_")
    await shoot(page, "webhooks-secret")
    await page.get_by_role("link", name="Done").click()
    await page.wait_for_url("**/dashboard/webhooks/endpoints/we_*")
    endpoint_page = page.url
    assert secret not in await page.content()
    await shoot(page, "webhooks-endpoint")

    async with local_client(base_url=f"{gateway_url}/api/public/v1", headers=headers) as api:
        # A top-up over HTTP with a staging key: the receiver gets it, signed with the secret.
        await _send(api)

        async def received(count: int) -> bool:
            return len(receiver.received) >= count

        await wait_until(lambda: received(1))
        first = receiver.received[0]
        Webhook(secret).verify(first.body, first.headers)

        await page.goto("/dashboard/webhooks/deliveries")
        await page.locator("table.deliveries a").first.click()
        await page.wait_for_url("**/dashboard/webhooks/deliveries/dlv_*")
        await _reload_until(page, "#delivery-status", "succeeded")
        attempt = page.locator("#attempt-1")
        assert "HTTP 200" in await attempt.inner_text()
        await attempt.get_by_text("Request").click()
        assert (
            f"webhook-id: {first.webhook_id}"
            in await attempt.locator(".request-headers").inner_text()
        )
        await shoot(page, "webhooks-delivery")

        # The receiver fails: every attempt of the next delivery fails, then it is replayed.
        receiver.respond = lambda _: Reply(status=500, body=b"receiver down")
        await _send(api)
        await wait_until(lambda: received(4))  # the schedule's three attempts
        failing = receiver.received[1].webhook_id
        assert _sent_ids(receiver)[1:] == [failing] * 3
        await page.goto("/dashboard/webhooks/deliveries?status=failed")
        await page.locator("table.deliveries a").first.click()
        await _reload_until(page, "#delivery-status", "failed")
        assert "receiver down" in await page.locator("#attempt-3").inner_text()
        await shoot(page, "webhooks-delivery-failed")

        receiver.respond = lambda _: Reply()
        await page.get_by_role("button", name="Replay").click()
        await page.wait_for_url("**?notice=replayed")
        await wait_until(lambda: received(5))
        assert receiver.received[4].webhook_id == failing  # the same webhook-id again
        await _reload_until(page, "#delivery-status", "succeeded")
        assert await page.locator(".attempt").count() == 4

    # A test event that fails, recovered from the endpoint's page since a minute ago (UTC).
    receiver.respond = lambda _: Reply(status=503, body=b"maintenance")
    await page.goto(endpoint_page)
    await page.get_by_role("button", name="Send a test event").click()
    await page.wait_for_url("**/dashboard/webhooks/deliveries/dlv_*?notice=test")
    await _reload_until(page, "#delivery-status", "failed")
    test_id = receiver.received[-1].webhook_id

    receiver.respond = lambda _: Reply()
    since = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    await page.goto(endpoint_page)
    await page.locator("#since").fill(since)
    await page.get_by_role("button", name="Replay failures").click()
    await page.wait_for_url("**?recovered=1")
    assert "Replayed 1 failed delivery." in await page.locator("main").inner_text()
    await shoot(page, "webhooks-recovered")

    async def recovered() -> bool:
        return _sent_ids(receiver).count(test_id) == 4

    await wait_until(recovered)

    # The throttle: shown on the page, set and lifted in the edit form.
    await page.goto(endpoint_page)
    assert (await page.locator("#throttle").inner_text()).strip() == "unthrottled"
    await page.locator("#throttle_per_second").fill("5")
    await page.get_by_role("button", name="Save").click()
    await page.wait_for_url("**?notice=saved")
    assert "5 deliveries a second" in await page.locator("#throttle").inner_text()
    assert await page.locator("#throttle_per_second").input_value() == "5"
    await page.locator("#throttle_per_second").fill("")
    await page.get_by_role("button", name="Save").click()
    await page.wait_for_url("**?notice=saved")
    assert (await page.locator("#throttle").inner_text()).strip() == "unthrottled"
