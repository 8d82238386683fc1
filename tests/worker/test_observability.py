"""The worker in production's view: one JSON line and one metric per attempt, nothing secret."""

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.ops.logs import JsonFormatter
from gateway.ops.metrics import scrape
from gateway.store.engine import Database
from gateway.values.settings import Settings
from keys import decode_webhook_secret
from tests.fixtures.core import wait_until
from tests.fixtures.deliveries import attempts_of
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import Receiver, Reply, make_endpoint
from tests.fixtures.workers import StartWorker

EMAIL = "Carol.Jones@Example.com"
SEND = {"platform": "claude", "amount_cents": 900, "recipient_email": EMAIL}


@pytest.fixture
async def logged_client(hook_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with its access log and metrics on, as in production."""
    settings = hook_settings.model_copy(update={"access_log": True, "metrics": True})
    async with LifespanManager(create_app(settings)) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gateway.test/api/public/v1"
        ) as http:
            yield http


def _attempt_metrics(text: bytes) -> dict[tuple[str, str], float]:
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name in (
                "aitopup_webhook_delivery_attempts_total",
                "aitopup_webhook_delivery_attempt_duration_seconds_count",
            ):
                found[(sample.name, sample.labels["outcome"])] = sample.value
    return found


async def test_a_failed_attempt_is_logged_and_counted_without_secrets(
    logged_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    await start_worker()
    receiver.respond = lambda _: Reply(status=500, body=b"boom")
    merchant = await make_merchant()
    endpoint = await make_endpoint(logged_client, merchant, receiver.url)
    before = _attempt_metrics(await scrape(None))

    sent = await logged_client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert sent.status_code == 200, sent.text
    voucher = sent.json()["data"]["voucher_code"]
    assert voucher
    delivery_id = ""

    async def first_attempt_logged() -> bool:
        nonlocal delivery_id
        if not receiver.received:
            return False
        delivery_id = receiver.received[0].headers["x-aitopup-delivery"]
        return any(r.name == "aitopup.delivery" for r in caplog.records) and bool(
            await attempts_of(db, delivery_id)
        )

    await wait_until(first_attempt_logged)

    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    parsed = [json.loads(line) for line in lines]
    [attempt, *_] = [p for p in parsed if p["logger"] == "aitopup.delivery"]
    assert attempt["msg"] == "delivery attempt"
    assert attempt["delivery_id"] == delivery_id
    assert attempt["endpoint_id"] == endpoint["id"]
    assert (attempt["attempt"], attempt["trigger"], attempt["status"]) == (1, "auto", 500)
    assert (attempt["outcome"], attempt["error"]) == ("retrying", "HTTP 500")
    assert isinstance(attempt["duration_ms"], int)
    assert any(p["logger"] == "aitopup.access" for p in parsed)  # the gateway's lines are here too

    secret = endpoint["secret"]
    forbidden = {
        "API key": merchant.key,
        "webhook secret": secret,
        "webhook secret's key": secret.removeprefix("whsec_"),
        "voucher code": voucher,
        "recipient e-mail": EMAIL,
    }
    everything = "\n".join(lines).lower()
    for what, value in forbidden.items():
        assert value.lower() not in everything, f"the logs hold the {what}"
    assert decode_webhook_secret(secret).hex() not in everything
    assert receiver.received[0].body.decode().lower() not in everything  # no request body

    after = _attempt_metrics(await scrape(None))

    def moved(name: str, outcome: str) -> float:
        key: Any = (name, outcome)
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert moved("aitopup_webhook_delivery_attempts_total", "retrying") >= 1
    assert moved("aitopup_webhook_delivery_attempt_duration_seconds_count", "retrying") >= 1


@pytest.mark.parametrize("log_successes", [False, True])
async def test_a_success_is_counted_and_logged_only_when_asked(
    logged_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
    caplog: pytest.LogCaptureFixture,
    log_successes: bool,
) -> None:
    caplog.set_level(logging.INFO)
    await start_worker(webhook_log_successes=log_successes)
    merchant = await make_merchant()
    await make_endpoint(logged_client, merchant, receiver.url)
    before = _attempt_metrics(await scrape(None))
    sent = await logged_client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert sent.status_code == 200, sent.text

    async def recorded() -> bool:
        if not receiver.received:
            return False
        delivery_id = receiver.received[0].headers["x-aitopup-delivery"]
        return bool(await attempts_of(db, delivery_id))

    await wait_until(recorded)
    after = _attempt_metrics(await scrape(None))
    key: Any = ("aitopup_webhook_delivery_attempts_total", "succeeded")
    assert after.get(key, 0.0) - before.get(key, 0.0) == 1
    lines = [r for r in caplog.records if r.name == "aitopup.delivery"]
    assert [getattr(r, "outcome", None) for r in lines] == (["succeeded"] if log_successes else [])
