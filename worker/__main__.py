"""``python -m worker``: the ARQ worker, its settings built from ``Settings()`` at start."""

import asyncio
import gc
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

import uvloop
from arq import cron, func

from gateway.ops.logs import configure_logging
from gateway.ops.metrics import prepare_multiprocess_dir, start_metrics_server
from gateway.outbox import DELIVER_JOB, DELIVER_MANY_JOB, MAIL_JOB, MAIL_MANY_JOB
from gateway.redis_client import redis_settings
from gateway.store.db import Database, create_engine
from gateway.upstreams.outbound import open_upstreams
from gateway.values.settings import Settings, load_settings
from keys import Sealer

from .delivery import LEASE_MARGIN, Deps, deliver, deliver_many
from .expiry import budget_alerts, expire_approvals, expire_orders
from .fulfil import fulfil_due
from .http import build_clients
from .mail import send_mail, send_mails, sweep_mail
from .queue import DeliveryWorker, Load
from .reconcile import reconcile_orders
from .retention import prune_spend, retention
from .store import POSTGRES_SETTINGS, Store
from .sweep import sweep

__all__ = ["SAFETY_SWEEP_SECONDS", "main", "shutdown", "startup", "worker_settings"]

log = logging.getLogger("aitopup.worker")

# Enough concurrent jobs that slow receivers do not starve fast ones; ARQ's default of 10
# caps a worker at a few hundred deliveries a second. A ``deliver_many`` job runs many attempts.
MAX_JOBS = 200
# ARQ's default 0.5 s poll alone puts p99 event-to-receipt at half a second. Only while it has
# work: idle, the worker waits for the enqueue's signal (``worker._arq.WakingWorker``).
POLL_DELAY = 0.01
WORKER_POOL_SIZE = 4


async def startup(ctx: dict[str, Any]) -> None:
    """Opens what deliveries need. ``ctx["transport"]``, when present, is the
    ``httpx.AsyncBaseTransport`` every delivery goes through instead of the worker's own, which
    checks each address it connects to: tests stand one in (``build_clients``); a deployment
    never sets it."""
    settings: Settings = ctx["settings"]
    outbound = build_clients(
        settings,
        max_connections=settings.webhook_max_connections,
        transport=ctx.get("transport"),
    )
    # Its writes are batched (``worker.store``): a few connections serve any load. Never more
    # than the gateway's own pool, which is how a deployment bounds what a process holds.
    pool_size = min(WORKER_POOL_SIZE, settings.database_pool_size)
    db = Database(
        create_engine(settings.database_url, pool_size=pool_size),
        postgres_settings=POSTGRES_SETTINGS,
    )
    # Upstream calls (New API, OpenRouter) go out on clients of their own, each connect
    # checked as the gateway's are (``gateway.upstreams.outbound``).
    ctx["upstreams"] = open_upstreams(settings, transport=ctx.get("upstream_transport"))
    ctx["deps"] = Deps(
        settings=settings,
        db=db,
        store=Store(db, lease_seconds=settings.webhook_timeout_seconds + LEASE_MARGIN),
        sealer=Sealer(settings.secret_key.get_secret_value().encode()),
        outbound=outbound,
        redis=ctx["redis"],
        sending=asyncio.Semaphore(settings.webhook_max_connections),
        load=ctx["load"],
    )
    # Kept out of the collector's sight for good, as the gateway does (``gateway.app``): a full
    # collection walking them paused every delivery in flight (docs/performance.md).
    gc.freeze()


async def shutdown(ctx: dict[str, Any]) -> None:
    deps: Deps | None = ctx.get("deps")
    if deps is None:
        return
    await deps.store.drain()
    upstreams = ctx.get("upstreams")
    if upstreams is not None:
        await upstreams.aclose()
    for out in {id(o): o for o in deps.outbound.values()}.values():
        await out.client.aclose()
    await deps.db.dispose()


# The outbox sweeps (deliveries, mails) are a safety net: the normal path is the enqueue after
# commit and the deferred retry. Each run is an ARQ job (its Redis round trips, a wake-up, polls
# while it runs) and a write to the store: once a second, they were most of what an idle worker
# spends (docs/performance.md). A lost job is handed out again within its grace plus this.
SAFETY_SWEEP_SECONDS = 5


