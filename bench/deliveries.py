"""Webhook delivery benchmarks: one worker process against bare client loops, in the same run.

(a) deliveries per second of one ``python -m worker`` process to a local receiver, beside a bare
aiohttp loop and a bare httpx loop sending the same signed POSTs to the same receiver;
(b) event-to-receipt latency p50/p99 at a steady 200 events/s, from the commit of the event to
its arrival at the receiver;
(c) the same two of an ordered endpoint (another merchant's, measured after (a) and (b), so
their figures are as before): a burst delivered one at a time, in order, and the latency at a
steady ``ORDERED_RATE`` a second, beside the plain endpoint's;
(d) a poller's read rate: events a second through ``GET /webhooks/pollers/{id}``, a page of
``POLLER_PAGE`` a read, with the gateway under uvicorn.

``python -m bench.deliveries``: on SQLite in a temporary folder, then on a fresh PostgreSQL
database when ``AITOPUP_BENCH_POSTGRES_URL`` (default: the local server) answers.
"""

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway import outbox
from gateway.merchants import service as merchants
from gateway.store.db import open_database
from gateway.store.engine import Database
from gateway.store.migrate import upgrade
from gateway.values.clock import new_id, utcnow
from keys import Sealer, decode_webhook_secret, sign_headers

from .endpoints import add_endpoint
from .load import collector_off
from .report import Row, run_alone
from .servers import each_store, free_port, process, redis_server, uvicorn_server

__all__ = ["run", "worker_bench"]

THROUGHPUT_DELIVERIES = int(os.environ.get("AITOPUP_BENCH_DELIVERIES", "3000"))
# Of the worker and the bare aiohttp loop, in turn. The environment's sizes are for a quick run
# that only checks the benchmark still works (tests/test_bench_deliveries.py).
ROUNDS = int(os.environ.get("AITOPUP_BENCH_ROUNDS", "5"))
WARM_UP = int(os.environ.get("AITOPUP_BENCH_WARM_UP", "500"))
CONCURRENCY = 32
RATE = 200
STEADY_SECONDS = float(os.environ.get("AITOPUP_BENCH_STEADY_SECONDS", "10"))
ORDERED_DELIVERIES = int(os.environ.get("AITOPUP_BENCH_ORDERED_DELIVERIES", "1000"))
# Well below the ordered endpoint's own throughput: the latency of one waiting for no backlog.
ORDERED_RATE = int(os.environ.get("AITOPUP_BENCH_ORDERED_RATE", "20"))
POLLER_EVENTS = int(os.environ.get("AITOPUP_BENCH_POLLER_EVENTS", "5000"))
POLLER_PAGE = 250  # the most a read returns
PEPPER = "bench-pepper-0123456789abcdef"
SEALING = "bench-sealing-0123456789abcdef"


class _Receiver:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.http = httpx.AsyncClient(base_url=self.base)

    async def arrivals(self) -> dict[str, float]:
        found: dict[str, float] = (await self.http.get("/stats")).json()["arrivals"]
        return found

    async def reset(self) -> None:
        await self.http.post("/reset")

    async def wait_for(self, count: int, within: float = 60) -> None:
        reply = await self.http.get(
            "/wait", params={"count": count, "within": within}, timeout=within + 10
        )
        if reply.status_code != 200:
            raise RuntimeError(f"{reply.text} of {count} arrived within {within}s")


async def _merchant(conn: AsyncConnection, db: Database, now: datetime) -> merchants.MerchantInfo:
    """A merchant of the bench's own, its staging wallet empty."""
    return await merchants.create_merchant(
        conn,
        db,
        name=f"bench-{new_id('m')}",
        low_balance_threshold_cents=0,
        staging_initial_balance_cents=0,
        now=now,
    )


async def _setup(
    db: Database, sealer: Sealer, url: str, *, ordered: bool = False
) -> tuple[str, bytes]:
    now = utcnow()
    async with db.transaction() as conn:
        merchant = await _merchant(conn, db, now)
        secret = await add_endpoint(
            conn, sealer, env="staging", merchant_id=merchant.id, url=url, now=now, ordered=ordered
        )
    return merchant.id, decode_webhook_secret(secret)


async def _emit(
    db: Database, merchant_id: str, count: int, *, first: int = 0, ago: float = 0.0
) -> list[str]:
    """``count`` test events in one transaction, numbered from ``first``, written ``ago``
    seconds in the past; their delivery ids."""
    ids: list[str] = []
    async with db.transaction() as conn:
        for n in range(first, first + count):
            ids += await outbox.emit(
                conn,
                env="staging",
                merchant_id=merchant_id,
                type_="webhook.test",
                data={"n": n},
                now=utcnow() - timedelta(seconds=ago),
            )
    return ids


def _signed(key: bytes, count: int) -> list[tuple[bytes, dict[str, str]]]:
    out = []
    for n in range(count):
        msg_id = new_id("evt")
        body = outbox.event_body(msg_id, "webhook.test", utcnow(), "staging", {"n": n}).encode()
        headers = {"Content-Type": "application/json"}
        headers.update(sign_headers([key], msg_id, int(time.time()), body))
        out.append((body, headers))
    return out


