"""The hourly counts of mailed-link requests (``mail.requests.count_request``): per client and
per address, a request refused past either counted in neither. Real Redis (the session's)."""

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.mail.requests import count_request
from gateway.ratelimit import OPEN_DEADLINE_SECONDS
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def _asks(redis: Redis, kind: str, client: str, email: str) -> bool:
    try:
        await count_request(
            redis,
            kind,
            client=client,
            email=email,
            per_client=2,
            per_address=3,
            refused=Code.PASSWORD_RESETS_RATE_LIMITED,
            answer_within=OPEN_DEADLINE_SECONDS,
        )
    except ApiError as refusal:
        assert refusal.code == Code.PASSWORD_RESETS_RATE_LIMITED
        return False
    return True


async def test_a_client_past_its_hour_takes_nothing_from_the_address(redis: Redis) -> None:
    kind, email = f"test-{uuid.uuid4().hex}", "victim@example.com"
    noisy = [await _asks(redis, kind, "198.51.100.7", email) for _ in range(6)]
    assert noisy == [True, True, False, False, False, False]
    # Its four refusals counted nowhere: the address has one left of its three, for anyone.
    assert await _asks(redis, kind, "203.0.113.9", email)
    assert not await _asks(redis, kind, "203.0.113.10", email)
