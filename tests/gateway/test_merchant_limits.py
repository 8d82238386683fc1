"""Per-merchant limits on redemption attempts and on the calls that make the worker send (test
events, replays, recovering failed deliveries): exact under real concurrency, both
environments counted together, honest Retry-After, and refused (503) while Redis is down."""

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import update
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import WebhookDelivery, table_of
from gateway.values.settings import Settings
from tests.fixtures.core import live_server, local_client, make_settings, running_app
from tests.fixtures.limiters import client_at, limits, ttl_of, unique_address
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.redis import RedisServer
from tests.fixtures.webhooks import fail_leftovers

__all__ = ["limits"]  # the fixture, used by name

PUBLIC_URL = "http://93.184.215.14/hook"
_D = table_of(WebhookDelivery)


def _limited(database_url: str, redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redeem_attempts_per_minute": 4,
        "webhook_tests_per_minute": 3,
        "webhook_replays_per_minute": 2,
        "webhook_recovers_per_minute": 2,
        **overrides,
    }
    return make_settings(database_url, redis_url, **values)


@pytest.fixture
async def limited_app(database_url: str, redis_url: str, limits: Redis) -> AsyncIterator[ASGIApp]:
    async with running_app(_limited(database_url, redis_url)) as app:
        yield app


@pytest.fixture(autouse=True)
async def _no_leftovers(db: Database) -> AsyncIterator[None]:
    yield None
    await fail_leftovers(db)  # no worker runs here; keep later workers from sending these


async def _endpoint(http: httpx.AsyncClient, merchant: MerchantKey) -> str:
    created = await http.post(
        "/webhooks/endpoints", json={"url": PUBLIC_URL}, headers=merchant.headers
    )
    assert created.status_code == 201, created.text
    endpoint_id: str = created.json()["data"]["id"]
    return endpoint_id


def _assert_honest(reply: httpx.Response, left: float, limit: int) -> None:
    assert reply.status_code == 429
    retry_after = int(reply.headers["Retry-After"])
    assert left <= retry_after <= math.ceil(left) + 1 <= 61
    assert reply.headers["RateLimit-Limit"] == str(limit)
    assert reply.headers["RateLimit-Remaining"] == "0"
    assert reply.json()["data"]["retry_after_seconds"] == retry_after


async def test_concurrent_redemptions_are_limited_per_merchant_across_envs(
    database_url: str, redis_url: str, limits: Redis, make_merchant: MakeMerchant
) -> None:
    staging = await make_merchant("staging")
    live = await make_merchant("live", merchant_id=staging.merchant_id)
    neighbour = await make_merchant("live")
    async with (
        live_server(_limited(database_url, redis_url)) as root,
        local_client(base_url=f"{root}/api/public/v1", timeout=30) as http,
    ):
        replies = await asyncio.gather(
            *(
                http.post(
                    "/billing/redeem",
                    json={"code": f"RDM-GUES-S{i:03d}-0000-0000"},
                    headers=(staging if i % 2 else live).headers,
                )
                for i in range(20)
            )
        )
        codes = [r.json()["code"] for r in replies]
        assert codes.count(4110) == 4, codes  # unknown code: each one counted
        assert codes.count(2204) == 16, codes
        left = await ttl_of(limits, f"redeem:{staging.merchant_id}")
        for reply in replies:
            if reply.json()["code"] == 2204:
                _assert_honest(reply, left, 4)
        # Another merchant is not held up.
        other = await http.post(
            "/billing/redeem", json={"code": "RDM-NOPE"}, headers=neighbour.headers
        )
        assert other.json()["code"] == 4110


async def test_concurrent_test_events_are_limited_per_merchant(
    database_url: str, redis_url: str, limits: Redis, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    async with (
        live_server(_limited(database_url, redis_url)) as root,
        local_client(base_url=f"{root}/api/public/v1", timeout=30) as http,
    ):
        endpoint_id = await _endpoint(http, merchant)
        replies = await asyncio.gather(
            *(
                http.post(f"/webhooks/endpoints/{endpoint_id}/test", headers=merchant.headers)
                for _ in range(12)
            )
        )
        statuses = sorted(r.status_code for r in replies)
        assert statuses == [200] * 3 + [429] * 9, statuses
        assert {r.json()["code"] for r in replies if r.status_code == 429} == {5152}
        left = await ttl_of(limits, f"webhook-test:{merchant.merchant_id}")
        for reply in replies:
            if reply.status_code == 429:
                _assert_honest(reply, left, 3)
            else:
                assert reply.headers["RateLimit-Limit"] == "3"
        remaining = sorted(r.headers["RateLimit-Remaining"] for r in replies if r.is_success)
        assert remaining == ["0", "1", "2"]


async def test_replays_and_recovers_count_every_call(
    limited_app: ASGIApp, make_merchant: MakeMerchant, db: Database
) -> None:
    staging = await make_merchant("staging")
    live = await make_merchant("live", merchant_id=staging.merchant_id)
    async with client_at(limited_app, unique_address()) as http:
        endpoint_id = await _endpoint(http, live)
        tested = await http.post(f"/webhooks/endpoints/{endpoint_id}/test", headers=live.headers)
        delivery_id = tested.json()["data"]["delivery_id"]
        async with db.transaction() as conn:
            await conn.execute(update(_D).where(_D.c.id == delivery_id).values(status="failed"))

        replay = f"/webhooks/deliveries/{delivery_id}/replay"
        first = await http.post(replay, headers=live.headers)
        assert first.status_code == 200 and first.headers["RateLimit-Remaining"] == "1"
        pending = await http.post(replay, headers=live.headers)  # refused, yet counted
        assert pending.json()["code"] == 5005
        third = await http.post(replay, headers=live.headers)
        assert (third.status_code, third.json()["code"]) == (429, 5153)

        recover = f"/webhooks/endpoints/{endpoint_id}/replay-failed"
        since = {"since": "2020-01-01T00:00:00Z"}
        assert (await http.post(recover, json=since, headers=live.headers)).status_code == 200
        # The other environment's key counts for the same merchant (its endpoint is not found).
        other_env = await http.post(recover, json=since, headers=staging.headers)
        assert other_env.json()["code"] == 5001
        over = await http.post(recover, json=since, headers=live.headers)
        assert (over.status_code, over.json()["code"]) == (429, 5154)
        # A body that does not parse is not a call to count, nor to refuse as one.
        assert (await http.post(recover, json={}, headers=live.headers)).json()["code"] == 3001


async def test_with_redis_down_the_limited_calls_refuse_and_the_rest_go_on(
    database_url: str, private_redis: RedisServer, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    settings = _limited(database_url, private_redis.url)
    async with running_app(settings) as app, client_at(app, unique_address()) as http:
        endpoint_id = await _endpoint(http, merchant)
        private_redis.stop()
        calls = [
            http.post("/billing/redeem", json={"code": "RDM-X"}, headers=merchant.headers),
            http.post(f"/webhooks/endpoints/{endpoint_id}/test", headers=merchant.headers),
            http.post(
                f"/webhooks/endpoints/{endpoint_id}/replay-failed",
                json={"since": "2020-01-01T00:00:00Z"},
                headers=merchant.headers,
            ),
        ]
        for reply in [await call for call in calls]:
            assert (reply.status_code, reply.json()["code"]) == (503, 9002)
        assert (await http.get("/balance", headers=merchant.headers)).status_code == 200
        listed = await http.get("/webhooks/endpoints", headers=merchant.headers)
        assert [e["id"] for e in listed.json()["data"]] == [endpoint_id]
