"""Endpoints per merchant and environment are capped, under real concurrency too, on both stores:
one send can fan out to only so many receivers."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import WebhookEndpoint, table_of
from tests.fixtures.core import asgi_client, live_server, local_client, make_settings, running_app
from tests.fixtures.merchants import MakeMerchant, MerchantKey

CAP = 3
PUBLIC_URL = "http://93.184.215.14/hook"
_EP = table_of(WebhookEndpoint)


@pytest.fixture
async def capped(database_url: str, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, redis_url, max_endpoints_per_merchant_env=CAP)
    async with running_app(settings) as app, asgi_client(app) as http:
        yield http


async def _create(http: httpx.AsyncClient, merchant: MerchantKey) -> httpx.Response:
    return await http.post(
        "/webhooks/endpoints", json={"url": PUBLIC_URL}, headers=merchant.headers
    )


async def _count(db: Database, merchant: MerchantKey) -> int:
    async with db.read() as conn:
        found = await conn.execute(
            select(func.count())
            .select_from(_EP)
            .where(
                _EP.c.merchant_id == merchant.merchant_id,
                _EP.c.env == merchant.env,
                _EP.c.deleted_at.is_(None),
            )
        )
    return int(found.scalar_one())


async def test_one_more_than_the_cap_is_refused_per_env(
    capped: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    live = await make_merchant("live")
    staging = await make_merchant("staging", merchant_id=live.merchant_id)
    created = [await _create(capped, live) for _ in range(CAP)]
    assert [r.status_code for r in created] == [201] * CAP
    refused = await _create(capped, live)
    assert (refused.status_code, refused.json()["code"]) == (409, 5151)
    assert refused.json()["data"] == {"limit": CAP}
    # The other environment has its own cap.
    assert (await _create(capped, staging)).status_code == 201
    # A deleted endpoint makes room; a disabled one does not.
    first, second = (r.json()["data"]["id"] for r in created[:2])
    disabled = await capped.patch(
        f"/webhooks/endpoints/{first}", json={"enabled": False}, headers=live.headers
    )
    assert disabled.status_code == 200
    assert (await _create(capped, live)).json()["code"] == 5151
    deleted = await capped.delete(f"/webhooks/endpoints/{second}", headers=live.headers)
    assert deleted.status_code == 200
    assert (await _create(capped, live)).status_code == 201


async def test_concurrent_creates_stop_at_the_cap(
    database_url: str, redis_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("live")
    settings = make_settings(database_url, redis_url, max_endpoints_per_merchant_env=CAP)
    async with (
        live_server(settings) as root,
        local_client(base_url=f"{root}/api/public/v1", timeout=30) as http,
    ):
        replies = await asyncio.gather(*(_create(http, merchant) for _ in range(12)))
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [201] * CAP + [409] * (12 - CAP), statuses
    assert await _count(db, merchant) == CAP


async def test_the_default_cap_is_twenty(
    app: ASGIApp, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("live")
    async with asgi_client(app) as http:
        codes = [(await _create(http, merchant)).status_code for _ in range(21)]
    assert codes == [201] * 20 + [409]
    assert await _count(db, merchant) == 20
