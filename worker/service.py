"""The worker process: its ``Service``, built from ``Settings()`` at start, and ``main``, which
``python -m worker`` runs.

Two things run in it. The runner (``worker.runner``) serves every kind of background work
(``worker.kinds``: webhook deliveries, mail, upstream work, replay jobs, refunds) from the rows
themselves. ARQ's worker, used through its documented API alone (``Worker``, its
``cron_jobs``, ``ctx`` and ``on_startup``), runs the periodic jobs: expiry, reconciliation,
alerts, the treasury's alerts and reconciliation, retention. Each cron run is a job of ARQ's,
so of several worker processes one runs it.

Redis carries only wakes and the periodic jobs, so losing it stops nothing: the runner goes on
from the rows, and ARQ's worker, which stops at the first Redis error, is started again once
Redis answers (``Service._keep_cron``).
"""

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
import warnings
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

import uvloop
from arq import cron
from arq.connections import ArqRedis, create_pool
from arq.worker import Worker
from redis.exceptions import RedisError

from gateway.ops import collector
from gateway.ops.logs import configure_logging
from gateway.ops.metrics import prepare_multiprocess_dir, start_metrics_server
from gateway.redis_client import redis_settings
from gateway.store.db import open_database
from gateway.store.engine import Database
from gateway.upstreams.outbound import open_upstreams
from gateway.values.clock import SYSTEM
from gateway.values.settings import Settings, load_settings
from keys import Sealer

from .deps import Deps
from .expiry import budget_alerts, expire_approvals, expire_grants, expire_orders
from .http import build_clients
from .kind import Kind
from .kinds import KINDS
from .reconcile import reconcile_orders
from .retention import make_partitions, prune_spend, retention
from .runner import Runner
from .store import POSTGRES_SETTINGS, records, role_lacks
from .telegram import telegram_alerts
from .treasury import treasury_alerts_job, treasury_reconcile

__all__ = ["CLOSE_WITHIN", "Service", "main", "worker_settings"]

log = logging.getLogger("aitopup.worker")

WORKER_POOL_SIZE = 4
# The longest stopping ARQ's worker takes (its jobs cancelled, Redis let go), Redis or not.
CLOSE_WITHIN = 3.0
# The longest the whole stop takes after SIGTERM or SIGINT, whatever the store and Redis do:
# records still in hand past it are not written, and their rows are tried again once their
# leases lapse (a delivery sent twice, never one lost), so a supervisor is always answered.
STOP_WITHIN = 5.0
# Errors of a Redis that went away: refused, reset, timed out. Anything else is a bug to report.
REDIS_DOWN = (RedisError, OSError)
OUTAGE_BACKOFF_FIRST = 0.05
OUTAGE_BACKOFF_CAP = 2.0


