"""The clients a gateway opens: Redis is connected on first use, so a gateway starts and serves
while Redis is down, and finds it once it answers; closing them at the end is bounded, whatever
Redis does."""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from gateway import outbox
from gateway import services as services_module
from gateway.key_requests import FLUSH_SECONDS
from gateway.lockout import RECHECK_SECONDS
from gateway.ratelimit import Limit
from gateway.redis_client import ANSWER_WITHIN
from gateway.services import Services, open_services
from gateway.values.settings import Settings
from gateway.wakes import Waker
from tests.fixtures.core import STALLED_REDIS, asgi_client, running_app, wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.redis import RedisServer, stalled
from tests.fixtures.webhooks import make_endpoint

SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "user@example.com"}


async def test_a_gateway_started_without_redis_serves_and_wakes_the_workers_once_it_is_back(
    settings: Settings, private_redis: RedisServer, make_merchant: MakeMerchant
) -> None:
    private_redis.stop()
    chosen = settings.model_copy(
        update={
            "redis_url": private_redis.url,
            "allow_private_webhook_urls": True,
            **STALLED_REDIS,
        }
    )
    async with running_app(chosen) as app, asgi_client(app) as http:
        merchant = await make_merchant()
        await make_endpoint(http, merchant, "http://127.0.0.1:9/hook")
        sent = await http.post("/topup/send", json=SEND, headers=merchant.headers)
        assert sent.status_code == 200, sent.text
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
        ) as root:
            ready = await root.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["data"] == {"store": "ok", "redis": "unavailable"}

        private_redis.start()
        redis = Redis.from_url(private_redis.url)
        try:
            async with redis.pubsub() as wakes:
                await wakes.subscribe(outbox.WAKE_CHANNEL)
                again = await http.post("/topup/send", json=SEND, headers=merchant.headers)
                assert again.status_code == 200, again.text
                heard: list[str] = []

                async def woken() -> bool:
                    message = await wakes.get_message(True, timeout=0.1)
                    if message is not None:
                        heard.extend(outbox.kinds_in(message["data"].decode()))
                    return "webhook" in heard

                await wait_until(woken, within=5)
        finally:
            await redis.aclose()


async def test_a_stalled_redis_holds_the_gateways_stop_no_longer_than_its_bounds(
    settings: Settings, private_redis: RedisServer, make_merchant: MakeMerchant
) -> None:
    """Sends made while Redis answers nothing: each leaves a wake and a key's request count to
    send, and the lifespan's end sends both, each waiting ``ANSWER_WITHIN`` at most."""
    chosen = settings.model_copy(
        update={
            "redis_url": private_redis.url,
            "allow_private_webhook_urls": True,
            **STALLED_REDIS,
        }
    )
    loop = asyncio.get_running_loop()
    with stalled(private_redis):
        # The lifespan manager gives the app's shutdown 5 s, then fails the test.
        async with running_app(chosen) as app, asgi_client(app) as http:
            merchant = await make_merchant()
            await make_endpoint(http, merchant, "http://127.0.0.1:9/hook")
            sent = await http.post("/topup/send", json=SEND, headers=merchant.headers)
            assert sent.status_code == 200, sent.text
            stopping = loop.time()
        assert loop.time() - stopping < 4


async def test_the_settings_bound_is_what_each_call_a_send_makes_to_redis_waits(
    settings: Settings, private_redis: RedisServer
) -> None:
    """``redis_answer_seconds`` raised (as a count under callgrind raises it): the key's request
    counts, the wake and the lockout's look each wait that long for a Redis that answers
    nothing, not ``ANSWER_WITHIN``."""
    bound = ANSWER_WITHIN + 1.5
    chosen = settings.model_copy(
        update={"redis_url": private_redis.url, "redis_answer_seconds": bound}
    )
    loop = asyncio.get_running_loop()

    started = 0.0

    async def waited(call: Coroutine[Any, Any, object]) -> float:
        await call
        return loop.time() - started

    async with open_services(chosen) as svc:
        assert await svc.redis.ping() is True
        with stalled(private_redis):
            # One start for all three: the wake's publish begins as soon as the loop turns,
            # before the gather below would start a clock of its own for it.
            started = loop.time()
            svc.key_requests.record(svc.redis, "key_bounded")
            svc.waker.wake(["dlv_bounded"])
            look = svc.lockout.locked(svc.redis, [Limit("lockout-bounded", 5, 60)])
            async with asyncio.timeout(30):  # unbounded, each waits on the kernel: minutes
                waits = await asyncio.gather(
                    waited(svc.key_requests.close(svc.redis)),  # the counts in hand, flushed
                    waited(svc.waker.drain()),
                    waited(look),
                )
    assert all(bound <= each < bound + 4 for each in waits), waits


async def test_a_close_that_never_ends_is_cut_off_and_said(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def forever(self: Waker) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(Waker, "drain", forever)
    monkeypatch.setattr(services_module, "CLOSE_WITHIN", 0.2)
    opened: list[Services] = []
    try:
        with caplog.at_level(logging.WARNING, logger="gateway.services"):
            async with asyncio.timeout(10), open_services(settings) as svc:
                opened.append(svc)
        assert "not all closed in time" in caplog.text
    finally:
        for svc in opened:  # what the cut-off close left open
            await svc.redis.aclose()
            await svc.db.dispose()


async def test_the_work_a_process_does_by_the_clock_runs_at_the_settings_pace(
    settings: Settings, private_redis: RedisServer
) -> None:
    """The keys' request counts are written, and a lockout known open is looked at again, at
    the pace the settings give (a count under callgrind slows both, so that it counts requests,
    not its own pace); by default once a second."""
    assert Settings.model_fields["key_request_counts_flush_seconds"].default == FLUSH_SECONDS
    assert Settings.model_fields["lockout_recheck_seconds"].default == RECHECK_SECONDS == 1
    chosen = settings.model_copy(
        update={
            "redis_url": private_redis.url,
            "key_request_counts_flush_seconds": 7.0,
            "lockout_recheck_seconds": 9.0,
        }
    )
    async with open_services(chosen) as svc:
        assert svc.key_requests.flush_seconds == 7.0
        assert svc.lockout.recheck_seconds == 9.0
