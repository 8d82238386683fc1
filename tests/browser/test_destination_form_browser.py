"""The endpoint form per destination type in a real browser: choosing a type shows its fields
alone; a field the type's rule refuses is said beside it, with the type still chosen; a Redis
stream endpoint made on the page gets a test event a consumer verifies with its secret."""

import uuid

from playwright.async_api import Page
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook

from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.browser import DESKTOP, PHONE, Merchant, shoot
from tests.fixtures.core import wait_until
from tests.fixtures.redis import RedisServer
from tests.fixtures.workers import RunningWorker


async def test_a_destination_type_chosen_shows_its_fields_and_its_endpoint_receives(
    page: Page, signed_up: Merchant, worker: RunningWorker, private_redis: RedisServer
) -> None:
    await page.goto("/dashboard/webhooks")
    assert await page.locator("#url").is_visible()
    assert not await page.locator("#dest-rabbitmq-exchange").is_visible()

    await page.locator("#type").select_option("nats")
    assert not await page.locator("#url").is_visible()
    assert await page.locator("#dest-nats-subject").is_visible()
    assert not await page.locator("#dest-rabbitmq-exchange").is_visible()
    await page.locator("#dest-nats-url").fill("nats://127.0.0.1:4222")
    await page.get_by_role("button", name="Add endpoint").click()
    # Refused by the type's rule (a subject is needed), beside its field, the type kept.
    said = page.locator("#dest-nats-subject-error")
    await said.wait_for()
    assert (await said.inner_text()).strip()
    assert await page.locator("#type").input_value() == "nats"
    assert await page.locator("#dest-nats-subject").is_visible()
    await shoot(page, "webhooks-destination-refused")

    stream = f"browser-{uuid.uuid4().hex}"
    await page.locator("#type").select_option("redis_stream")
    await page.locator("#dest-redis_stream-url").fill(f"{private_redis.url}/0")
    await page.locator("#dest-redis_stream-stream").fill(stream)
    await page.get_by_role("button", name="Add endpoint").click()
    secret = (await page.locator("#secret").inner_text()).strip()
    assert secret.startswith("whsec_")
    await page.get_by_role("link", name="Done").click()
    await page.wait_for_url("**/dashboard/webhooks/endpoints/we_*")
    assert stream in await page.locator("#destination").inner_text()

    await page.locator("#send-test").click()
    redis = Redis.from_url(private_redis.url)
    try:

        async def arrived() -> bool:
            return bool(await redis.xlen(stream))

        await wait_until(arrived, within=15, interval=0.1)
        [(_, fields)] = await redis.xrange(stream)
    finally:
        await redis.aclose()
    text = {key.decode(): value.decode() for key, value in fields.items()}
    body = text.pop("body")
    payload = Webhook(secret).verify(body, text)
    assert payload["type"] == "webhook.test"


async def test_a_broker_endpoints_edit_form_moves_its_address_keeping_its_password_in_place(
    page: Page, signed_up: Merchant, private_redis: RedisServer
) -> None:
    """On the endpoint's page, the edit form shows the Redis stream's fields as saved, the URL's
    password as ***: another stream saves with the password kept; another host with the
    password masked is refused beside the URL, and typed, it moves; the password is never on
    the page."""
    port = private_redis.url.rsplit(":", 1)[1]
    redis = Redis.from_url(private_redis.url)
    await redis.config_set("requirepass", "browser-secret")
    await redis.aclose()
    await page.goto("/dashboard/webhooks")
    await page.locator("#type").select_option("redis_stream")
    await page.locator("#dest-redis_stream-url").fill(
        f"redis://default:browser-secret@127.0.0.1:{port}/0"
    )
    await page.locator("#dest-redis_stream-stream").fill("before")
    await page.get_by_role("button", name="Add endpoint").click()
    await page.locator("#secret").wait_for()
    await page.get_by_role("link", name="Done").click()
    await page.wait_for_url("**/dashboard/webhooks/endpoints/we_*")

    url = page.locator("#dest-redis_stream-url")
    assert await url.input_value() == f"redis://default:***@127.0.0.1:{port}/0"
    await page.locator("#dest-redis_stream-stream").fill("after")
    await page.get_by_role("button", name="Save").click()
    await page.locator(".notice").wait_for()
    assert "stream: after" in await page.locator("#destination").inner_text()

    await url.fill(f"redis://default:***@localhost:{port}/0")
    await page.get_by_role("button", name="Save").click()
    said = page.locator("#dest-redis_stream-url-error")
    await said.wait_for()
    assert "anew" in await said.inner_text()
    assert "stream: after" in await page.locator("#destination").inner_text()
    await assert_accessible(page, "endpoint-broker-edit-refused", widths=(DESKTOP, PHONE))

    await url.fill(f"redis://default:browser-secret@localhost:{port}/0")
    await page.get_by_role("button", name="Save").click()
    await page.locator(".notice").wait_for()
    assert await url.input_value() == f"redis://default:***@localhost:{port}/0"
    assert "browser-secret" not in await page.content()
