"""A limit that refuses when Redis cannot count gives Redis ``CLOSED_DEADLINE_SECONDS`` (two
seconds, docs/security.md), an open one ``OPEN_DEADLINE_SECONDS`` (half a second, the send's own
calls): sign-up, a mailed link's request and a password's check each wait for a Redis paused
past the open deadline and within the closed one, and count, rather than answer 503."""

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from starlette.types import ASGIApp

from gateway.ratelimit import CLOSED_DEADLINE_SECONDS, OPEN_DEADLINE_SECONDS
from tests.fixtures.core import make_settings, running_app
from tests.fixtures.dashboard import PASSWORD, csrf_of, dashboard_client, sign_up_on
from tests.fixtures.redis import RedisServer

# Past the open deadline, well within the closed one.
PAUSE_SECONDS = (OPEN_DEADLINE_SECONDS + CLOSED_DEADLINE_SECONDS) / 2


@pytest.fixture
async def paused_app(database_url: str, private_redis: RedisServer) -> AsyncIterator[ASGIApp]:
    async with running_app(make_settings(database_url, private_redis.url)) as app:
        yield app


async def _pause(redis_url: str) -> float:
    """Every client's writes (the limiter's scripts among them) held for ``PAUSE_SECONDS``, by
    Redis itself; when the pause ends."""
    admin = Redis.from_url(redis_url)
    try:
        await admin.execute_command("CLIENT", "PAUSE", int(PAUSE_SECONDS * 1000), "WRITE")
    finally:
        await admin.aclose()
    return time.monotonic() + PAUSE_SECONDS


async def _posted(client: httpx.AsyncClient, path: str, fields: dict[str, str]) -> httpx.Response:
    form = await client.get(path)
    return await client.post(path, data={"csrf_token": csrf_of(form.text), **fields})


def test_the_deadlines_are_the_ones_the_security_page_states() -> None:
    assert (OPEN_DEADLINE_SECONDS, CLOSED_DEADLINE_SECONDS) == (0.5, 2.0)


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
