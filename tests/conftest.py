"""Shared fixtures: real Redis, real SQLite and PostgreSQL, the app in its lifespan.

Redis is a ``redis-server`` started here on a free port (or ``AITOPUP_TEST_REDIS_URL``).
PostgreSQL runs when ``AITOPUP_TEST_POSTGRES_URL`` names a server (CI sets it): each run gets a
fresh database, dropped at the end. Without it the PostgreSQL half is skipped, and says so.
"""

import asyncio
import gc
import os
import shutil
import socket
import ssl
import subprocess
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp

from gateway.app import create_app
from gateway.clock import utcnow
from gateway.ledger import service as ledger
from gateway.merchants import service as merchants
from gateway.settings import Settings
from gateway.store.db import Database, create_engine
from gateway.store.migrate import upgrade
from keys import Env

PG_ENV = "AITOPUP_TEST_POSTGRES_URL"
TEST_PEPPER = "test-pepper-0123456789abcdef"
TEST_SECRET = "test-sealing-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, within: float = 10.0, interval: float = 0.02
) -> None:
    """Poll ``check`` until it holds, failing the test at the deadline."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


async def unbalanced_wallets(db: Database) -> list[tuple[str, int, int]]:
    """Wallets whose balance is not the sum of their ledger entries (should be none)."""
    query = text(
        "SELECT w.id, w.balance_cents, COALESCE(SUM(l.amount_cents), 0) AS total "
        "FROM wallets w LEFT JOIN ledger_entries l ON l.wallet_id = w.id "
        "GROUP BY w.id, w.balance_cents "
        "HAVING w.balance_cents <> COALESCE(SUM(l.amount_cents), 0)"
    )
    async with db.engine.connect() as conn:
        return [(r.id, r.balance_cents, r.total) for r in await conn.execute(query)]


async def merchant_balance(db: Database, merchant: "MerchantKey") -> int:
    async with db.engine.connect() as conn:
        found = await ledger.balance(
            conn, merchant.env, ledger.merchant_owner(merchant.merchant_id)
        )
    assert found is not None
    return found.balance_cents


def pytest_report_header(config: pytest.Config) -> str:
    if os.environ.get(PG_ENV):
        return f"PostgreSQL tests: on ({PG_ENV} is set)"
    return f"PostgreSQL tests: SKIPPED ({PG_ENV} is not set); SQLite tests run"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("AITOPUP_TEST_REDIS_URL")
    if given:
        yield given
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed and AITOPUP_TEST_REDIS_URL is not set")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.02)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def _pg_admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL half skipped: set {PG_ENV} to run it")
    name = f"aitopup_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_pg_admin_dsn(base))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, url)
    yield url
    admin = await asyncpg.connect(_pg_admin_dsn(base))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def make_settings(database_url: str, redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "key_pepper": TEST_PEPPER,
        "secret_key": TEST_SECRET,
        "access_log": False,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url, redis_url)


@pytest.fixture(scope="session")
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(create_engine(settings.database_url))
    yield database
    await database.dispose()


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[ASGIApp]:
    """The app built from ``settings``, inside its lifespan."""
    async with LifespanManager(create_app(settings)) as manager:
        yield manager.app


def asgi_client(
    app: ASGIApp, base_url: str = "http://gateway.test/api/public/v1", **kwargs: Any
) -> httpx.AsyncClient:
    """A client of ``app`` in-process; a 500 comes back as a reply, as a real client sees it."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=base_url, **kwargs)


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
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("live server did not start")
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}/api/public/v1"
    server.should_exit = True
    await task


@dataclass(frozen=True)
class MerchantKey:
    merchant_id: str
    key_id: str
    key: str
    env: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


MakeMerchant = Callable[..., Awaitable[MerchantKey]]


