"""The Redis limiter: exact under concurrency, honest about its reset, and plain about an
outage. Real Redis (the session's); each test counts in buckets of its own."""

import asyncio
import math
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.ratelimit import Limit, LimiterUnavailable, hit, hit_all, peek_all
from tests.conftest import RedisServer, wait_until


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def bucket() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_concurrent_hits_admit_exactly_the_limit(redis: Redis) -> None:
    name = bucket()
    decisions = await asyncio.gather(*(hit(redis, name, 7, 60) for _ in range(40)))
    assert sum(d.allowed for d in decisions) == 7
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(7))
    refused = [d for d in decisions if not d.allowed]
    assert all(d.remaining == 0 for d in refused)
    # Refused hits count nothing: the bucket holds the admitted ones only.
    assert int(await redis.get(f"aitopup:ratelimit:{name}") or 0) == 7


async def test_retry_after_is_what_redis_will_wait(redis: Redis) -> None:
    name = bucket()
    await hit(redis, name, 1, 30)
    refused = await hit(redis, name, 1, 30)
    ttl_ms = await redis.pttl(f"aitopup:ratelimit:{name}")
    assert not refused.allowed
    assert 0 < ttl_ms <= 30_000
    # The reset is the key's own TTL, read in the same atomic step, not a clock of ours.
    assert abs(refused.reset_seconds - ttl_ms / 1000) < 0.5
    assert refused.retry_after == math.ceil(refused.reset_seconds)
    headers = refused.headers()
    assert headers["Retry-After"] == str(refused.retry_after)
    assert headers["RateLimit-Limit"] == "1"
    assert headers["RateLimit-Remaining"] == "0"
    assert headers["RateLimit-Reset"] == str(math.ceil(refused.reset_seconds))


async def test_a_refused_hit_does_not_push_the_window_on(redis: Redis) -> None:
    name = bucket()
    first = await hit(redis, name, 1, 30)
    await redis.pexpire(f"aitopup:ratelimit:{name}", 700)  # most of the window gone
    again = await hit(redis, name, 1, 30)
    assert first.allowed and not again.allowed
    assert again.reset_seconds <= 0.7


@pytest.mark.slow
async def test_the_window_ends_when_retry_after_says(redis: Redis) -> None:
    name = bucket()
    await hit(redis, name, 1, 1)
    refused = await hit(redis, name, 1, 1)
    assert not refused.allowed and refused.retry_after == 1

    async def admitted() -> bool:
        return (await hit(redis, name, 1, 1)).allowed

    await wait_until(admitted, within=refused.reset_seconds + 0.3)


async def test_peek_counts_nothing_and_hit_all_counts_each(redis: Redis) -> None:
    one, two = bucket(), bucket()
    limits = [Limit(one, 2, 60), Limit(two, 1, 60)]
    for _ in range(3):
        assert all(d.allowed for d in await peek_all(redis, limits))
    first = await hit_all(redis, limits)
    assert [d.allowed for d in first] == [True, True]
    assert [d.remaining for d in first] == [1, 0]
    # A peek answers whether one more would be admitted.
    assert [d.allowed for d in await peek_all(redis, limits)] == [True, False]
    second = await hit_all(redis, limits)
    assert [d.allowed for d in second] == [True, False]


async def test_an_unanswering_redis_is_unavailable_not_an_error(
    private_redis: RedisServer,
) -> None:
    client = Redis.from_url(private_redis.url)
    try:
        assert (await hit(client, bucket(), 1, 60)).allowed
        private_redis.stop()
        with pytest.raises(LimiterUnavailable):
            await hit(client, bucket(), 1, 60)
    finally:
        await client.aclose()
