"""Shared fixtures: real Redis, real SQLite and PostgreSQL, the app in its lifespan.

Every store test runs twice, on SQLite and on PostgreSQL (``tests/fixtures/postgres.py`` says
which server: the one ``AITOPUP_TEST_POSTGRES_URL`` names, else a throwaway one started here).
Domain fixtures live in ``tests/fixtures/``; their helpers are re-exported here for the tests
that import them from ``tests.conftest``.
"""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp

from gateway.settings import Settings
from gateway.store.db import Database, create_engine
from gateway.store.migrate import upgrade
from tests.fixtures.billing import ADMIN_TOKEN, STRIPE_API, STRIPE_SECRET_KEY, stripe_headers
from tests.fixtures.core import (
    TEST_PEPPER,
    TEST_SECRET,
    asgi_client,
    free_port,
    live_server,
    make_settings,
    running_app,
    wait_until,
)
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
    unbalanced_wallets,
)
from tests.fixtures.postgres import fresh_database
from tests.fixtures.redis import RedisServer
from tests.fixtures.webhooks import (
    Received,
    Receiver,
    Reply,
    emit_test_events,
    events_of,
    fail_leftovers,
    make_endpoint,
    only_delivery,
    verify_both_schemes,
)
from tests.fixtures.workers import StartWorker

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.redis",
    "tests.fixtures.merchants",
    "tests.fixtures.billing",
    "tests.fixtures.webhooks",
    "tests.fixtures.workers",
]

# Helpers the tests import from here.
__all__ = [
    "ADMIN_TOKEN",
    "STRIPE_API",
    "STRIPE_SECRET_KEY",
    "TEST_PEPPER",
    "TEST_SECRET",
    "MakeMerchant",
    "MerchantKey",
    "Received",
    "Receiver",
    "RedisServer",
    "Reply",
    "StartWorker",
    "assert_ledger_balanced",
    "emit_test_events",
    "events_of",
    "fail_leftovers",
    "free_port",
    "make_endpoint",
    "make_settings",
    "merchant_balance",
    "only_delivery",
    "running_app",
    "stripe_headers",
    "unbalanced_wallets",
    "verify_both_schemes",
    "wait_until",
]


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated database of this run's own, on each store in turn."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    # Asked for here, not as a parameter, so a run without PostgreSQL tests starts no server.
    server: str = request.getfixturevalue("postgres_server")
    async with fresh_database(server) as url:
        await asyncio.to_thread(upgrade, url)
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url, redis_url)


@pytest.fixture(scope="session")
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(create_engine(settings.database_url))
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[ASGIApp]:
    async with running_app(settings) as running:
        yield running


@pytest.fixture
async def client(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as http:
        yield http


@pytest.fixture(scope="session")
async def live_url(settings: Settings) -> AsyncIterator[str]:
    """The app on a real uvicorn socket, for tests that need real concurrent HTTP requests."""
    async with live_server(settings) as root:
        yield f"{root}/api/public/v1"
