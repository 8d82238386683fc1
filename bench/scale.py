"""Scale out, measured: the send with 1 and 2 gateway processes and deliveries with 1 and 2
workers, on PostgreSQL, each beside its baseline run with as many processes.

- The send: N ``uvicorn`` gateway processes on one database, the closed loop's clients split
  evenly over them (nginx would spread them the same way), against N bare Starlette processes
  under the same load.
- Deliveries: a burst of ``AITOPUP_BENCH_DELIVERIES`` deliveries taken by M ``python -m worker``
  processes sharing one Redis, against M processes each sending its share of the same signed
  POSTs in a bare aiohttp loop, to the same receiver.

Each is measured directly and again through a PgBouncer of the bench's own in transaction
mode (Debian's 1.18, where it is installed; ``AITOPUP_BENCH_SCALE_POOLER=none`` skips it): the
gateways with the statement cache off, the workers as a role whose sessions carry their
planner settings (docs/operations.md); ``AITOPUP_BENCH_SCALE_PROCESSES`` and
``AITOPUP_BENCH_SCALE_POOLED_PROCESSES`` say with how many processes each route is measured
(1 and 2). Each pair runs in turn ``ROUNDS`` times and the pair
whose ratio is the median is reported, as in ``bench.topup``. PostgreSQL:
``AITOPUP_BENCH_POSTGRES_URL`` when set, else a throwaway cluster of the benchmark's own.
``make bench SCALE=1`` runs it with the rest.
"""

import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from gateway.store.db import open_database
from gateway.store.engine import Database
from gateway.store.migrate import upgrade
from keys import Sealer
from tests.fixtures.pgbouncer import pgbouncer_binary, running_pgbouncer
from worker.store import POSTGRES_SETTINGS

from .deliveries import _aiohttp_loop, _emit, _Receiver, _setup, _signed
from .history import _cluster
from .load import Result, closed_loop, collector_off
from .report import Row, failures, run_alone
from .servers import (
    admin_dsn,
    free_port,
    postgres_database,
    process,
    redis_server,
    uvicorn_server,
)
from .topup import _BARE_BODY, _bodies, _gateway_env, _prepare

__all__ = ["run"]


def _processes(name: str) -> tuple[int, ...]:
    """How many gateways and workers a route is measured with: ``name``'s list, else 1 and 2."""
    return tuple(int(n) for n in os.environ.get(name, "1,2").split(","))


# Directly, and through PgBouncer (the tests take one count of each, not both of both).
PROCESSES = _processes("AITOPUP_BENCH_SCALE_PROCESSES")
CLIENTS = 32
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("AITOPUP_BENCH_SCALE_ROUNDS", "3"))
DELIVERIES = int(os.environ.get("AITOPUP_BENCH_DELIVERIES", "3000"))
SEALING = "bench-sealing-0123456789abcdef"
# PgBouncer's server connections per database and user, behind up to two processes' pools.
POOLED = 20
POOLED_PROCESSES = _processes("AITOPUP_BENCH_SCALE_POOLED_PROCESSES")


async def _spread(urls: list[str], bodies: list[bytes], headers: dict[str, str]) -> Result:
    """One closed loop of ``CLIENTS`` clients, split evenly over ``urls``."""
    share = CLIENTS // len(urls)
    parts = await asyncio.gather(
        *(closed_loop(url, bodies, headers, clients=share, seconds=SECONDS) for url in urls)
    )
    seen: Counter[str] = Counter()
    for part in parts:
        seen.update(part.seen)
    return Result(
        sum(p.requests for p in parts),
        SECONDS,
        [ms for p in parts for ms in p.latencies_ms],
        sum(p.errors for p in parts),
        seen=dict(seen),
    )


@dataclass(frozen=True)
class Route:
    """How the processes reach the database: ``gateways`` and ``workers`` are their URLs,
    ``env`` what they run with besides; the bench's own setup and reads go to it directly."""

    label: str
    gateways: str
    workers: str
    env: dict[str, str]


