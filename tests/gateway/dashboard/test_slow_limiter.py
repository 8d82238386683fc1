"""A limit that refuses when Redis cannot count gives Redis ``CLOSED_DEADLINE_SECONDS`` (two
seconds, docs/security.md), an open one ``OPEN_DEADLINE_SECONDS`` (half a second, the send's own
calls): sign-up, a mailed link's request and a password's check each wait for a Redis paused
past the open deadline and within the closed one, and count, rather than answer 503. A process
whose open bound (``redis_answer_seconds``) is the longer gives a closed limit that bound too:
a limit that refuses never gives Redis less time than one that admits."""

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from starlette.types import ASGIApp

from gateway.ratelimit import CLOSED_DEADLINE_SECONDS, OPEN_DEADLINE_SECONDS, deadline_of
from tests.fixtures.core import STALLED_REDIS, make_settings, running_app
from tests.fixtures.dashboard import PASSWORD, csrf_of, dashboard_client, sign_up_on
from tests.fixtures.redis import RedisServer

# Past the open deadline, well within the closed one.
PAUSE_SECONDS = (OPEN_DEADLINE_SECONDS + CLOSED_DEADLINE_SECONDS) / 2


@pytest.fixture
async def paused_app(database_url: str, private_redis: RedisServer) -> AsyncIterator[ASGIApp]:
    settings = make_settings(database_url, private_redis.url).model_copy(update=STALLED_REDIS)
    async with running_app(settings) as app:
        yield app


async def _pause(redis_url: str, seconds: float = PAUSE_SECONDS) -> float:
    """Every client's writes (the limiter's scripts among them) held for ``seconds``, by Redis
    itself; when the pause ends."""
    admin = Redis.from_url(redis_url)
    try:
        await admin.execute_command("CLIENT", "PAUSE", int(seconds * 1000), "WRITE")
    finally:
        await admin.aclose()
    return time.monotonic() + seconds


async def _posted(client: httpx.AsyncClient, path: str, fields: dict[str, str]) -> httpx.Response:
    form = await client.get(path)
    return await client.post(path, data={"csrf_token": csrf_of(form.text), **fields})


def test_the_deadlines_are_the_ones_the_security_page_states() -> None:
    assert (OPEN_DEADLINE_SECONDS, CLOSED_DEADLINE_SECONDS) == (0.5, 2.0)
    within = OPEN_DEADLINE_SECONDS  # production's ``redis_answer_seconds``
    assert deadline_of(closed=True, answer_within=within) == CLOSED_DEADLINE_SECONDS
    assert deadline_of(closed=False, answer_within=within) == OPEN_DEADLINE_SECONDS
    # A process given longer for Redis (its ``redis_answer_seconds``) gives a closed limit as long.
    assert deadline_of(closed=True, answer_within=10.0) == 10.0
    assert deadline_of(closed=False, answer_within=10.0) == 10.0


async def test_a_closed_limit_waits_as_long_as_the_process_gives_redis(
    database_url: str, private_redis: RedisServer
) -> None:
    # Paused past the closed deadline, within the process's own bound for Redis.
    patient = make_settings(database_url, private_redis.url).model_copy(
        update={"redis_answer_seconds": 2 * CLOSED_DEADLINE_SECONDS}
    )
    async with running_app(patient) as app, dashboard_client(app) as browser:
        form = await browser.get("/forgot-password")
        ends = await _pause(private_redis.url, 1.5 * CLOSED_DEADLINE_SECONDS)
        reply = await browser.post(
            "/forgot-password",
            data={"csrf_token": csrf_of(form.text), "email": "nobody@example.com"},
        )
    assert reply.status_code == 202, reply.text
    assert time.monotonic() >= ends - 0.1


async def test_sign_up_waits_for_a_slow_redis_and_counts(
    paused_app: ASGIApp, private_redis: RedisServer
) -> None:
    async with dashboard_client(paused_app) as browser:
        form = await browser.get("/sign-up")
        fields = {
            "csrf_token": csrf_of(form.text),
            "email": "slow-limiter@example.com",
            "password": PASSWORD,
            "merchant_name": "Slow limiter",
        }
        ends = await _pause(private_redis.url)
        reply = await browser.post("/sign-up", data=fields)
    assert reply.status_code == 303, reply.text
    assert time.monotonic() >= ends - 0.1  # it did wait for the pause


async def test_a_mailed_link_waits_for_a_slow_redis_and_counts(
    paused_app: ASGIApp, private_redis: RedisServer
) -> None:
    async with dashboard_client(paused_app) as browser:
        form = await browser.get("/forgot-password")
        ends = await _pause(private_redis.url)
        reply = await browser.post(
            "/forgot-password",
            data={"csrf_token": csrf_of(form.text), "email": "nobody@example.com"},
        )
    assert reply.status_code == 202, reply.text
    assert time.monotonic() >= ends - 0.1


async def test_a_password_check_waits_for_a_slow_redis_and_counts(
    paused_app: ASGIApp, private_redis: RedisServer
) -> None:
    account = await sign_up_on(dashboard_client(paused_app))
    async with dashboard_client(paused_app) as browser:
        form = await browser.get("/sign-in")
        ends = await _pause(private_redis.url)
        reply = await browser.post(
            "/sign-in",
            data={"csrf_token": csrf_of(form.text), "email": account.email, "password": PASSWORD},
        )
    assert reply.status_code == 303, reply.text
    assert time.monotonic() >= ends - 0.1
