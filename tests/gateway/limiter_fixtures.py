"""What the rate-limit tests share: no count of one test leaks into another, and clients that
call from an address of the test's choosing."""

import random
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from starlette.types import ASGIApp

__all__ = ["PUBLIC", "client_at", "limits", "ttl_of", "unique_address"]

PUBLIC = "http://gateway.test/api/public/v1"
NAMESPACE = "aitopup:ratelimit:"


async def _clear(redis: Redis) -> None:
    async for key in redis.scan_iter(match=f"{NAMESPACE}*", count=1000):
        await redis.delete(key)


@pytest.fixture
async def limits(redis_url: str) -> AsyncIterator[Redis]:
    """The session's Redis, with every rate-limit count cleared before and after the test."""
    redis = Redis.from_url(redis_url)
    await _clear(redis)
    yield redis
    await _clear(redis)
    await redis.aclose()


async def ttl_of(redis: Redis, bucket: str) -> float:
    """Seconds left of a bucket's window, as Redis sees it."""
    ms: int = await redis.pttl(NAMESPACE + bucket)
    return ms / 1000


def unique_address() -> str:
    """An address from the benchmarking range (RFC 2544), one a test has to itself."""
    return f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"


def client_at(app: ASGIApp, address: str, base_url: str = PUBLIC) -> httpx.AsyncClient:
    """A client of ``app`` in-process whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=base_url)
