"""The outbox: events and their deliveries, written in the caller's transaction.

The rows are the truth; a job in Redis is only a way to run a delivery sooner. The gateway
enqueues after commit (``enqueue``); the worker's sweep re-enqueues anything due whose job is gone.
"""

import json
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..clock import new_id, rfc3339
from ..store.models import Event, WebhookDelivery, WebhookEndpoint, table_of
from ..store.types import UTCDateTime

__all__ = ["DELIVER_JOB", "Job", "emit", "enqueue", "enqueue_jobs", "event_body", "job_id"]

log = logging.getLogger(__name__)

DELIVER_JOB = "deliver"
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


async def enqueue_jobs(
    redis: Any, jobs: Iterable[Job], *, defer_until: datetime | None = None
) -> None:
    """Best effort: a failure here only delays delivery until the next sweep finds the row."""
    for delivery_id, generation in jobs:
        try:
            await redis.enqueue_job(
                DELIVER_JOB,
                delivery_id,
                generation,
                _job_id=job_id(delivery_id, generation),
                _defer_until=defer_until,
            )
        except Exception:  # the sweep will find the row
            log.warning("enqueue failed; the sweep will pick the delivery up", exc_info=True)
            return