def _seconds_every(seconds: int) -> set[int]:
    """The seconds of the minute a job runs on to run every ``seconds`` (a divisor of 60)."""
    return set(range(0, 60, seconds))


def _every(seconds: int) -> set[int]:
    """The minutes of the hour a job runs on to run about every ``seconds``."""
    return set(range(0, 60, max(1, min(60, seconds // 60))))


def worker_settings(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """``DeliveryWorker`` keyword arguments: ARQ's, and the room it keeps (one delivery a
    connection). Results are not kept: the database holds every outcome, and a kept result would
    block re-enqueueing the same job id."""
    job_timeout = settings.webhook_timeout_seconds + 60
    mail_timeout = 3 * settings.smtp_timeout_seconds + 30  # within the mail's lease
    load = Load()
    values: dict[str, Any] = {
        "functions": [
            func(deliver, name=DELIVER_JOB, keep_result=0, timeout=job_timeout),
            func(deliver_many, name=DELIVER_MANY_JOB, keep_result=0, timeout=job_timeout),
            func(send_mail, name=MAIL_JOB, keep_result=0, timeout=mail_timeout),
            func(send_mails, name=MAIL_MANY_JOB, keep_result=0, timeout=mail_timeout),
        ],
        "cron_jobs": [
            cron(
                sweep,
                name="sweep",
                second=_seconds_every(SAFETY_SWEEP_SECONDS),
                run_at_startup=True,
                timeout=60,
            ),
            cron(
                sweep_mail,
                name="sweep_mail",
                second=_seconds_every(SAFETY_SWEEP_SECONDS),
                timeout=60,
            ),
            cron(expire_orders, name="expire_orders", second=45, run_at_startup=True, timeout=60),
            cron(expire_approvals, name="expire_approvals", second=15, timeout=60),
            # Every second: not a safety net but the way pending upstream work is taken.
            cron(
                fulfil_due,
                name="fulfil_due",
                second=_seconds_every(1),
                run_at_startup=True,
                timeout=settings.fulfilment_timeout_seconds * 4 + 60,
            ),
            cron(budget_alerts, name="budget_alerts", second=35, timeout=60),
            cron(
                reconcile_orders,
                name="reconcile_orders",
                minute=_every(settings.reconcile_interval_seconds),
                second=50,
                timeout=300,
            ),
            cron(retention, name="retention", minute=set(range(0, 60, 5)), second=30, timeout=300),
            cron(prune_spend, name="prune_spend", hour=0, minute=20, second=0, timeout=300),
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": {"settings": settings, "load": load},
        "capacity": settings.webhook_max_connections,
        "load": load,
        "redis_settings": redis_settings(settings.redis_url),
        "max_jobs": MAX_JOBS,
        "poll_delay": POLL_DELAY,
        "idle_poll": settings.worker_idle_poll_seconds,
        "job_timeout": job_timeout,
        "keep_result": 0,
        "max_tries": 5,
        "log_results": False,
    }
    values.update(overrides)
    return values


def main(seams: Mapping[str, Any] | None = None) -> None:
    """Runs the worker until it is stopped. ``seams``: entries of its context that stand in for
    its own (``transport``, ``upstream_transport``: see ``startup``); only tests pass any."""
    settings = load_settings()  # secrets come from the environment
    configure_logging(settings.log_level)
    # ARQ logs two lines a job; at thousands of deliveries a second that is most of the CPU.
    logging.getLogger("arq").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if settings.worker_metrics_port is not None:
        prepare_multiprocess_dir()
        token = settings.metrics_token
        start_metrics_server(
            settings.worker_metrics_port,
            token=None if token is None else token.get_secret_value(),
        )
    # The worker spends most of its CPU in the event loop itself (sockets, callbacks); uvloop
    # (installed with uvicorn[standard]) does that work in C.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    code = 0
    try:
        values = worker_settings(settings)
        values["ctx"].update(seams or {})
        DeliveryWorker(**values).run()
    except BaseException as exc:  # whatever it is: one line and a non-zero exit
        # Redis outages are waited out (``worker._arq``): what reaches here is Redis not
        # answering at start-up, or a bug. The supervisor starts a new process.
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


if __name__ == "__main__":
    main()
