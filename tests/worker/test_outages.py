"""Losing Redis stops nothing for long: a real gateway (uvicorn), ``python -m worker`` as a process,
a Redis of the test's own killed and restarted empty on the same port, and a receiver that checks
every signature. The worker waits the outage out and delivers again; the gateway's sends and its
readiness never fail for it. How a worker stops, whatever it waits for: ``test_stopping``.

Redis's outage on SQLite alone (``tests/conftest.py`` ``ONE_STORE``): the worker's wait for Redis
and the sweep that hands the outbox out again are the same code on either store, whose queries
the delivery tests prove on both; PostgreSQL's own outages below stop a cluster of their own."""

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.operator import create_key, create_merchant
from gateway.store.migrate import upgrade
from gateway.values.settings import Settings
from tests.fixtures.core import live_server, local_client, make_settings, wait_until
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.postgres import PostgresStartError, ThrowawayPostgres, candidate_binaries
from tests.fixtures.redis import RedisServer, crash
from tests.fixtures.webhooks import Receiver, verify_both_schemes
from tests.fixtures.workers import log_lines, spawn_worker, stopped_within

pytestmark = pytest.mark.slow

SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "user@example.com"}
# Deliveries made before the fault: enough that the worker has leased, delivered and recorded
# in rounds on the Redis it is about to lose (its queue, its locks, its wake-ups).
BEFORE = 40
AFTER = 20  # sends made during the outage, and again after it: two rounds of ten at once


class Watch:
    """``/readyz`` asked every 50 ms until stopped; every answer that was not ready is kept."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self.asked = 0
        self.not_ready: list[tuple[int, str]] = []
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            reply = await self._http.get("/readyz")
            self.asked += 1
            if reply.status_code != 200:
                self.not_ready.append((reply.status_code, reply.text))
            await asyncio.sleep(0.05)  # the watcher's pace: readiness sampled all along

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture
async def gateway(settings: Settings, private_redis: RedisServer) -> AsyncIterator[str]:
    """A real gateway on the test's own Redis; staging may deliver to loopback."""
    chosen = settings.model_copy(
        update={"redis_url": private_redis.url, "allow_private_webhook_urls": True}
    )
    async with live_server(chosen) as url:
        yield url


async def send_all(http: httpx.AsyncClient, merchant: MerchantKey, count: int) -> list[str]:
    """``count`` sends, ten at a time; each must succeed. Their transaction ids."""
    ids: list[str] = []
    for start in range(0, count, 10):
        replies = await asyncio.gather(
            *(
                http.post("/api/public/v1/topup/send", json=SEND, headers=merchant.headers)
                for _ in range(min(10, count - start))
            )
        )
        for reply in replies:
            assert reply.status_code == 200, reply.text
            ids.append(reply.json()["transaction_id"])
    return ids


def delivered(receiver: Receiver, secret: str) -> set[str]:
    """Transaction ids of the webhooks received, each verified against ``secret``."""
    found: set[str] = set()
    for request in list(receiver.received):
        payload: dict[str, Any] = verify_both_schemes(request, secret)
        found.add(payload["data"]["transaction_id"])
    return found


async def arrive(receiver: Receiver, secret: str, ids: list[str], *, within: float) -> None:
    async def all_arrived() -> bool:
        return set(ids) <= delivered(receiver, secret)

    await wait_until(all_arrived, within=within, interval=0.1)