async def _aiohttp_loop(url: str, requests: list[tuple[bytes, dict[str, str]]]) -> float:
    queue = iter(requests)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def lane() -> None:
            for body, headers in queue:
                async with session.post(url, data=body, headers=headers) as reply:
                    await reply.read()

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
        return len(requests) / (time.perf_counter() - started)


async def _httpx_loop(url: str, requests: list[tuple[bytes, dict[str, str]]]) -> float:
    queue = iter(requests)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits) as client:

        async def lane() -> None:
            for body, headers in queue:
                await client.post(url, content=body, headers=headers)

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
        return len(requests) / (time.perf_counter() - started)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@contextmanager
def worker_bench(folder: Path, database_url: str) -> Iterator[tuple[dict[str, str], int]]:
    """A Redis and a receiver of the benchmark's own, with the environment a worker for
    ``database_url`` and that Redis runs in, and the receiver's port."""
    receiver_port = free_port()
    with redis_server(folder) as redis_url:
        env = {
            **os.environ,
            "AITOPUP_DATABASE_URL": database_url,
            "AITOPUP_REDIS_URL": redis_url,
            "AITOPUP_KEY_PEPPER": PEPPER,
            "AITOPUP_SECRET_KEY": SEALING,
            "AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS": "true",
        }
        receiver_args = [sys.executable, "-m", "bench.receiver", str(receiver_port)]
        with process(receiver_args, env, folder / "receiver.log", port=receiver_port):
            yield env, receiver_port


async def _poller(db: Database, env: dict[str, str], deliveries: float) -> list[Row]:
    """(d): ``POLLER_EVENTS`` events of a merchant of its own, settled (written a minute ago),
    read through a poller by its key, a page at a time, as a consumer would."""
    now = utcnow()
    async with db.transaction() as conn:
        merchant = await _merchant(conn, db, now)
        _, key = await merchants.create_key(conn, merchant.id, "staging", PEPPER.encode(), now)
    for first in range(0, POLLER_EVENTS, 1000):
        count = min(1000, POLLER_EVENTS - first)
        await _emit(db, merchant.id, count, first=first, ago=60)
    served = {k: v for k, v in env.items() if k.startswith("AITOPUP_")}
    with uvicorn_server("gateway.app:app_from_env", served, factory=True) as gateway:
        base = f"{gateway}/api/public/v1/webhooks/pollers"
        async with httpx.AsyncClient(timeout=60) as http:
            made = await http.post(base, json={}, headers=_bearer(key.raw))
            made.raise_for_status()
            poller = made.json()["data"]
            read, params = 0, {"limit": str(POLLER_PAGE)}
            started = time.perf_counter()
            while True:
                page = await http.get(
                    f"{base}/{poller['id']}", params=params, headers=_bearer(poller["key"])
                )
                page.raise_for_status()
                body = page.json()
                read += len(body["data"])
                params["iterator"] = body["meta"]["iterator"]
                if body["meta"]["done"]:
                    break
            rate = read / (time.perf_counter() - started)
    if read != POLLER_EVENTS:
        raise RuntimeError(f"the poller read {read} of {POLLER_EVENTS} events")
    return [
        Row(
            f"poller: events/s, {POLLER_PAGE} a read",
            rate,
            "/s",
            "one worker: deliveries/s",
            deliveries,
            "-",
        )
    ]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _measure(folder: Path, database_url: str) -> list[Row]:
    await asyncio.to_thread(upgrade, database_url)
    with worker_bench(folder, database_url) as (env, receiver_port):
        from arq import create_pool
        from arq.connections import RedisSettings

        hook_url = f"http://127.0.0.1:{receiver_port}/hook"
        db = open_database(database_url)
        redis = await create_pool(RedisSettings.from_dsn(env["AITOPUP_REDIS_URL"]))
        receiver = _Receiver(receiver_port)
        try:
            merchant_id, key = await _setup(db, Sealer(SEALING.encode()), hook_url)
            worker_cmd = os.environ.get("AITOPUP_BENCH_WORKER_CMD", "-m worker").split()
            with process([sys.executable, *worker_cmd], env, folder / "worker.log"):
                # Warm-up: a burst, so the worker's connections to the receiver and its
                # database pool are open, as in a service that has been running.
                await outbox.wake_for(redis, await _emit(db, merchant_id, WARM_UP))
                await receiver.wait_for(WARM_UP)
                rows = await _rounds(db, redis, receiver, merchant_id, key, hook_url)
                return rows + await _poller(db, env, rows[0].value)
        finally:
            await redis.aclose()
            await receiver.http.aclose()
            await db.dispose()


async def _steady(
    db: Database, redis: Any, merchant_id: str, total: int, rate: int = RATE
) -> dict[str, float]:
    """``total`` events at ``rate`` a second, each woken for after its commit; when each was
    committed, by event id."""
    committed: dict[str, float] = {}
    begin = time.perf_counter()
    for n in range(total):
        delay = begin + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        [delivery_id] = await _emit(db, merchant_id, 1, first=n)
        committed["evt_" + delivery_id[4:28]] = time.time()
        await outbox.wake_for(redis, [delivery_id])
    return committed


