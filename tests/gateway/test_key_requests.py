"""Per-key usage as OpenRouter's key page shows it: each key's requests per calendar window,
counted in memory and added to Redis by one pipelined write a second, and with them each
window's spend and remaining, in GET /keys, GET /keys/{id} and the dashboard's keys."""

import asyncio
from datetime import UTC, datetime

import httpx
from redis.asyncio import Redis

from gateway.key_requests import RequestCounter, read_counts
from gateway.redis_client import ANSWER_WITHIN
from tests.fixtures.core import wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.redis import RedisServer, stalled


async def test_counts_land_in_their_windows_and_an_idle_counter_stops(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        counter = RequestCounter(flush_seconds=0.05)
        tag = datetime.now(UTC).strftime("%H%M%S%f")
        first, second = f"key_a{tag}", f"key_b{tag}"
        for _ in range(5):
            counter.record(redis, first)
        counter.record(redis, second)

        async def flushed() -> bool:
            found = await read_counts(redis, [first, second])
            return found[first].today == 5 and found[second].all_time == 1

        await wait_until(flushed, within=5)
        task = counter._task
        assert task is not None

        async def ended() -> bool:
            return task.done()

        await wait_until(ended, within=5)  # nothing left to send: it ends

        # The next month (and so the next day and week) starts from nothing; all time goes on.
        later = datetime(2099, 1, 5, tzinfo=UTC)
        counter.record(redis, first)
        await counter.flush(redis, later)
        now = await read_counts(redis, [first], later)
        assert now[first].model_dump() == {
            "today": 1, "this_week": 1, "this_month": 1, "all_time": 6,
        }  # fmt: skip
        # A key nobody used reads zeros.
        assert (await read_counts(redis, ["key_never"]))["key_never"].all_time == 0
    finally:
        await redis.aclose()


async def test_a_stalled_redis_costs_a_read_and_a_flush_a_bounded_wait(
    private_redis: RedisServer,
) -> None:
    """Redis connected, then answering nothing: the counts read as none and the second's counts
    are lost, each after ``ANSWER_WITHIN``, where each waited on the kernel for minutes."""
    redis = Redis.from_url(private_redis.url)
    counter = RequestCounter(flush_seconds=0.05)
    try:
        assert await redis.ping() is True
        with stalled(private_redis):
            counter.record(redis, "key_stalled")
            loop = asyncio.get_running_loop()
            started = loop.time()
            async with asyncio.timeout(30):
                found = await read_counts(redis, ["key_stalled"])
                read = loop.time() - started
                await counter.close(redis)  # a stopping gateway's: the flush in hand, then one
            closed = loop.time() - started
        assert found["key_stalled"].all_time == 0
        assert ANSWER_WITHIN <= read < ANSWER_WITHIN + 4
        assert closed < read + 2 * ANSWER_WITHIN + 4
    finally:
        await redis.aclose()


async def test_the_key_list_and_page_show_spend_remaining_and_requests(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    policy = {"limits": [{"amount_cents": 5_000, "interval": "daily"}]}
    made = await client.post(
        "/keys", json={"name": "agent", "policy": policy}, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    agent = made.json()["data"]
    headers = {"Authorization": f"Bearer {agent['key']}"}
    sent = await client.post(
        "/topup/send",
        headers=headers,
        json={"platform": "claude", "amount_cents": 1_200, "recipient_email": "u@example.com"},
    )
    assert sent.status_code == 200, sent.text
    for _ in range(2):
        assert (await client.get("/balance", headers=headers)).status_code == 200

    async def three_requests() -> bool:
        one = await client.get(f"/keys/{agent['id']}", headers=owner.headers)
        return bool(one.json()["data"]["usage"]["requests"]["today"] == 3)

    await wait_until(three_requests, within=5)
    listed = await client.get("/keys?limit=100", headers=owner.headers)
    shown = next(k for k in listed.json()["data"] if k["id"] == agent["id"])
    usage = shown["usage"]
    assert usage["requests"]["all_time"] == 3
    (daily,) = usage["windows"]
    assert daily["interval"] == "daily"
    assert (daily["spent_cents"], daily["remaining_cents"]) == (1_200, 3_800)
    assert daily["resets_at"].endswith("T00:00:00Z")
    assert shown["last_used_at"] is not None