def _every(seconds: int) -> set[int]:
    """The minutes of the hour a job runs on to run about every ``seconds``."""
    return set(range(0, 60, max(1, min(60, seconds // 60))))


def worker_settings(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """ARQ ``Worker`` keyword arguments: the periodic jobs. Results are not kept: each job's
    work is in the database."""
    values: dict[str, Any] = {
        "cron_jobs": [
            cron(expire_orders, name="expire_orders", second=45, run_at_startup=True, timeout=60),
            cron(expire_approvals, name="expire_approvals", second=15, timeout=60),
            cron(expire_grants, name="expire_grants", second=25, timeout=60),
            cron(budget_alerts, name="budget_alerts", second=35, timeout=60),
            cron(telegram_alerts, name="telegram_alerts", second=5, timeout=60),
            cron(
                reconcile_orders,
                name="reconcile_orders",
                minute=_every(settings.reconcile_interval_seconds),
                second=50,
                timeout=300,
            ),
            cron(treasury_alerts_job, name="treasury_alerts", second=55, timeout=60),
            cron(
                treasury_reconcile,
                name="treasury_reconcile",
                minute=_every(settings.reconcile_interval_seconds),
                second=40,
                timeout=300,
            ),
            cron(retention, name="retention", minute=set(range(0, 60, 5)), second=30, timeout=300),
            cron(
                make_partitions,
                name="make_partitions",
                minute=10,
                second=10,
                run_at_startup=True,
                timeout=300,
            ),
            cron(prune_spend, name="prune_spend", hour=0, minute=20, second=0, timeout=300),
        ],
        "keep_result": 0,
        "max_tries": 5,
        "log_results": False,
        "handle_signals": False,  # the service's own (``main``)
    }
    values.update(overrides)
    return values


async def _check_role(db: Database) -> None:
    """Behind a pooler the planner settings come from the worker's role: said at start when
    it lacks them, not refused, as the batches still run, planned as any statement is; nor
    is a store that does not answer yet, which the runner waits out as it does later."""
    try:
        missing = await role_lacks(db)
    except Exception:
        log.warning("the worker's role could not be read for its planner settings", exc_info=True)
        return
    if missing:
        log.warning(
            "behind a pooler, the worker's planner settings come from its role, which lacks "
            "some: %s",
            " ".join(missing),
        )


class Service:
    """The worker process's parts: what its work needs (``deps``), the runner, and ARQ's worker
    for the periodic jobs. ``seams``: parts that stand in for its own (``transport`` for the
    deliveries' connections, ``upstream_transport`` for the upstreams', ``clock`` for the time
    the runner and its schedules read); only tests pass any. ``periodic`` off: the runner alone,
    no periodic jobs (a bench counting one kind's work, which a job's run by the clock would
    join)."""

    def __init__(
        self,
        settings: Settings,
        *,
        kinds: Sequence[Kind] = KINDS,
        seams: Mapping[str, Any] | None = None,
        periodic: bool = True,
    ) -> None:
        self.settings = settings
        self._kinds = kinds
        self._periodic = periodic
        self._seams = dict(seams or {})
        self._pool: ArqRedis | None = None
        self._deps: Deps | None = None
        self._runner: Runner | None = None
        self._cron: asyncio.Task[None] | None = None
        self._outage_since: float | None = None

    @property
    def deps(self) -> Deps:
        assert self._deps is not None, "started"
        return self._deps

    @property
    def runner(self) -> Runner:
        assert self._runner is not None, "started"
        return self._runner

    async def start(self) -> None:
        """Connects (a Redis that does not answer within ARQ's retries is an error: the
        supervisor starts the process again), then starts the runner and the periodic jobs."""
        settings = self.settings
        self._pool = pool = await create_pool(redis_settings(settings.redis_url))
        # Its writes are joined (``gateway.store.joined``): a few connections serve any load.
        # Never more than the gateway's own pool, which is how a deployment bounds what a
        # process holds.
        pool_size = min(WORKER_POOL_SIZE, settings.database_pool_size)
        pooled = settings.behind_pooler
        db = open_database(
            settings.database_url,
            pool_size=pool_size,
            postgres_settings=None if pooled else POSTGRES_SETTINGS,
            command_timeout=settings.database_command_timeout_seconds,
            pool_timeout=settings.database_pool_timeout_seconds,
            statement_cache=settings.database_statement_cache,
        )
        if pooled:
            await _check_role(db)
        sealer = Sealer(settings.secret_key.get_secret_value().encode())
        self._deps = Deps(
            settings=settings,
            db=db,
            records=records(db, settings, sealer),
            sealer=sealer,
            outbound=build_clients(
                settings,
                max_connections=settings.webhook_max_connections,
                transport=self._seams.get("transport"),
            ),
            # Upstream calls (New API, OpenRouter) go out on clients of their own, each connect
            # checked as the gateway's are (``gateway.upstreams.outbound``).
            upstreams=open_upstreams(settings, transport=self._seams.get("upstream_transport")),
            redis=pool,
            clock=self._seams.get("clock", SYSTEM),
        )
        self._runner = Runner(self._deps, self._kinds, idle_poll=settings.worker_idle_poll_seconds)
        self._runner.start()
        if self._periodic:
            self._cron = asyncio.create_task(self._keep_cron())
        collector.started()  # as the gateway does (gateway.app)

    async def stop(self) -> None:
        """The periodic jobs and the runner stop (tries in flight are cancelled: their leases
        lapse), the records in hand are written, and everything is closed."""
        if self._cron is not None:
            self._cron.cancel()
            await asyncio.gather(self._cron, return_exceptions=True)
        if self._runner is not None:
            await self._runner.stop()
        deps = self._deps
        if deps is not None:
            await deps.records.drain()
            await deps.upstreams.aclose()
            for out in {id(o): o for o in deps.outbound.values()}.values():
                await out.client.aclose()
            await deps.close_destinations()
            await deps.db.dispose()
        if self._pool is not None:
            with contextlib.suppress(*REDIS_DOWN):
                await self._pool.aclose(close_connection_pool=True)

    async def _keep_cron(self) -> None:
        """ARQ's worker, started again after each Redis outage: it stops for good on the first
        Redis error its loop meets. One log line when an outage starts, one when it ends."""
        backoff = 0.0
        while True:
            worker = Worker(
                **worker_settings(self.settings),
                redis_pool=self._pool,
                ctx={"deps": self._deps},
                on_startup=self._answered,
            )
            try:
                await worker.async_run()
                return
            except REDIS_DOWN as exc:
                if self._outage_since is None:
                    self._outage_since = time.monotonic()
                    log.warning(
                        "Redis unavailable; retrying with backoff",
                        extra={"error": str(exc) or type(exc).__name__},
                    )
            except asyncio.CancelledError:
                await _close(worker)
                raise
            backoff = min(OUTAGE_BACKOFF_CAP, max(OUTAGE_BACKOFF_FIRST, 2 * backoff))
            await asyncio.sleep(backoff)

    async def _answered(self, ctx: dict[str, Any]) -> None:
        """ARQ's ``on_startup``: Redis answered ARQ's first calls."""
        if self._outage_since is not None:
            log.warning(
                "Redis answers again",
                extra={"outage_seconds": round(time.monotonic() - self._outage_since, 1)},
            )
            self._outage_since = None
            if self._runner is not None:
                for lane in self._runner.lanes.values():
                    lane.wake()


async def _close(worker: Worker) -> None:
    """ARQ's ``close``, bounded, whatever Redis answers: a periodic job cut short runs again
    at its next time. It closes Redis with redis-py's deprecated ``close``: that warning is
    ARQ's to mend, not an error of ours."""
    with (
        warnings.catch_warnings(),
        contextlib.suppress(TimeoutError, asyncio.CancelledError, *REDIS_DOWN),
    ):
        warnings.simplefilter("ignore", DeprecationWarning)
        async with asyncio.timeout(CLOSE_WITHIN):
            await worker.close()


async def _serve(settings: Settings, seams: Mapping[str, Any] | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    service = Service(settings, seams=seams)
    try:
        await service.start()
        await stop.wait()
    finally:
        try:
            async with asyncio.timeout(STOP_WITHIN):
                await service.stop()
        except TimeoutError:
            log.warning(
                "the worker stopped with work in hand: its leases lapse into the next worker's",
                extra={"after_seconds": STOP_WITHIN},
            )


def run_on_worker_loop(main: Coroutine[Any, Any, None]) -> None:
    """``main`` run to its end on the worker's event loop. The worker spends most of its CPU in
    the event loop itself (sockets, callbacks): uvloop (installed with uvicorn[standard]) does
    that work in C. A benchmark that counts the worker's work runs it here too."""
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(main)


def main(seams: Mapping[str, Any] | None = None) -> None:
    """Runs the worker until SIGINT or SIGTERM. ``seams``: see ``Service``; only tests pass
    any."""
    settings = load_settings()  # secrets come from the environment
    configure_logging(settings.log_level)
    # ARQ logs two lines a job; the periodic jobs need none of them.
    logging.getLogger("arq").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if settings.worker_metrics_port is not None:
        prepare_multiprocess_dir()
        token = settings.metrics_token
        start_metrics_server(
            settings.worker_metrics_port,
            token=None if token is None else token.get_secret_value(),
        )
    code = 0
    try:
        run_on_worker_loop(_serve(settings, seams))
    except BaseException as exc:  # whatever it is: one line and a non-zero exit
        # Redis and store outages are waited out: what reaches here is Redis not answering
        # at start-up, or a bug. The supervisor starts a new process.
        log.critical(
            "worker stopped: %s",
            str(exc) or type(exc).__name__,
            exc_info=exc,
            extra={"exit_code": 1},
        )
        code = 1
    _exit(code)


def _exit(code: int) -> None:
    """Exit now, flushing the log first. Not ``sys.exit``: that waits for every non-daemon
    thread, and a library's (aiosqlite runs one a connection) left open by a failed shutdown
    would keep a worker that no longer delivers alive, deaf to SIGTERM, until someone kills it."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
