"""Shared fixtures: real Redis, real SQLite and PostgreSQL, the app in its lifespan.

Every store test runs twice, on SQLite and on PostgreSQL (``tests/fixtures/postgres.py`` says
which server: the one ``AITOPUP_TEST_POSTGRES_URL`` names, else a throwaway one started here).
Two kinds run on SQLite alone (``ONE_STORE``; collection deselects their PostgreSQL run): the
doors' tests (``api/``, ``dashboard/``, ``mcp/``, ``ops/``), whose subject is parsing,
rendering, envelopes, links and CSRF over a store the rest of the suite proves on both; and the
process tests (the CLI, ``make run``, the runner's signals, a worker's stop, a worker losing
its Redis, what the app's startup leaves in the collector), whose subject is a process. A test
of either that guards a store's behaviour (a race, a concurrency claim, idempotency under
concurrent requests, a CHECK or constraint, a migration, a plan's rendering) is marked
``both_stores`` and runs on both. ``tests/test_conftest.py`` pins the rule.
Domain fixtures and every helper a test imports live in ``tests/fixtures/``: a test imports them
from there, never from a conftest.
"""

import asyncio
import functools
import gc
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from gateway.redis_server import PortHold
from gateway.store.db import open_database
from gateway.store.engine import Database
from gateway.store.migrate import upgrade
from gateway.values.settings import Settings
from tests.fixtures.core import (
    TEST_STORE_BOUND_SECONDS,
    asgi_client,
    live_server,
    make_settings,
    running_app,
)
from tests.fixtures.lanes import lanes_of
from tests.fixtures.migrations import SqliteRevisions
from tests.fixtures.postgres import fresh_database

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.migrations",
    "tests.fixtures.crashes",
    "tests.fixtures.redis",
    "tests.fixtures.moto",
    "tests.fixtures.merchants",
    "tests.fixtures.billing",
    "tests.fixtures.webhooks",
    "tests.fixtures.workers",
    "tests.fixtures.upstreams",
    "tests.fixtures.mail",
    "tests.fixtures.stripe",
    "tests.fixtures.myfatoorah",
    "tests.fixtures.creem",
    "tests.fixtures.subscriptions",
    "tests.fixtures.oauth",
    "tests.fixtures.contracts",
    "tests.fixtures.acme_pay",
    "tests.fixtures.orbit_pay",
    "tests.fixtures.epay",
    "tests.fixtures.passwords",
    "tests.fixtures.seller_payments",
    "tests.fixtures.treasury",
    "tests.fixtures.sellers",
    "tests.fixtures.telegram",
]

# Inside pytest-timeout's limit (pyproject.toml), which ends the whole run with nothing but
# threads' stacks: an async test past this fails alone, its traceback showing what it awaited.
TEST_DEADLINE_SECONDS = 240


def _bounded(test: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> None:
        async with asyncio.timeout(TEST_DEADLINE_SECONDS):
            await test(*args, **kwargs)

    return run


# Paths from the repository's root: a folder ends with "/", a file's name may be a prefix.
ONE_STORE = (
    "tests/gateway/api/",
    "tests/gateway/dashboard/",
    "tests/gateway/mcp/",
    "tests/gateway/ops/",
    "tests/gateway/test_app.py",
    "tests/gateway/test_cli",
    "tests/gateway/test_devrun.py",
    "tests/test_runner_signals.py",
    "tests/worker/test_outages.py",  # Redis lost; PostgreSQL's own outages on a cluster of its own
    "tests/worker/test_stopping.py",
)


def on_one_store(item: pytest.Item) -> bool:
    """Whether ``item`` runs on SQLite alone: under ``ONE_STORE`` and not marked ``both_stores``."""
    path = item.path.relative_to(item.config.rootpath).as_posix()
    return path.startswith(ONE_STORE) and item.get_closest_marker("both_stores") is None


def _store_of(item: pytest.Item) -> object:
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get("database_url")


def pytest_sessionstart(session: pytest.Session) -> None:
    # What collection makes (every test module and item) lives as long as the session: the
    # collector walking it again and again as it is made was a quarter of a collection's CPU, in
    # each of the run's processes. Frozen once made, it stays out of every later collection too.
    gc.disable()


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    # After collection in every process (pytest-xdist's controller collects nothing but runs
    # this loop too), before the first test.
    gc.freeze()
    gc.enable()


@pytest.hookimpl(tryfirst=True, specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_lanes(items: list[pytest.Item]) -> None:
    # Before pytest-xdist reads the groups into the ids (its own hook of this name; pytest takes
    # a conftest's hooks by their prefix, pluggy the spec by specname), once the whole run is
    # known, so that the lanes are weighed by what each will run.
    laned = [
        item
        for item in items
        if _store_of(item) == "postgres"
        and not on_one_store(item)
        and item.get_closest_marker("xdist_group") is None
    ]
    lanes = lanes_of(_module_of(item) for item in laned)
    for item in laned:
        item.add_marker(pytest.mark.xdist_group(lanes[_module_of(item)]))


def _module_of(item: pytest.Item) -> str:
    return item.path.relative_to(item.config.rootpath).as_posix()


@pytest.hookimpl(trylast=True)  # after pytest has grouped the tests by store
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        if _store_of(item) == "postgres" and on_one_store(item):
            dropped.append(item)
            continue
        kept.append(item)
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.obj = _bounded(item.obj)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    # The PostgreSQL lanes first, so that they start at once rather than after the rest, which
    # the other processes share meanwhile; then the tests that run a real-time schedule (the
    # benches, the soaks, make run), each a unit of its own (``--dist loadgroup``) handed out
    # as a process is free, so that none starts near the end and ends the run alone.
    kept.sort(
        key=lambda item: (_store_of(item) != "postgres", item.get_closest_marker("slow") is None)
    )
    items[:] = kept


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated database of this run's own, on each store in turn."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "test.db"
        revisions: SqliteRevisions = request.getfixturevalue("sqlite_revisions")
        yield await asyncio.to_thread(revisions.copy_to, "head", path)
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
    database = open_database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        command_timeout=TEST_STORE_BOUND_SECONDS,
        pool_timeout=TEST_STORE_BOUND_SECONDS,
    )
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


@pytest.fixture
def idle_port() -> Iterator[int]:
    """A port of 127.0.0.1 where nothing listens, held (``PortHold``) so that nothing does until
    the test ends: a connection there is refused, whatever else runs on this machine."""
    with PortHold() as hold:
        yield hold.port


@pytest.fixture(scope="session")
async def live_url(settings: Settings) -> AsyncIterator[str]:
    """The app on a real uvicorn socket, for tests that need real concurrent HTTP requests."""
    async with live_server(settings) as root:
        yield f"{root}/api/public/v1"
