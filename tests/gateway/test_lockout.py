"""Failed authentication locks a client, and a client's use of a key prefix, out, across
processes, the right key too; successes count nothing; a Redis outage locks nobody out. Both
stores (the key lookup)."""

import asyncio
import math
import secrets
import string
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp

from gateway.lockout import IN_FLIGHT_SECONDS, Lockout, client_address
from gateway.ratelimit import Limit, LimiterUnavailable
from gateway.values.settings import Settings
from tests.fixtures.core import live_server, local_client, make_settings, running_app, wait_until
from tests.fixtures.limiters import client_at, limits, ttl_of, unique_address
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.redis import RedisServer

__all__ = ["limits"]  # the fixture, used by name

PER_CLIENT = 5
PER_PREFIX = 3
WINDOW = 60


def _strict(database_url: str, redis_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "auth_failures_per_client": PER_CLIENT,
        "auth_failures_per_key_prefix": PER_PREFIX,
        "auth_failure_window_seconds": WINDOW,
        **overrides,
    }
    return make_settings(database_url, redis_url, **values)


@pytest.fixture
async def strict_app(database_url: str, redis_url: str, limits: Redis) -> AsyncIterator[ASGIApp]:
    async with running_app(_strict(database_url, redis_url)) as app:
        yield app


def _unknown_key(env: str = "staging", prefix: str | None = None) -> str:
    """A well-formed key nobody holds; ``prefix`` (a display prefix) to share one."""
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in range(32))
    if prefix is None:
        return f"ak_{env}_{body}"
    return prefix + body[: 32 - (len(prefix) - len(f"ak_{env}_"))]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_client_is_locked_out_after_its_failures_right_key_too(
    strict_app: ASGIApp, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    async with client_at(strict_app, unique_address()) as http:
        for _ in range(3 * PER_CLIENT):  # successes count nothing
            assert (await http.get("/balance", headers=merchant.headers)).status_code == 200
        for _ in range(PER_CLIENT):
            refused = await http.get("/balance", headers=_bearer(_unknown_key()))
            assert (refused.status_code, refused.json()["code"]) == (401, 2003)
        locked = await http.get("/balance", headers=merchant.headers)
    assert (locked.status_code, locked.json()["code"]) == (429, 2201)
    assert 0 < int(locked.headers["Retry-After"]) <= WINDOW
    assert locked.headers["RateLimit-Limit"] == str(PER_CLIENT)
    assert locked.headers["RateLimit-Remaining"] == "0"
    assert locked.json()["data"]["retry_after_seconds"] == int(locked.headers["Retry-After"])
    # Another client with the same key is not locked out.
    async with client_at(strict_app, unique_address()) as other:
        assert (await other.get("/balance", headers=merchant.headers)).status_code == 200


async def test_malformed_and_non_bearer_attempts_count_against_the_client(
    strict_app: ASGIApp, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    attempts = [{"Authorization": "Basic dTpw"}, _bearer("junk"), _bearer(""), _bearer("ak_x")]
    async with client_at(strict_app, unique_address()) as http:
        for i in range(PER_CLIENT):
            refused = await http.get("/balance", headers=attempts[i % len(attempts)])
            assert (refused.status_code, refused.json()["code"]) == (401, 2002)
        locked = await http.get("/balance", headers=merchant.headers)
    assert (locked.status_code, locked.json()["code"]) == (429, 2201)


async def test_a_key_prefix_is_locked_out_for_the_client_that_failed_with_it_only(
    strict_app: ASGIApp, make_merchant: MakeMerchant
) -> None:
    """The display prefix is public: a stranger's failures with it lock out the stranger's
    client for that prefix, never the key's owner elsewhere."""
    merchant, neighbour = await make_merchant(), await make_merchant()
    prefix = merchant.key[: len("ak_staging_") + 4]  # the display prefix
    stranger = unique_address()
    async with client_at(strict_app, stranger) as http:
        for _ in range(PER_PREFIX):
            guess = _unknown_key(prefix=prefix)
            assert guess.startswith(prefix) and len(guess) == len(merchant.key)
            refused = await http.get("/balance", headers=_bearer(guess))
            assert (refused.status_code, refused.json()["code"]) == (401, 2003)
        locked = await http.get("/balance", headers=merchant.headers)
        assert (locked.status_code, locked.json()["code"]) == (429, 2201)
        assert locked.headers["RateLimit-Limit"] == str(PER_PREFIX)
        # The client itself is not locked out: another key works from it.
        assert (await http.get("/balance", headers=neighbour.headers)).status_code == 200
    # The owner, from their own address, is not locked out by the stranger's failures.
    async with client_at(strict_app, unique_address()) as owner:
        assert (await owner.get("/balance", headers=merchant.headers)).status_code == 200


async def test_concurrent_failures_admit_exactly_the_limit_with_honest_retry_after(
    database_url: str, redis_url: str, limits: Redis, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    settings = _strict(database_url, redis_url, auth_failures_per_client=10)
    async with (
        live_server(settings) as root,
        local_client(base_url=f"{root}/api/public/v1", timeout=30) as http,
    ):
        replies = await asyncio.gather(
            *(http.get("/balance", headers=_bearer(_unknown_key())) for _ in range(40))
        )
        codes = [r.json()["code"] for r in replies]
        assert codes.count(2003) == 10
        assert codes.count(2201) == 30
        left = await ttl_of(limits, "auth:client:127.0.0.1")
        for reply in replies:
            if reply.status_code == 429:
                # What Redis will wait, rounded up: never less, and never a window more.
                assert left <= int(reply.headers["Retry-After"]) <= math.ceil(left) + 1
        locked = await http.get("/balance", headers=merchant.headers)
        assert (locked.status_code, locked.json()["code"]) == (429, 2201)


@pytest.mark.slow
async def test_the_lockout_ends_when_retry_after_says(
    database_url: str, redis_url: str, limits: Redis, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    settings = _strict(database_url, redis_url, auth_failure_window_seconds=2)
    async with running_app(settings) as app, client_at(app, unique_address()) as http:
        for _ in range(PER_CLIENT):
            await http.get("/balance", headers=_bearer(_unknown_key()))
        locked = await http.get("/balance", headers=merchant.headers)
        assert locked.status_code == 429
        retry_after = int(locked.headers["Retry-After"])
        assert retry_after <= 2

        async def admitted() -> bool:
            return (await http.get("/balance", headers=merchant.headers)).status_code == 200

        await wait_until(admitted, within=retry_after + 0.5)


async def test_a_lockout_from_another_process_holds_here_within_a_second(
    limits: Redis,
) -> None:
    now = [100.0]
    here, there = Lockout(clock=lambda: now[0]), Lockout()
    bucket = [Limit(f"auth:client:{unique_address()}", 2, WINDOW)]
    assert await here.locked(limits, bucket) is None  # remembered as open
    for _ in range(2):
        assert await there.failed(limits, bucket) is None
    assert await there.locked(limits, bucket) is not None
    assert await here.locked(limits, bucket) is None  # not asked again yet
    now[0] += 1.01
    found = await here.locked(limits, bucket)
    assert found is not None and 0 < found.reset_seconds <= WINDOW


async def test_with_redis_down_nobody_is_locked_out_and_nothing_fails(
    database_url: str, private_redis: RedisServer, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    settings = _strict(database_url, private_redis.url)
    async with running_app(settings) as app, client_at(app, unique_address()) as http:
        private_redis.stop()
        for _ in range(2 * PER_CLIENT):
            refused = await http.get("/balance", headers=_bearer(_unknown_key()))
            assert (refused.status_code, refused.json()["code"]) == (401, 2003)
        assert (await http.get("/balance", headers=merchant.headers)).status_code == 200


async def test_two_authorization_headers_are_refused(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant, other = await make_merchant(), await make_merchant()
    twice = [("Authorization", f"Bearer {merchant.key}"), ("Authorization", f"Bearer {other.key}")]
    refused = await client.get("/balance", headers=twice)
    assert (refused.status_code, refused.json()["code"]) == (400, 2203)
    same_twice = [("Authorization", f"Bearer {merchant.key}")] * 2
    assert (await client.get("/balance", headers=same_twice)).json()["code"] == 2203


@pytest.mark.parametrize(
    ("host", "seen"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
        ("", "unknown"),
    ],
)
def test_ipv6_clients_are_counted_by_their_64(host: str, seen: str) -> None:
    scope: dict[str, Any] = {"type": "http", "headers": [], "client": (host, 1) if host else None}
    assert client_address(HTTPConnection(scope)) == seen


async def test_attempts_never_given_back_hold_their_place_for_moments_not_the_window(
    limits: Redis,
) -> None:
    """A secret a person chose: its attempts are counted before their checks. Attempts never
    given back (Redis too slow to take them back just then) fill the count, and the right
    secret waits, refused for a second; they stop holding their place within
    ``IN_FLIGHT_SECONDS``, while the failures, counted apart, keep the lockout's whole window."""
    bucket = f"test:in-flight:{secrets.token_hex(4)}"
    hour = [Limit(bucket, 3, 3600)]
    lockout = Lockout()
    for _ in range(3):
        assert await lockout.attempt(limits, hour) is None  # counted, never given back
    busy = await lockout.admit(limits, hour)
    assert busy is not None and not busy.allowed and busy.retry_after == 1
    assert 0 < await ttl_of(limits, bucket) <= IN_FLIGHT_SECONDS
    await lockout.refused(limits, hour)  # a failure: counted where lockouts are judged
    assert 3000 < await ttl_of(limits, bucket + ":failed") <= 3600


async def _locked_out_once_attempts_lapse(
    limits: Redis, bucket: str, hour: list[Limit], *lockouts: Lockout
) -> None:
    """Once the attempts' count of ``bucket`` has lapsed, each of ``lockouts`` still refuses
    the right secret for the failures' window."""

    async def attempts_gone() -> bool:
        return await ttl_of(limits, bucket) <= 0

    await wait_until(attempts_gone, within=5)
    for lockout in lockouts:
        locked = await lockout.admit(limits, hour)
        assert locked is not None and not locked.allowed and locked.retry_after > 3000


async def test_a_lockout_outlives_the_attempts_in_flight(limits: Redis) -> None:
    """The failures lock the secret out for their whole window, though the attempts that
    counted them stop holding their place within moments (here one second): once the attempts'
    window has passed, the right secret is still refused, in this process and in another that
    never saw the failures."""
    bucket = f"test:outlives:{secrets.token_hex(4)}"
    hour = [Limit(bucket, 2, 3600)]
    here, elsewhere = Lockout(in_flight_seconds=1), Lockout(in_flight_seconds=1)
    for _ in range(2):
        assert await here.admit(limits, hour) is None
        await here.refused(limits, hour)

    await _locked_out_once_attempts_lapse(limits, bucket, hour, here, elsewhere)


def _unanswering() -> Redis:
    """A Redis client nothing answers (a port nobody listens on): every count fails at once, as
    one past its deadline does."""
    redis: Redis = Redis.from_url("redis://127.0.0.1:1/0")
    return redis


async def test_failures_redis_missed_are_counted_before_the_next_check(limits: Redis) -> None:
    """Redis misses the count of each failed check (here it does not answer at all): the
    failures are owed, and counted before the next check is made, so once the attempts' count
    has lapsed the guesser is still locked out, in this process and in any other."""
    bucket = f"test:owed:{secrets.token_hex(4)}"
    hour = [Limit(bucket, 3, 3600)]
    now = [100.0]
    here = Lockout(in_flight_seconds=1, clock=lambda: now[0])
    elsewhere = Lockout(in_flight_seconds=1)
    missing = _unanswering()
    try:
        for _ in range(3):
            assert await here.admit(limits, hour) is None
            await here.refused(missing, hour)  # not counted by Redis: owed
            with pytest.raises(LimiterUnavailable):  # Redis is down for a moment: no check
                await here.admit(limits, hour)
            now[0] += 1.01
    finally:
        await missing.aclose()

    await _locked_out_once_attempts_lapse(limits, bucket, hour, here, elsewhere)


async def test_a_give_back_that_misses_stops_no_failure_being_counted(limits: Redis) -> None:
    """A success's give-back misses its deadline, so Redis is taken as down for a moment: a
    failure in that moment is owed, no check is made until it is counted (503, try again), and
    it is counted as soon as Redis is asked again."""
    now = [100.0]
    bucket = f"test:give-back:{secrets.token_hex(4)}"
    hour = [Limit(bucket, 5, 3600)]
    lockout = Lockout(clock=lambda: now[0])
    missing = _unanswering()
    try:
        assert await lockout.admit(limits, hour) is None  # a right secret
        assert await lockout.admit(limits, hour) is None  # a wrong one, checked beside it
        await lockout.succeeded(missing, hour)  # the give-back misses: Redis down a moment
    finally:
        await missing.aclose()
    await lockout.refused(limits, hour)  # within the moment: owed, not dropped
    with pytest.raises(LimiterUnavailable):
        await lockout.admit(limits, hour)
    now[0] += 1.01
    assert await lockout.admit(limits, hour) is None  # the debt paid first
    assert 3000 < await ttl_of(limits, bucket + ":failed") <= 3600


async def test_an_api_key_failure_redis_missed_is_counted_when_it_answers(
    limits: Redis,
) -> None:
    """An API key's lockout fails open, but never forgets a failure: one Redis could not count
    is counted on the next look at the lockouts once it answers."""
    bucket = [Limit(f"auth:client:{unique_address()}", 2, WINDOW)]
    now = [100.0]
    lockout = Lockout(clock=lambda: now[0])
    missing = _unanswering()
    try:
        for _ in range(2):
            assert await lockout.failed(missing, bucket) is None  # admitted, owed
    finally:
        await missing.aclose()
    now[0] += 1.01
    found = await lockout.locked(limits, bucket)
    assert found is not None and 0 < found.reset_seconds <= WINDOW
