"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a live
gateway (uvicorn on 127.0.0.1) and a delivery worker, on the embedded store.

Playwright's own browser download is not used: the tests drive the system's ``chromium``
(``AITOPUP_TEST_CHROMIUM`` names another binary). Without one, every test of this folder is
skipped for one reason, which pytest's summary prints as one line saying how to enable them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.store.engine import Database
from gateway.store.migrate import upgrade
from gateway.values.settings import Settings
from tests.fixtures.browser import (
    ACTION_MS,
    DESKTOP,
    Merchant,
    OwnerOf,
    chromium_path,
    new_owner,
    watch,
)
from tests.fixtures.core import free_port, live_server, local_client, wait_until
from tests.fixtures.preloaded import python_m
from tests.fixtures.workers import RunningWorker, StartWorker

CHROMIUM = chromium_path()
SKIPPED = (
    "browser tests skipped: install Debian's chromium (apt-get install chromium) or set "
    "AITOPUP_TEST_CHROMIUM"
)
try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError:  # pragma: no cover - the dev extras install it
    # The test modules import it too: without it they are not collected at all.
    collect_ignore_glob = ["test_*.py"]

# Each context is a window of its own, and each window of a headless Chromium made two pages of
# the address bar's pop-up (WebUI renderers, 0.7 s of CPU each in this suite) that no test sees.
# Chromium reads only the last ``--disable-features``, so this one repeats those Playwright
# passes (as of 1.5x: network calls to Google at start, Edge's and macOS's own).
_DISABLED_FEATURES = "--disable-features=" + ",".join(
    [
        "AvoidUnnecessaryBeforeUnloadCheckSync",
        "DestroyProfileOnBrowserClose",
        "HttpsUpgrades",
        "HttpsFirstBalancedModeAutoEnable",
        "LensOverlay",
        "MediaRouter",
        "PaintHolding",
        "ThirdPartyStoragePartitioning",
        "AvoidCorsURLLoaderRestartOnRedirect",
        "TcpPortRandomizationWin",
        "OptimizationHints",
        "NetworkTimeServiceQuerying",
        "AimEnabled",
        "PreconnectToSearch",
        "msForceBrowserSignIn",
        "msEdgeUpdateLaunchServicesPreferredVersion",
        # the address bar's pop-ups
        "WebUIOmniboxPopup",
        "WebUIOmniboxAimPopup",
    ]
)


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database of this session's own, on the embedded store alone: the browser's
    subject is the pages, served as ``make run`` serves them; the stores' behaviour behind each
    page is the rest of the suite's, on both."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    await asyncio.to_thread(upgrade, url)
    return url


@pytest.fixture(scope="session", autouse=True)
def _chromium_present() -> None:
    """First of every test here: without a Chromium each is skipped."""
    if CHROMIUM is None:
        pytest.skip(SKIPPED)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Those skips all point here, so pytest's summary folds them into one line."""
    report = yield
    if CHROMIUM is None and report.skipped:
        report.longrepr = (str(Path(__file__)), 1, f"Skipped: {SKIPPED}")
    return report


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    # An assertion waits as long as an action may (its own default is 5 s).
    expect.set_options(timeout=ACTION_MS)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            # Root in a container has no user namespaces for Chromium's sandbox.
            args=["--no-sandbox", "--disable-dev-shm-usage", _DISABLED_FEATURES],
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
async def gateway_url(hook_settings: Settings) -> AsyncIterator[str]:
    """A live gateway on a free port of 127.0.0.1: its root URL."""
    async with live_server(hook_settings) as root:
        yield root


@pytest.fixture(scope="session")
async def other_gateway(hook_settings: Settings) -> AsyncIterator[str]:
    """A second gateway in a process of its own (``aitopup serve``) on the same store and Redis:
    what one process writes, the dashboard served by another must show."""
    port = free_port()
    env = {
        **os.environ,
        "AITOPUP_DATABASE_URL": hook_settings.database_url,
        "AITOPUP_REDIS_URL": hook_settings.redis_url,
        "AITOPUP_KEY_PEPPER": hook_settings.key_pepper.get_secret_value(),
        "AITOPUP_SECRET_KEY": hook_settings.secret_key.get_secret_value(),
        "AITOPUP_ACCESS_LOG": "false",
        "AITOPUP_LOG_LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(
        *python_m("gateway.cli"), "serve", "--host", "127.0.0.1", "--port", str(port),
        env=env,
    )  # fmt: skip
    root = f"http://127.0.0.1:{port}"

    async def answers() -> bool:
        if proc.returncode is not None:
            raise AssertionError("the second gateway exited")
        try:
            async with local_client() as http:
                return (await http.get(f"{root}/healthz")).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await wait_until(answers, within=30)
        yield root
    finally:
        proc.terminate()
        await proc.wait()


@pytest.fixture
async def worker(start_worker: StartWorker) -> RunningWorker:
    """A delivery worker beside the gateway, for the test's webhooks."""
    return await start_worker()


@pytest.fixture
async def page(browser: Browser, gateway_url: str) -> AsyncIterator[Page]:
    """A fresh browser context (no cookies) at desktop size, based at the gateway."""
    context = await browser.new_context(viewport=DESKTOP, base_url=gateway_url)
    context.set_default_timeout(ACTION_MS)
    opened = await context.new_page()
    errors = watch(opened)
    yield opened
    await context.close()
    # A CSP violation or a script error is a failure of the page, whatever the test checked.
    assert not errors, errors


@pytest.fixture
async def signed_up(
    page: Page, db: Database, hook_settings: Settings, gateway_url: str
) -> Merchant:
    """A new merchant and its owner, signed in on ``page``, the page at the overview
    (``new_owner``: made as the sign-up form makes them, without the forms)."""
    return await new_owner(page, db, hook_settings, gateway_url)


@pytest.fixture
def owner(db: Database, hook_settings: Settings, gateway_url: str, language: str) -> OwnerOf:
    """``new_owner`` for a page of the test's own, the merchant signed up in the ``language``
    of the test's module (as the sign-up form read in it makes it): the forms themselves are
    driven in each language by ``test_languages_browser``."""

    async def made(page: Page) -> Merchant:
        return await new_owner(page, db, hook_settings, gateway_url, language=language)

    return made
