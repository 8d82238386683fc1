"""The Redis limiter: exact under concurrency, honest about its reset, and plain about an
outage. Real Redis (the session's); each test counts in buckets of its own."""

import asyncio
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from arq import create_pool
from redis.asyncio import Redis

from gateway.ratelimit import (
    LEASE_SHARE,
    OPEN_DEADLINE_SECONDS,
    Leases,
    Limit,
    LimiterUnavailable,
    hit,
    hit_all,
    peek_all,
)
from gateway.redis_client import redis_settings
from tests.fixtures.core import wait_until
from tests.fixtures.redis import RedisServer


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


WITHIN = OPEN_DEADLINE_SECONDS  # production's bound for an open limit


def bucket() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_concurrent_hits_admit_exactly_the_limit(redis: Redis) -> None:
    name = bucket()
    decisions = await asyncio.gather(
        *(hit(redis, name, 7, 60, closed=False, answer_within=WITHIN) for _ in range(40))
    )
    assert sum(d.allowed for d in decisions) == 7
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(7))
    refused = [d for d in decisions if not d.allowed]
    assert all(d.remaining == 0 for d in refused)
    # Refused hits count nothing: the bucket holds the admitted ones only.
    assert int(await redis.get(f"aitopup:ratelimit:{name}") or 0) == 7


async def test_retry_after_is_what_redis_will_wait(redis: Redis) -> None:
    name = bucket()
    await hit(redis, name, 1, 30, closed=False, answer_within=WITHIN)
    refused = await hit(redis, name, 1, 30, closed=False, answer_within=WITHIN)
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
    first = await hit(redis, name, 1, 30, closed=False, answer_within=WITHIN)
    await redis.pexpire(f"aitopup:ratelimit:{name}", 700)  # most of the window gone
    again = await hit(redis, name, 1, 30, closed=False, answer_within=WITHIN)
    assert first.allowed and not again.allowed
    assert again.reset_seconds <= 0.7


@pytest.mark.slow
async def test_the_window_ends_when_retry_after_says(redis: Redis) -> None:
    name = bucket()
    await hit(redis, name, 1, 1, closed=False, answer_within=WITHIN)
    refused = await hit(redis, name, 1, 1, closed=False, answer_within=WITHIN)
    assert not refused.allowed and refused.retry_after == 1

    async def admitted() -> bool:
        return (await hit(redis, name, 1, 1, closed=False, answer_within=WITHIN)).allowed

    await wait_until(admitted, within=refused.reset_seconds + 0.3)


async def test_peek_counts_nothing_and_hit_all_counts_each(redis: Redis) -> None:
    one, two = bucket(), bucket()
    limits = [Limit(one, 2, 60), Limit(two, 1, 60)]
    for _ in range(3):
        assert all(
            d.allowed for d in await peek_all(redis, limits, closed=False, answer_within=WITHIN)
        )
    first = await hit_all(redis, limits, closed=False, answer_within=WITHIN)
    assert [d.allowed for d in first] == [True, True]
    assert [d.remaining for d in first] == [1, 0]
    # A peek answers whether one more would be admitted.
    assert [
        d.allowed for d in await peek_all(redis, limits, closed=False, answer_within=WITHIN)
    ] == [True, False]
    second = await hit_all(redis, limits, closed=False, answer_within=WITHIN)
    assert [d.allowed for d in second] == [True, False]