@pytest.fixture
def make_merchant(db: Database, settings: Settings) -> MakeMerchant:
    """A new merchant with one key; ``balance_cents`` sets the wallet through the ledger."""

    async def make(
        env: Env = "staging",
        *,
        balance_cents: int | None = None,
        low_balance_threshold_cents: int = 0,
        merchant_id: str | None = None,
    ) -> MerchantKey:
        now = utcnow()
        async with db.begin() as conn:
            if merchant_id is None:
                merchant = await merchants.create_merchant(
                    conn,
                    db,
                    name=f"merchant-{uuid.uuid4().hex}",
                    low_balance_threshold_cents=low_balance_threshold_cents,
                    staging_initial_balance_cents=settings.staging_initial_balance_cents,
                    now=now,
                )
                merchant_id = merchant.id
            key_id, key = await merchants.create_key(
                conn,
                merchant_id,
                env,
                TEST_PEPPER.encode(),
                now,
            )
            if balance_cents is not None:
                await set_balance(conn, db, env, merchant_id, balance_cents)
        return MerchantKey(merchant_id, key_id, key.raw, env)

    return make


async def set_balance(conn: Any, db: Database, env: str, merchant_id: str, target: int) -> None:
    """Move a merchant wallet to ``target`` with a ledger entry, as an adjustment would."""
    now = utcnow()
    wallet_id, _ = await ledger.ensure_wallet(conn, db, env, merchant_id, now)
    current = await ledger.balance(conn, env, ledger.merchant_owner(merchant_id))
    assert current is not None
    delta = target - current.balance_cents
    if delta:
        await ledger.credit(conn, wallet_id, delta, now)
        await ledger.append(conn, [ledger.Entry(wallet_id, env, delta, "adjustment")], now)


# --- billing ---

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
STRIPE_SECRET_KEY = "sk_test_billing_0123456789"
STRIPE_WEBHOOK_SECRET = "whsec_test_billing_0123456789"
STRIPE_API = "https://stripe.test"
PUBLIC_BASE = "http://gateway.test"


@pytest.fixture(scope="session")
def billing_settings(database_url: str, redis_url: str) -> Settings:
    """Admin token and Stripe configured; Stripe itself is whatever respx says it is."""
    return make_settings(
        database_url,
        redis_url,
        admin_token=ADMIN_TOKEN,
        stripe_secret_key=STRIPE_SECRET_KEY,
        stripe_webhook_secret=STRIPE_WEBHOOK_SECRET,
        stripe_api_base=STRIPE_API,
        stripe_max_network_retries=0,
        public_base_url=PUBLIC_BASE,
    )


@pytest.fixture(scope="session")
async def billing_app(billing_settings: Settings) -> AsyncIterator[ASGIApp]:
    async with running_app(billing_settings) as running:
        yield running


