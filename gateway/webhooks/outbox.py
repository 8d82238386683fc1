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

from sqlalchemy import insert, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..clock import new_id, rfc3339
from ..store.models import Event, WebhookDelivery, WebhookEndpoint, table_of
from ..store.types import UTCDateTime

__all__ = [
    "BATCH",
    "DELIVER_JOB",
    "DELIVER_MANY_JOB",
    "Job",
    "batch_job_id",
    "emit",
    "enqueue",
    "enqueue_jobs",
    "event_body",
    "job_id",
]

log = logging.getLogger(__name__)

DELIVER_JOB = "deliver"
DELIVER_MANY_JOB = "deliver_many"
# Deliveries per ``deliver_many`` job: big enough to spread the queue's cost, small enough that
# one worker's batch does not keep a burst from the others.
BATCH = 50
_E = table_of(Event)
_D = table_of(WebhookDelivery)
_EP = table_of(WebhookEndpoint)


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


async def emit(
    conn: AsyncConnection,
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
    one endpoint it tests, whatever that endpoint's filter).
    """
    event_id = new_id("evt")
    await conn.execute(
        insert(_E).values(
            id=event_id,
            env=env,
            merchant_id=merchant_id,
            type=type_,
            payload=event_body(event_id, type_, now, env, data),
            created_at=now,
        )
    )
    moment = literal(now, UTCDateTime())
    subscribed = select(
        literal(f"dlv_{event_id[4:]}") + _EP.c.id,
        literal(event_id),
        _EP.c.id,
        literal(env),
        literal(merchant_id),
        literal(type_),
        literal("pending"),
        literal(0),
        literal(trigger),
        literal(0),
        literal(0),
        moment,
        moment,
        moment,
    ).where(
        _EP.c.merchant_id == merchant_id,
        _EP.c.env == env,
        _EP.c.enabled.is_(True),
        _EP.c.deleted_at.is_(None),
    )
    if endpoint_ids is not None:
        subscribed = subscribed.where(_EP.c.id.in_(list(endpoint_ids)))
    else:
        subscribed = subscribed.where(
            or_(_EP.c.event_types == "", _EP.c.event_types.contains(f",{type_},"))
        )
    stmt = (
        insert(_D)
        .from_select(
            [
                "id",
                "event_id",
                "endpoint_id",
                "env",
                "merchant_id",
                "event_type",
                "status",
                "attempts",
                "trigger",
                "run_start",
                "generation",
                "next_attempt_at",
                "created_at",
                "updated_at",
            ],
            subscribed,
        )
        .returning(_D.c.id)
    )
    return [str(row) for row in (await conn.execute(stmt)).scalars()]


async def enqueue(redis: Any, delivery_ids: Iterable[str]) -> None:
    """Best effort, after commit, for deliveries ``emit`` just wrote (generation 0)."""
    await enqueue_jobs(redis, [(delivery_id, 0) for delivery_id in delivery_ids])


def batch_job_id(jobs: Sequence[Job]) -> str:
    """One id per set of delivery states, so offering the same batch twice is still a no-op."""
    digest = hashlib.blake2b(digest_size=16)
    for delivery_id, generation in jobs:
        digest.update(f"{delivery_id}:{generation},".encode())
    return f"dlvs:{digest.hexdigest()}"


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