async def _rounds(
    db: Database, redis: Any, receiver: _Receiver, merchant_id: str, key: bytes, url: str
) -> list[Row]:
    # (a) throughput: rows written first, then woken for and timed until the last arrives. The
    # worker and the bare aiohttp loop take turns, and the figures are those of the round whose
    # ratio is the median: on a shared 2-core machine either one alone swings with whatever else
    # the machine does, and a slow spell during one round moves a mean but not a median.
    rounds: list[tuple[float, float]] = []
    for _ in range(ROUNDS):
        await receiver.reset()
        ids = await _emit(db, merchant_id, THROUGHPUT_DELIVERIES)
        started = time.perf_counter()
        await outbox.wake_for(redis, ids)
        await receiver.wait_for(THROUGHPUT_DELIVERIES, within=120)
        worker = THROUGHPUT_DELIVERIES / (time.perf_counter() - started)
        await receiver.reset()
        rounds.append((worker, await _aiohttp_loop(url, _signed(key, THROUGHPUT_DELIVERIES))))
    worker_rate, aiohttp_rate = sorted(rounds, key=lambda r: r[0] / r[1])[ROUNDS // 2]
    await receiver.reset()
    httpx_rate = await _httpx_loop(url, _signed(key, THROUGHPUT_DELIVERIES))

    # (b) latency at a steady rate: one event a tick, written and woken for as the send does.
    await receiver.reset()
    total = int(RATE * STEADY_SECONDS)
    # A collection here, between an event's commit and its wake, would count as the worker's
    # latency (a 90 ms stall with this process's heap after the earlier rounds).
    with collector_off():
        committed = await _steady(db, redis, merchant_id, total)
        await receiver.wait_for(total, within=60)
    arrivals = await receiver.arrivals()
    latencies = [(arrivals[i] - t) * 1000 for i, t in committed.items() if i in arrivals]
    p50, p99 = _percentile(latencies, 0.50), _percentile(latencies, 0.99)

    ordered = await _ordered(db, redis, receiver, url, worker_rate, p99)
    return [
        Row(
            "one worker: deliveries/s",
            worker_rate,
            "/s",
            "bare aiohttp loop",
            aiohttp_rate,
            ">= 50%",
        ),
        Row("one worker: deliveries/s", worker_rate, "/s", "bare httpx loop", httpx_rate, ">= 60%"),
        Row("event-to-receipt p50 at 200/s", p50, "ms", "p99 target", 100.0, "-"),
        Row("event-to-receipt p99 at 200/s", p99, "ms", "p99 target", 100.0, "< 100 ms"),
        *ordered,
    ]


async def _ordered(
    db: Database, redis: Any, receiver: _Receiver, url: str, any_rate: float, any_p99: float
) -> list[Row]:
    """(c): an ordered endpoint of a merchant of its own, beside the plain one's figures. Each
    run checks that the events arrived in the order they were written."""
    merchant_id, _ = await _setup(db, Sealer(SEALING.encode()), url, ordered=True)
    await receiver.reset()
    ids = await _emit(db, merchant_id, ORDERED_DELIVERIES)
    started = time.perf_counter()
    await outbox.wake_for(redis, ids)
    await receiver.wait_for(ORDERED_DELIVERIES, within=300)
    rate = ORDERED_DELIVERIES / (time.perf_counter() - started)
    _in_order(await receiver.arrivals(), ids)

    await receiver.reset()
    total = int(ORDERED_RATE * STEADY_SECONDS)
    with collector_off():
        committed = await _steady(db, redis, merchant_id, total, ORDERED_RATE)
        await receiver.wait_for(total, within=60)
    arrivals = await receiver.arrivals()
    _in_order(arrivals, list(committed))
    latencies = [(arrivals[i] - t) * 1000 for i, t in committed.items() if i in arrivals]
    p99 = _percentile(latencies, 0.99)
    return [
        Row("ordered endpoint: deliveries/s", rate, "/s", "any order", any_rate, "-"),
        Row(
            f"ordered: event-to-receipt p99 at {ORDERED_RATE}/s",
            p99,
            "ms",
            "any order at 200/s",
            any_p99,
            "-",
        ),
    ]


def _in_order(arrivals: dict[str, float], ids: list[str]) -> None:
    """Each event arrived after the one written before it (by delivery or event id)."""
    events = ["evt_" + i[4:28] if i.startswith("dlv_") else i for i in ids]
    times = [arrivals[e] for e in events]
    if times != sorted(times):
        raise RuntimeError("an ordered endpoint's events arrived out of order")


def labelled(store: str, rows: list[Row]) -> list[Row]:
    return [replace(row, name=f"{store}: {row.name}") for row in rows]


def run() -> list[Row]:
    """On SQLite, then on PostgreSQL when it answers (a fresh database each)."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="aitopup-bench-") as folder:
        for store, url in each_store(Path(folder), "bench"):
            rows += labelled(store, asyncio.run(_measure(Path(folder), url)))
    return rows


if __name__ == "__main__":
    run_alone(run)