@pytest.fixture
async def billing_client(billing_app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(billing_app, f"{PUBLIC_BASE}/api/public/v1") as http:
        yield http


@pytest.fixture
async def admin_client(billing_app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """Carries the admin token; pass ``headers=`` to a call to try others."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with asgi_client(billing_app, f"{PUBLIC_BASE}/api/admin/v1", headers=headers) as http:
        yield http


@pytest.fixture(scope="session")
async def billing_live_url(billing_settings: Settings) -> AsyncIterator[str]:
    """The billing-configured app on a real socket, for real concurrent requests."""
    port = free_port()
    config = uvicorn.Config(
        create_app(billing_settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("live server did not start")
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


def stripe_headers(
    payload: str, *, secret: str = STRIPE_WEBHOOK_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Signed the way the stripe package signs test events."""
    import stripe

    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


async def assert_ledger_balanced(db: Database) -> None:
    """Every wallet's balance is the sum of its ledger entries."""
    from sqlalchemy import func, select

    from gateway.store.models import LedgerEntry, Wallet, table_of

    w, entries = table_of(Wallet), table_of(LedgerEntry)
    sums = (
        select(entries.c.wallet_id, func.sum(entries.c.amount_cents).label("total"))
        .group_by(entries.c.wallet_id)
        .subquery()
    )
    stmt = select(w.c.id, w.c.balance_cents, func.coalesce(sums.c.total, 0)).outerjoin(
        sums, sums.c.wallet_id == w.c.id
    )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    off = [(r[0], r[1], r[2]) for r in rows if r[1] != r[2]]
    assert not off, f"wallets whose balance is not the sum of their entries: {off}"


async def events_of(db: Database, merchant_id: str, type_: str) -> list[dict[str, Any]]:
    import json

    from sqlalchemy import select

    from gateway.store.models import Event, table_of

    e = table_of(Event)
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(e.c.payload)
            .where(e.c.merchant_id == merchant_id, e.c.type == type_)
            .order_by(e.c.id)
        )
        return [json.loads(r.payload) for r in rows]


async def emit_test_events(
    db: Database, merchant_id: str, count: int, *, redis_url: str | None = None
) -> list[str]:
    """``count`` ``webhook.test`` events in one transaction, written as the gateway writes
    events, and enqueued after the commit when ``redis_url`` is given; their delivery ids."""
    from arq import create_pool
    from arq.connections import RedisSettings

    from gateway.webhooks import outbox

    ids: list[str] = []
    async with db.begin() as conn:
        for n in range(count):
            ids += await outbox.emit(
                conn,
                env="staging",
                merchant_id=merchant_id,
                type_="webhook.test",
                data={"n": n},
                now=utcnow(),
            )
    if redis_url is not None:
        pool = await create_pool(RedisSettings.from_dsn(redis_url))
        await outbox.enqueue(pool, ids)
        await pool.aclose()
    return ids


# --- operations ---


class RedisServer:
    """A ``redis-server`` of the test's own, on a fixed port, that the test may stop and restart."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed")
        self.proc = subprocess.Popen(
            [
                *(binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.folder), "--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail("redis-server did not start")
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ops_settings(settings: Settings) -> Settings:
    """The session's settings with the access log and metrics on, as in production."""
    return settings.model_copy(update={"access_log": True, "metrics": True})


@pytest.fixture
async def ops_client(ops_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a fresh app at the server root (not the API prefix)."""
    async with (
        running_app(ops_settings) as running,
        asgi_client(running, "http://gateway.test") as http,
    ):
        yield http


# --- webhooks ---

import struct  # noqa: E402

_STOP_WRITING = (ConnectionError, OSError)


@dataclass
class Received:
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic() when the body was read
    raw: bytes = b""  # the request as it came: head and body

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Reply:
    """How the receiver answers: ``mode`` picks a misbehaviour instead of a plain reply."""

    status: int = 200
    headers: dict[str, str] | None = None
    body: bytes = b"ok"
    mode: str = "normal"  # normal, hang, reset, huge, close (without a word)
    huge_bytes: int = 50 * 1024 * 1024
    delay: float = 0.0  # a slow receiver: seconds before answering
    raw: bytes | None = None  # written as it is, instead of a reply made of the fields above
    last: bool = False  # close the connection after this reply


class Receiver:
    """A real HTTP/1.1 server on 127.0.0.1, small enough to misbehave on purpose: hang, reset
    mid-response, stream 50 MB, or answer with any bytes at all. ``respond`` decides each reply;
    ``received`` logs requests. With ``tls``, it speaks HTTPS."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.received: list[Received] = []
        self.respond: Callable[[Received], Reply] = lambda _: Reply()
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = asyncio.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def ids(self) -> set[str]:
        return {r.webhook_id for r in self.received}

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, backlog=1024, ssl=self.tls
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._closing.set()
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while not self._closing.is_set():
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(headers, body, time.monotonic(), head + body)
                self.received.append(request)
                reply = self.respond(request)
                if not await self._answer(writer, reply):
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, *_STOP_WRITING):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, reply: Reply) -> bool:
        """Whether the connection may carry another request."""
        if reply.mode == "close":
            return False
        if reply.raw is not None:
            writer.write(reply.raw)
            await writer.drain()
            return not reply.last
        if reply.mode == "hang":
            await self._closing.wait()
            return False
        if reply.delay:
            await asyncio.sleep(reply.delay)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (reply.headers or {}).items())
        if reply.mode == "reset":
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n{extra}\r\npart".encode())
            await writer.drain()
            sock = writer.get_extra_info("socket")
            # Linger 0: close with a TCP reset, not a polite FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        size = reply.huge_bytes if reply.mode == "huge" else len(reply.body)
        writer.write(f"HTTP/1.1 {reply.status} X\r\nContent-Length: {size}\r\n{extra}\r\n".encode())
        if reply.mode == "huge":
            chunk = b"x" * 65536
            for _ in range(size // len(chunk)):
                writer.write(chunk)
                await writer.drain()
            return False
        writer.write(reply.body)
        await writer.drain()
        return True


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    yield found
    await found.stop()


@pytest.fixture(scope="session")
def hook_settings(database_url: str, redis_url: str) -> Settings:
    """Staging may send to loopback (the receiver); the retry schedule is short."""
    return make_settings(
        database_url,
        redis_url,
        allow_private_webhook_urls=True,
        webhook_retry_schedule="0,0.4,0.8",
        webhook_timeout_seconds=2,
    )


@pytest.fixture(scope="session")
async def hook_app(hook_settings: Settings) -> AsyncIterator[ASGIApp]:
    async with running_app(hook_settings) as running:
        yield running


@pytest.fixture
async def hook_client(hook_app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(hook_app) as http:
        yield http


@dataclass
class RunningWorker:
    worker: Any  # arq.Worker
    settings: Settings

    @property
    def deps(self) -> Any:  # worker.delivery.Deps
        return self.worker.ctx["deps"]


StartWorker = Callable[..., Awaitable[RunningWorker]]


async def fail_leftovers(db: Database) -> None:
    """Pending deliveries a test leaves behind must not reach the next test's worker."""
    from sqlalchemy import update

    from gateway.store.models import WebhookDelivery, table_of

    deliveries = table_of(WebhookDelivery)
    async with db.begin() as conn:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.status == "pending")
            .values(status="failed", next_attempt_at=None)
        )


