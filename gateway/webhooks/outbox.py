"""The outbox: events and their deliveries, written in the caller's transaction.

The rows are the truth; a job in Redis is only a way to run a delivery sooner. The gateway
enqueues after commit (``enqueue``); the worker's sweep re-enqueues anything due whose job is gone.
"""

import asyncio
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ..clock import new_id, rfc3339
from ..store.raw import Conn, Statement, raw

__all__ = [
    "BATCH",
    "DELIVER_JOB",
    "DELIVER_MANY_JOB",
    "Job",
    "batch_job_id",
    "delivery_prefix",
    "emit",
    "enqueue",
    "enqueue_jobs",
    "event_body",
    "job_id",
    "job_size",
    "new_event_id",
]

log = logging.getLogger(__name__)

DELIVER_JOB = "deliver"
DELIVER_MANY_JOB = "deliver_many"
# Deliveries per ``deliver_many`` job: big enough to spread the queue's cost, small enough that
# one worker's batch does not keep a burst from the others.
BATCH = 50


def new_event_id() -> str:
    return new_id("evt")


def delivery_prefix(event_id: str) -> str:
    """A delivery's id is this prefix plus its endpoint's id: one per (event, endpoint)."""
    return f"dlv_{event_id[4:]}"


def event_body(event_id: str, type_: str, created: datetime, env: str, data: Any) -> str:
    return json.dumps(
        {"id": event_id, "type": type_, "created": rfc3339(created), "env": env, "data": data},
        separators=(",", ":"),
    )


Job = tuple[str, int]  # (delivery id, generation)


def job_id(delivery_id: str, generation: int) -> str:
    """One job id per scheduled state of a delivery. ARQ refuses an id it still holds (queued,
    running, or a result kept for an hour), so enqueueing the same state twice is a no-op while
    every reschedule, lease or replay bumps the generation and gets a fresh id."""
    return f"dlv:{delivery_id}:{generation}"


_INSERT_EVENT = Statement(
    """INSERT INTO events (id, env, merchant_id, type, payload, created_at)
    VALUES (:id, :env, :merchant_id, :type, :payload, :now)"""
)


def _fan_out(endpoints: str) -> Statement:
    """A pending delivery per enabled endpoint of the merchant in ``env`` matching ``endpoints``.

    One INSERT … SELECT: the endpoints and their deliveries are read and written in one trip.
    The endpoint's own ``env`` and ``merchant_id`` are copied, not the parameters: PostgreSQL
    refuses a parameter whose type it deduces from both a target column and a comparison."""
    # Only fixed conditions and placeholders are formatted in; every value is bound.
    return Statement(
        "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, env, merchant_id, event_type,"  # noqa: S608
        " status, attempts, trigger, run_start, generation, next_attempt_at, created_at,"
        " updated_at)"
        " SELECT :prefix || e.id, :event_id, e.id, e.env, e.merchant_id, :type, 'pending', 0,"
        " :trigger, 0, 0, :now, :now, :now"
        " FROM webhook_endpoints e"
        " WHERE e.merchant_id = :merchant_id AND e.env = :env AND e.enabled"
        f" AND e.deleted_at IS NULL AND {endpoints} RETURNING id",
        ("id",),
    )


# Subscribed: "" means every event; otherwise ",a,b," holds the type between commas.
_SUBSCRIBED = _fan_out("(e.event_types = '' OR e.event_types LIKE :pattern)")


def _named(count: int) -> Statement:
    placeholders = ", ".join(f":ep{i}" for i in range(count))
    return _fan_out(f"e.id IN ({placeholders})")


async def emit(
    conn: Conn,
    *,
    env: str,
    merchant_id: str,
    type_: str,
    data: Any,
    now: datetime,
    endpoint_ids: Iterable[str] | None = None,
    trigger: str = "auto",
) -> list[str]:
    """Write one event and a pending delivery per subscribed endpoint; return the delivery ids.

    ``endpoint_ids`` names the endpoints instead of their subscriptions (a test event goes to the
    one endpoint it tests, whatever that endpoint's filter). Runs on every send, so both
    statements go straight to the driver (``store.raw``).
    """
    event_id = new_event_id()
    db = await raw(conn)
    await db.fetch(
        _INSERT_EVENT,
        {
            "id": event_id,
            "env": env,
            "merchant_id": merchant_id,
            "type": type_,
            "payload": event_body(event_id, type_, now, env, data),
            "now": now,
        },
    )
    params: dict[str, Any] = {
        "prefix": delivery_prefix(event_id),
        "event_id": event_id,
        "env": env,
        "merchant_id": merchant_id,
        "type": type_,
        "trigger": trigger,
        "now": now,
    }
    if endpoint_ids is None:
        statement = _SUBSCRIBED
        params["pattern"] = f"%,{type_},%"
    else:
        named = list(endpoint_ids)
        if not named:
            return []
        statement = _named(len(named))
        params.update({f"ep{i}": endpoint_id for i, endpoint_id in enumerate(named)})
    return [str(row["id"]) for row in await db.fetch(statement, params)]


async def enqueue(redis: Any, delivery_ids: Iterable[str]) -> None:
    """Best effort, after commit, for deliveries ``emit`` just wrote (generation 0)."""
    await enqueue_jobs(redis, [(delivery_id, 0) for delivery_id in delivery_ids])


def batch_job_id(jobs: Sequence[Job]) -> str:
    """One id per set of delivery states, so offering the same batch twice is still a no-op.
    The id carries the batch's size, for a worker deciding whether it has room for it."""
    digest = hashlib.blake2b(digest_size=16)
    for delivery_id, generation in jobs:
        digest.update(f"{delivery_id}:{generation},".encode())
    return f"dlvs:{len(jobs)}:{digest.hexdigest()}"


def job_size(job_id: str) -> int:
    """How many deliveries a job id stands for; 0 for a job that is not a delivery (the sweep)."""
    if job_id.startswith("dlv:"):
        return 1
    if job_id.startswith("dlvs:"):
        size, _, _ = job_id[5:].partition(":")
        return int(size) if size.isdigit() else BATCH
    return 0


async def enqueue_jobs(
    redis: Any, jobs: Iterable[Job], *, defer_until: datetime | None = None
) -> None:
    """Best effort: a failure here only delays delivery until the next sweep finds the row.

    Many deliveries at once (a burst, a sweep, a replay of failures) go as ``deliver_many`` jobs
    of up to ``BATCH`` each: the queue costs several Redis trips a job, more than a delivery's
    own work when the receiver is fast."""
    pending = list(jobs)
    chunks = [pending[i : i + BATCH] for i in range(0, len(pending), BATCH)]
    try:
        await asyncio.gather(*(_enqueue_chunk(redis, chunk, defer_until) for chunk in chunks))
    except Exception:  # the sweep will find the rows
        log.warning("enqueue failed; the sweep will pick the delivery up", exc_info=True)


async def _enqueue_chunk(redis: Any, chunk: list[Job], defer_until: datetime | None) -> None:
    if len(chunk) == 1:
        [(delivery_id, generation)] = chunk
        await redis.enqueue_job(
            DELIVER_JOB,
            delivery_id,
            generation,
            _job_id=job_id(delivery_id, generation),
            _defer_until=defer_until,
        )
        return
    await redis.enqueue_job(
        DELIVER_MANY_JOB,
        [delivery_id for delivery_id, _ in chunk],
        _job_id=batch_job_id(chunk),
        _defer_until=defer_until,
    )