def _sends(
    database_url: str, redis_url: str, processes: int, route: Route
) -> tuple[Result, Result, list[Result]]:
    """(the send, bare Starlette, every send's loop), each with ``processes`` processes: the
    median pair."""
    key = asyncio.run(_prepare(database_url))
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    extra = {"AITOPUP_ACCESS_LOG": "false", **route.env}
    env = _gateway_env(route.gateways, redis_url, extra)
    bodies = _bodies()
    with ExitStack() as stack:
        gateways = [
            stack.enter_context(uvicorn_server("gateway.app:app_from_env", env, factory=True))
            for _ in range(processes)
        ]
        bares = [
            stack.enter_context(uvicorn_server("bench.bare:app", {}, factory=False))
            for _ in range(processes)
        ]
        pairs: list[tuple[Result, Result]] = []
        for _ in range(ROUNDS):
            bare = asyncio.run(_spread([f"{b}/send" for b in bares], _BARE_BODY, {}))
            send = asyncio.run(
                _spread([f"{g}/api/public/v1/topup/send" for g in gateways], bodies, headers)
            )
            pairs.append((send, bare))
    send, bare = sorted(pairs, key=lambda pair: pair[0].throughput / pair[1].throughput)[
        ROUNDS // 2
    ]
    return send, bare, [pair[0] for pair in pairs]


def _bare_share(url: str, key: bytes, count: int) -> tuple[float, float]:
    """One baseline process: its share of the signed POSTs, signed before the clock starts;
    when it started and finished sending (wall clock, comparable across processes)."""
    requests = _signed(key, count)
    began = time.time()
    asyncio.run(_aiohttp_loop(url, requests))
    return began, time.time()


def _bare_deliveries(url: str, key: bytes, processes: int) -> float:
    """Deliveries a second of ``processes`` bare aiohttp processes sharing the burst."""
    share = DELIVERIES // processes
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        spans = pool.starmap(_bare_share, [(url, key, share)] * processes)
    return share * processes / (max(end for _, end in spans) - min(start for start, _ in spans))


async def _worker_burst(db: Database, redis_url: str, receiver: _Receiver, merchant: str) -> float:
    from arq import create_pool
    from arq.connections import RedisSettings

    from gateway.outbox import wake_for

    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        await receiver.reset()
        ids = await _emit(db, merchant, DELIVERIES)
        began = time.perf_counter()
        await wake_for(redis, ids)
        await receiver.wait_for(len(ids), within=120)
        return len(ids) / (time.perf_counter() - began)
    finally:
        await redis.aclose()


@contextmanager
def _workers(env: dict[str, str], folder: Path, count: int) -> Iterator[None]:
    with ExitStack() as stack:
        for n in range(count):
            stack.enter_context(
                process([sys.executable, "-m", "worker"], env, folder / f"worker-{n}.log")
            )
        yield


