"""A payment channel's notifications, Stripe's events among them, are counted per source
address in one bucket for every channel: past it 2209 (429) in the envelope, before anything is
read; another address goes on. With Redis down they are admitted (each is verified before it
writes, and a provider's refused notice is a payer's credit late)."""

import httpx
import pytest
from redis.asyncio import Redis

from gateway.values.settings import Settings
from tests.fixtures.core import running_app
from tests.fixtures.limiters import client_at, limits, unique_address

__all__ = ["limits"]  # a fixture, used by name

NOTICES = ("/payment/webhook/myfatoorah", "/payments/stripe/webhook", "/payment/webhook/stripe")


async def _notify(http: httpx.AsyncClient) -> list[httpx.Response]:
    return [await http.post(path, json={"Data": {"InvoiceId": 1}}) for path in NOTICES]


@pytest.mark.both_stores
async def test_notices_from_one_address_are_bounded(settings: Settings, limits: Redis) -> None:
    limited = settings.model_copy(update={"payment_notices_per_client_per_minute": 3})
    async with running_app(limited) as app:
        async with client_at(app, unique_address()) as http:
            within = await _notify(http)
            past = await _notify(http)
        async with client_at(app, unique_address()) as http:
            elsewhere = await _notify(http)
    # Refused by the channel itself (none is configured here): each read, none counted out.
    assert 2209 not in [r.json()["code"] for r in within]
    assert [(r.status_code, r.json()["code"]) for r in past] == [(429, 2209)] * 3
    assert all(0 < int(r.headers["retry-after"]) <= 60 for r in past)
    assert past[0].json()["data"]["limit"] == 3
    assert [r.json()["code"] for r in elsewhere] == [r.json()["code"] for r in within]


@pytest.mark.both_stores
async def test_with_redis_down_notices_are_admitted(settings: Settings) -> None:
    async with running_app(settings) as app, client_at(app, unique_address()) as http:
        usual = await _notify(http)
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1"})
    async with running_app(down) as app, client_at(app, unique_address()) as http:
        admitted = await _notify(http)
    assert 2209 not in [r.json()["code"] for r in usual]
    assert [r.json()["code"] for r in admitted] == [r.json()["code"] for r in usual]