@pytest.fixture
async def start_worker(
    hook_settings: Settings, redis_url: str, db: Database
) -> AsyncIterator[StartWorker]:
    """An ARQ worker in this event loop, built the way ``python -m worker`` builds it. Redis is
    flushed first, so no job of an earlier test runs here."""
    from redis.asyncio import Redis

    from worker.__main__ import worker_settings
    from worker.queue import DeliveryWorker

    started: list[tuple[Any, asyncio.Task[None]]] = []
    redis = Redis.from_url(redis_url)
    await redis.flushall()
    await redis.aclose()

    async def start(**overrides: Any) -> RunningWorker:
        chosen = hook_settings.model_copy(update=overrides) if overrides else hook_settings
        worker = DeliveryWorker(**worker_settings(chosen, handle_signals=False))
        task = asyncio.create_task(worker.async_run())
        started.append((worker, task))

        async def ready() -> bool:
            return "deps" in worker.ctx

        await wait_until(ready)
        return RunningWorker(worker, chosen)

    yield start
    with warnings.catch_warnings():
        # Stopping a worker cancels its jobs mid-flight, as a kill would, and a Redis pipeline
        # cancelled that way warns when it is collected. Collect here, where that is expected,
        # rather than in whichever later test the collector happens to run in.
        warnings.simplefilter("ignore", ResourceWarning)
        for worker, task in started:
            await stop_worker(worker, task)
        started.clear()
        gc.collect()
    await fail_leftovers(db)


async def stop_worker(worker: Any, task: "asyncio.Task[None]") -> None:
    """``Worker.close`` without its deprecated redis call (the warning would fail the test)."""
    import contextlib
    import signal

    from worker.__main__ import shutdown

    worker.handle_sig(signal.SIGUSR1)  # cancels the running jobs and the main loop
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await shutdown(worker.ctx)
    await worker.pool.aclose()