async def test_a_whole_hit_counts_in_every_bucket_or_in_none_in_one_round_trip(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    room, full = bucket(), bucket()
    limits = [Limit(room, 5, 60), Limit(full, 1, 60)]
    assert [
        d.allowed
        for d in await hit_all(redis, limits, closed=False, answer_within=WITHIN, whole=True)
    ] == [
        True,
        True,
    ]
    sent: list[object] = []
    execute: Callable[..., Awaitable[Any]] = redis.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        sent.append(args[0])
        return await execute(*args, **options)

    monkeypatch.setattr(redis, "execute_command", counted)
    refused = await hit_all(redis, limits, closed=False, answer_within=WITHIN, whole=True)
    # Each decision says whether its bucket had room; the one with room took nothing.
    assert [d.allowed for d in refused] == [True, False]
    assert [d.remaining for d in refused] == [4, 0]
    assert sent == ["EVALSHA"]  # one script, nothing given back after
    assert (await count_of(redis, room), await count_of(redis, full)) == (1, 1)
    # Without ``whole``, the bucket with room counts.
    assert [
        d.allowed for d in await hit_all(redis, limits, closed=False, answer_within=WITHIN)
    ] == [True, False]
    assert await count_of(redis, room) == 2


async def test_an_unanswering_redis_is_unavailable_not_an_error(
    private_redis: RedisServer,
) -> None:
    client = Redis.from_url(private_redis.url)
    try:
        assert (await hit(client, bucket(), 1, 60, closed=False, answer_within=WITHIN)).allowed
        private_redis.stop()
        with pytest.raises(LimiterUnavailable):
            await hit(client, bucket(), 1, 60, closed=False, answer_within=WITHIN)
    finally:
        await client.aclose()


async def test_the_gateway_s_limiter_counts_again_once_redis_is_back_empty(
    private_redis: RedisServer,
) -> None:
    """On the gateway's own client (``redis_client``): unavailable within its deadline while
    Redis is down, then counting again from an empty Redis, on both kinds of limit."""
    client = await create_pool(redis_settings(private_redis.url))
    leases = Leases()
    try:
        assert (
            await hit(client, "recovers", 5, 60, closed=False, answer_within=WITHIN)
        ).remaining == 4
        assert (
            await leases.hit(client, "recovers-lease", 5, 60, closed=False, answer_within=WITHIN)
        ).allowed
        private_redis.stop()
        for _ in range(3):
            started = asyncio.get_running_loop().time()
            with pytest.raises(LimiterUnavailable):
                await hit(client, "recovers", 5, 60, closed=False, answer_within=WITHIN)
            with pytest.raises(LimiterUnavailable):
                await leases.hit(
                    client, "recovers-lease", 5, 60, closed=False, answer_within=WITHIN
                )
            assert asyncio.get_running_loop().time() - started < 1.5
        private_redis.start()
        assert (
            await hit(client, "recovers", 5, 60, closed=False, answer_within=WITHIN)
        ).remaining == 4  # a new, empty window
        assert (
            await leases.hit(client, "recovers-lease", 5, 60, closed=False, answer_within=WITHIN)
        ).remaining == 4
    finally:
        await client.aclose()


async def count_of(redis: Redis, name: str) -> int:
    return int(await redis.get(f"aitopup:ratelimit:{name}") or 0)


async def test_leases_in_two_processes_never_admit_past_the_limit(redis: Redis) -> None:
    """Two processes' batches of one bucket: every admitted hit was counted in Redis first, and
    at most a batch per process (1% of the limit) goes unspent."""
    name, limit = bucket(), 1_000
    batch = limit // LEASE_SHARE
    one, two = Leases(), Leases()
    decisions = await asyncio.gather(
        *(
            (one if i % 2 else two).hit(redis, name, limit, 60, closed=False, answer_within=WITHIN)
            for i in range(1_300)
        )
    )
    admitted = sum(d.allowed for d in decisions)
    assert limit - 2 * (batch - 1) <= admitted <= limit
    assert await count_of(redis, name) == limit
    refused = [d for d in decisions if not d.allowed]
    assert refused and all(d.remaining == 0 and 0 < d.reset_seconds <= 60 for d in refused)


async def test_a_lease_takes_a_batch_in_one_round_trip(redis: Redis) -> None:
    name, limit = bucket(), 100_000
    leases = Leases()
    for _ in range(limit // LEASE_SHARE):
        assert (
            await leases.hit(redis, name, limit, 60, closed=False, answer_within=WITHIN)
        ).allowed
    # A thousand hits, one count in Redis: the batch taken by the first.
    assert await count_of(redis, name) == limit // LEASE_SHARE
    await leases.hit(redis, name, limit, 60, closed=False, answer_within=WITHIN)
    assert await count_of(redis, name) == 2 * (limit // LEASE_SHARE)


async def test_a_limit_under_a_batch_counts_every_hit_in_redis(redis: Redis) -> None:
    name = bucket()
    leases = Leases()
    for n in range(1, 61):
        assert (await leases.hit(redis, name, 60, 60, closed=False, answer_within=WITHIN)).allowed
        assert await count_of(redis, name) == n
    refused = await leases.hit(redis, name, 60, 60, closed=False, answer_within=WITHIN)
    assert not refused.allowed and refused.headers()["Retry-After"] == str(refused.retry_after)


async def test_a_batch_ends_with_its_window(redis: Redis) -> None:
    name, limit = bucket(), 1_000
    now = [0.0]
    leases = Leases(clock=lambda: now[0])
    await leases.hit(redis, name, limit, 60, closed=False, answer_within=WITHIN)
    await leases.hit(redis, name, limit, 60, closed=False, answer_within=WITHIN)
    assert await count_of(redis, name) == limit // LEASE_SHARE
    now[0] += 60  # the window Redis gave the batch is over: what is left of it is not spent
    await leases.hit(redis, name, limit, 60, closed=False, answer_within=WITHIN)
    assert await count_of(redis, name) == 2 * (limit // LEASE_SHARE)


async def test_concurrent_hits_in_one_process_wait_for_one_batch(redis: Redis) -> None:
    name, limit = bucket(), 100_000
    leases = Leases()
    decisions = await asyncio.gather(
        *(leases.hit(redis, name, limit, 60, closed=False, answer_within=WITHIN) for _ in range(50))
    )
    assert all(d.allowed for d in decisions)
    assert await count_of(redis, name) == limit // LEASE_SHARE