def _deliveries(
    database_url: str, redis_url: str, folder: Path, processes: int, route: Route
) -> tuple[float, float]:
    """(the workers' deliveries/s, the bare loops'), each with ``processes`` processes."""
    receiver_port = free_port()
    hook = f"http://127.0.0.1:{receiver_port}/hook"
    env = {
        **os.environ,
        **_gateway_env(route.workers, redis_url, route.env),
        "AITOPUP_SECRET_KEY": SEALING,
        "AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS": "true",
    }
    receiver_args = [sys.executable, "-m", "bench.receiver", str(receiver_port)]

    async def rounds() -> list[tuple[float, float]]:
        db = open_database(database_url, pool_size=2)
        receiver = _Receiver(receiver_port)
        try:
            merchant, key = await _setup(db, Sealer(SEALING.encode()), hook)
            # Warm-up: the workers' connections to the receiver and the database open.
            await _worker_burst(db, redis_url, receiver, merchant)
            out: list[tuple[float, float]] = []
            for _ in range(ROUNDS):
                with collector_off():
                    worker = await _worker_burst(db, redis_url, receiver, merchant)
                await receiver.reset()
                bare = await asyncio.to_thread(_bare_deliveries, hook, key, processes)
                out.append((worker, bare))
            return out
        finally:
            await receiver.http.aclose()
            await db.dispose()

    with (
        process(receiver_args, env, folder / f"receiver-{processes}.log", port=receiver_port),
        _workers(env, folder, processes),
    ):
        pairs = asyncio.run(rounds())
    return sorted(pairs, key=lambda pair: pair[0] / pair[1])[ROUNDS // 2]


# A run's own: two runs on one server at once, or a run after one killed before it could drop
# its role, never meet on the name.
_WORKER_ROLE = f"aitopup_bench_worker_{uuid.uuid4().hex[:12]}"


async def _on(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(admin_dsn(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def _worker_role(base: str) -> Iterator[str]:
    """The workers' role behind a pooler, whose sessions start with their planner settings
    (docs/operations.md); dropped at the end, once every database it was granted on is."""
    settings = [f"ALTER ROLE {_WORKER_ROLE} SET {k} = {v}" for k, v in POSTGRES_SETTINGS.items()]
    asyncio.run(_on(base, f"DROP ROLE IF EXISTS {_WORKER_ROLE}"))
    asyncio.run(_on(base, f"CREATE ROLE {_WORKER_ROLE} LOGIN", *settings))
    try:
        yield _WORKER_ROLE
    finally:
        asyncio.run(_on(base, f"DROP ROLE IF EXISTS {_WORKER_ROLE}"))


def _grant(url: str, role: str) -> None:
    asyncio.run(
        _on(
            url,
            f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}",
            f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}",
        )
    )


def _routes(stack: ExitStack, base: str) -> list[Callable[[str], Route]]:
    """Directly, then through a PgBouncer of the bench's own in transaction mode with the
    statement cache off (where pgbouncer is installed, unless ``AITOPUP_BENCH_SCALE_POOLER`` is
    ``none``): each, given a migrated database, the route to it."""

    def direct(url: str) -> Route:
        return Route("postgres", url, url, {})

    routes: list[Callable[[str], Route]] = [direct]
    if os.environ.get("AITOPUP_BENCH_SCALE_POOLER") == "none":
        return routes
    if pgbouncer_binary() is None:
        print("pgbouncer is not installed (apt-get install pgbouncer): its rows are skipped")
        return routes
    role = stack.enter_context(_worker_role(base))
    bouncer = stack.enter_context(running_pgbouncer(base, users=[role], pool_size=POOLED))

    def pooled(url: str) -> Route:
        _grant(url, role)
        cache_off = {"AITOPUP_DATABASE_STATEMENT_CACHE": "false"}
        return Route(
            "postgres via pgbouncer", bouncer.url(url), bouncer.url(url, user=role), cache_off
        )

    return [*routes, pooled]


def run() -> list[Row]:
    rows: list[Row] = []
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aitopup-scale-")))
        base = stack.enter_context(_cluster())
        for number, route_to in enumerate(_routes(stack, base)):
            for n in PROCESSES if number == 0 else POOLED_PROCESSES:
                rows += _measured(folder, base, route_to, n)
    return rows


def _measured(folder: Path, base: str, route_to: Callable[[str], Route], n: int) -> list[Row]:
    # A database and a Redis for each measurement: the sends leave voucher e-mails behind for a
    # worker, and one size's leftovers would slow the next.
    case = folder / f"{uuid.uuid4().hex[:8]}"
    (case / "s").mkdir(parents=True)
    with postgres_database(base) as url, redis_server(case / "s") as redis_url:
        upgrade(url)
        route = route_to(url)
        send, bare, loops = _sends(url, redis_url, n, route)
    (case / "d").mkdir()
    with postgres_database(base) as url, redis_server(case / "d") as redis_url:
        upgrade(url)
        route = route_to(url)
        worker, bare_loop = _deliveries(url, redis_url, case / "d", n, route)
    plural = "es" if n > 1 else ""
    store = route.label
    gateways = f"{n} gateway{'s' if n > 1 else ''}"
    return [
        Row(
            f"send {store}, {gateways}: req/s",
            send.throughput,
            "req/s",
            f"bare starlette x{n}",
            bare.throughput,
            "-",
        ),
        Row(
            f"send {store}, {gateways}: p99 ms",
            send.percentile(0.99),
            "ms",
            f"bare p99 x{n}",
            bare.percentile(0.99),
            "-",
        ),
        Row(
            f"deliveries {store}, {n} worker{'s' if n > 1 else ''}: /s",
            worker,
            "/s",
            f"bare aiohttp x{n} process{plural}",
            bare_loop,
            "-",
        ),
        failures(f"send {store}, {gateways}", loops),
    ]


if __name__ == "__main__":
    run_alone(run)