async def test_redis_killed_and_restarted_empty_stops_nothing(
    gateway: str,
    private_redis: RedisServer,
    settings: Settings,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    async with local_client(base_url=gateway, timeout=10) as http:
        merchant = await make_merchant(balance_cents=1_000_000)
        reply = await http.post(
            "/api/public/v1/webhooks/endpoints",
            json={"url": receiver.url},
            headers=merchant.headers,
        )
        assert reply.status_code == 201, reply.text
        secret = reply.json()["data"]["secret"]
        worker_settings = settings.model_copy(update={"redis_url": private_redis.url})
        worker = spawn_worker(worker_settings, tmp_path, "worker")
        watch = Watch(http)
        try:
            await arrive(receiver, secret, await send_all(http, merchant, BEFORE), within=60)

            await asyncio.to_thread(crash, private_redis)
            ready = await http.get("/readyz")  # ready, and saying what it lacks
            assert ready.status_code == 200 and ready.json()["data"]["redis"] == "unavailable"
            during = await send_all(http, merchant, AFTER)  # the outbox holds their webhooks

            async def noticed() -> bool:
                # An idle worker looks at Redis about once a second: the outage lasts until
                # it has seen it, however fast the sends above went.
                return "Redis unavailable" in (tmp_path / "worker.log").read_text()

            await wait_until(noticed, within=30)
            await asyncio.to_thread(private_redis.start)
            after = await send_all(http, merchant, AFTER)
            # The sweep hands "during" out again; generous, for a busy machine.
            await arrive(receiver, secret, during + after, within=60)
            assert worker.poll() is None, "the worker exited"

            # Still delivering, not merely alive: a send made now arrives too.
            await arrive(receiver, secret, await send_all(http, merchant, 10), within=30)
            await watch.stop()
            assert watch.not_ready == []

            worker.send_signal(signal.SIGTERM)
            assert await stopped_within(worker, 10) == 0
        finally:
            await watch.stop()
            if worker.poll() is None:
                worker.kill()
                await asyncio.to_thread(worker.wait, 10)
    lines = log_lines(tmp_path, "worker")
    assert any(line["msg"].startswith("Redis unavailable") for line in lines)
    assert any(line["msg"].startswith("Redis answers again") for line in lines)


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL cluster of this module's own: its start and its migrations were most of a
    test's CPU, once for each test."""
    for binaries in candidate_binaries():
        server = ThrowawayPostgres(binaries.folder)
        try:
            server.start()
        except (PostgresStartError, OSError, subprocess.SubprocessError):
            server.stop()
            continue
        try:
            yield server
        finally:
            server.stop()
        return
    pytest.skip("no PostgreSQL binaries to start a cluster of the test's own")


@pytest.fixture
def own_postgres(own_cluster: ThrowawayPostgres) -> Iterator[ThrowawayPostgres]:
    """The module's cluster, which a test may stop and start again: left running and answering
    for the next, whatever the test did to it."""
    yield own_cluster
    if own_cluster.proc is None:
        own_cluster.resume()
    else:
        own_cluster.unstall()


# How long the store is down. Every pooled connection is dead from the first second (the server
# is shut down, not slowed), so each call after it meets the outage: what is under test is how
# calls fail while it lasts and that everything comes back, not its length. A few of the client's
# rounds, each a send and a readiness check.
OUTAGE = 3.0


async def test_postgres_stopped_for_a_while_fails_calls_cleanly_then_recovers(
    own_postgres: ThrowawayPostgres,
    private_redis: RedisServer,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    settings = make_settings(own_postgres.url, private_redis.url, allow_private_webhook_urls=True)
    await asyncio.to_thread(upgrade, settings.database_url)
    owner = await asyncio.to_thread(create_merchant, settings, "outage")
    _, _, key = await asyncio.to_thread(create_key, settings, "staging", owner.id)
    headers = {"Authorization": f"Bearer {key}"}
    async with live_server(settings) as url, local_client(base_url=url, timeout=10) as http:
        reply = await http.post(
            "/api/public/v1/webhooks/endpoints", json={"url": receiver.url}, headers=headers
        )
        assert reply.status_code == 201, reply.text
        secret = reply.json()["data"]["secret"]
        merchant = MerchantKey("", "", key, "staging")
        worker = spawn_worker(settings, tmp_path, "worker")
        try:
            await arrive(receiver, secret, await send_all(http, merchant, 20), within=60)

            await asyncio.to_thread(own_postgres.pause)
            stopped = time.monotonic()
            rounds = 0
            while time.monotonic() - stopped < OUTAGE or rounds < 4:
                down = await http.post("/api/public/v1/topup/send", json=SEND, headers=headers)
                assert down.status_code == 503, down.text
                assert down.json()["code"] == 9002
                assert (await http.get("/readyz")).status_code == 503
                rounds += 1
                # The client's pace through the outage, the window under test.
                await asyncio.sleep(0.5)
            await asyncio.to_thread(own_postgres.resume)

            after = await send_all(http, merchant, AFTER)
            await arrive(receiver, secret, after, within=30)
            assert worker.poll() is None, "the worker exited"
            assert (await http.get("/readyz")).status_code == 200
        finally:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
            await stopped_within(worker, 10)
    log_lines(tmp_path, "worker")


# The bounds a stalled store is met with in the test below: short, so its wait is seconds.
STALL_BOUND = 2.0


async def test_postgres_stalled_answers_within_its_bounds_and_wedges_no_worker(
    own_postgres: ThrowawayPostgres,
    private_redis: RedisServer,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    """Every process of the server stopped where it stands (SIGSTOP): connections stay open
    and nothing answers or closes. A send, a read and a burst of sends are answered 503 (9003,
    ``Retry-After``) within this side's bounds, not when the server goes on; the worker waits
    it out and delivers what was sent before and after."""
    settings = make_settings(
        own_postgres.url,
        private_redis.url,
        allow_private_webhook_urls=True,
        database_command_timeout_seconds=STALL_BOUND,
        database_pool_timeout_seconds=STALL_BOUND,
    )
    await asyncio.to_thread(upgrade, settings.database_url)
    owner = await asyncio.to_thread(create_merchant, settings, "stall")
    _, _, key = await asyncio.to_thread(create_key, settings, "staging", owner.id)
    headers = {"Authorization": f"Bearer {key}"}
    worker_env = {
        "AITOPUP_DATABASE_COMMAND_TIMEOUT_SECONDS": str(STALL_BOUND),
        "AITOPUP_DATABASE_POOL_TIMEOUT_SECONDS": str(STALL_BOUND),
        "AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS": "true",
    }
    async with live_server(settings) as url, local_client(base_url=url, timeout=60) as http:
        reply = await http.post(
            "/api/public/v1/webhooks/endpoints", json={"url": receiver.url}, headers=headers
        )
        assert reply.status_code == 201, reply.text
        secret = reply.json()["data"]["secret"]
        merchant = MerchantKey("", "", key, "staging")
        worker = spawn_worker(settings, tmp_path, "worker", **worker_env)
        try:
            await arrive(receiver, secret, await send_all(http, merchant, 10), within=60)

            own_postgres.stall()
            try:
                started = time.monotonic()
                calls = [
                    http.post("/api/public/v1/topup/send", json=SEND, headers=headers)
                    for _ in range(25)
                ]
                calls.append(http.get("/api/public/v1/balance", headers=headers))
                # A statement's bound, a connection's wait and a new connection's handshake at
                # most, with a busy machine's lag; what it rules out is a wait for the server.
                async with asyncio.timeout(6 * STALL_BOUND + 10):
                    replies = await asyncio.gather(*calls)
                took = time.monotonic() - started
            finally:
                own_postgres.unstall()
            for stalled in replies:
                assert (stalled.status_code, stalled.json()["code"]) == (503, 9003), stalled.text
                assert stalled.headers["Retry-After"] == "1"
                assert "Traceback" not in stalled.text
            assert took >= STALL_BOUND  # answered at this side's bound, not before it

            async def answers() -> bool:
                sent = await http.post("/api/public/v1/topup/send", json=SEND, headers=headers)
                return sent.status_code == 200

            await wait_until(answers, within=60)
            after = await send_all(http, merchant, 10)
            await arrive(receiver, secret, after, within=60)
            assert worker.poll() is None, "the worker exited"
        finally:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
            await stopped_within(worker, 10)
    log_lines(tmp_path, "worker")
