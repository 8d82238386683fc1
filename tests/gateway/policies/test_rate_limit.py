"""A key's ``rate_limit_per_minute`` is one count in Redis for every gateway process: 20 a
minute admits 20 of a burst of 50 across two processes, refuses the rest with 2303, the
``RateLimit-*`` headers and a ``Retry-After`` that is honest: retried after it, the key is
admitted again. Fifty are enough: twenty in flight at once (ten a process), so the 20th and
the 21st are counted at the same time by different processes, and a count of each process's
own would admit up to 40."""

import asyncio
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from gateway.redis_server import RedisServer
from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures.core import asgi_client, local_client, make_settings, running_app, wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import gateway_processes, set_policy

PER_MINUTE, BURST = 20, 50


async def _burst(roots: list[str], headers: dict[str, str], n: int) -> list[httpx.Response]:
    # Ten at a time per process: concurrent, as an agent's workers would be, and within what a
    # cold process opens to Redis before the limiter's deadline on a busy two-core machine.
    clients = [
        local_client(base_url=root, timeout=30, limits=httpx.Limits(max_connections=10))
        for root in roots
    ]
    try:
        return list(
            await asyncio.gather(
                *(clients[i % len(clients)].get("/balance", headers=headers) for i in range(n))
            )
        )
    finally:
        for client in clients:
            await client.aclose()


async def test_a_key_rate_limit_is_shared_by_every_gateway_process(
    db: Database,
    settings: Settings,
    make_merchant: MakeMerchant,
    redis_url: str,
    tmp_path: Path,
) -> None:
    if db.is_sqlite:
        pytest.skip("several gateway processes share PostgreSQL, not an embedded file")
    merchant = await make_merchant()
    await set_policy(
        db, merchant.key_id, {"scopes": ["topup:read"], "rate_limit_per_minute": PER_MINUTE}
    )
    async with gateway_processes(settings, tmp_path, 2) as (one, two):
        replies = await _burst([one, two], merchant.headers, BURST)
        admitted = [r for r in replies if r.status_code == 200]
        refused = [r for r in replies if r.status_code == 429]
        assert len(admitted) == PER_MINUTE
        assert len(refused) == BURST - PER_MINUTE
        for reply in refused:
            assert reply.json()["code"] == 2303
            assert reply.headers["RateLimit-Limit"] == str(PER_MINUTE)
            assert reply.headers["RateLimit-Remaining"] == "0"
            assert 1 <= int(reply.headers["Retry-After"]) <= 60
        # Honest: the window ends when Retry-After says (Redis's own clock). Let that time pass
        # for the count, and the very next request is admitted, by either process.
        retry_after = max(int(r.headers["Retry-After"]) for r in refused)
        redis = Redis.from_url(redis_url)
        try:
            bucket = f"aitopup:ratelimit:key:{merchant.key_id}"
            assert 0 < await redis.pttl(bucket) <= retry_after * 1000
            await redis.pexpire(bucket, 1)

            async def gone() -> bool:
                return not await redis.exists(bucket)

            await wait_until(gone)
        finally:
            await redis.aclose()
        again = await _burst([two], merchant.headers, 1)
        assert again[0].status_code == 200


async def test_a_key_without_a_rate_limit_is_not_counted(
    db: Database, make_merchant: MakeMerchant, live_url: str
) -> None:
    merchant = await make_merchant()
    await set_policy(db, merchant.key_id, {"scopes": ["topup:read"]})
    replies = await _burst([live_url], merchant.headers, PER_MINUTE + 20)
    assert {r.status_code for r in replies} == {200}


async def test_with_redis_down_a_rate_limited_key_is_refused_and_others_go_on(
    database_url: str, private_redis: RedisServer, make_merchant: MakeMerchant, db: Database
) -> None:
    """The limit is what the key was given, not its holder's to lift: a count Redis cannot make
    refuses the request (503, 9002, retry shortly), while a key without a limit is served."""
    limited, free = await make_merchant(), await make_merchant()
    await set_policy(
        db, limited.key_id, {"scopes": ["topup:read"], "rate_limit_per_minute": PER_MINUTE}
    )
    settings = make_settings(database_url, private_redis.url)
    async with running_app(settings) as app, asgi_client(app) as http:
        assert (await http.get("/balance", headers=limited.headers)).status_code == 200
        private_redis.stop()
        refused = await http.get("/balance", headers=limited.headers)
        assert (refused.status_code, refused.json()["code"]) == (503, 9002)
        assert refused.headers["Retry-After"] == "5"
        assert (await http.get("/balance", headers=free.headers)).status_code == 200
