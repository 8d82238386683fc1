"""The outbox sweep: the database is the truth, Redis only a way to run deliveries sooner.

Every few seconds (``worker.__main__.SAFETY_SWEEP_SECONDS``), each pending delivery that has
stayed due for a while gets a new generation and a job under that fresh id. Its old job may be
gone (Redis flushed), or stuck: a worker killed with the job in hand leaves ARQ's in-progress mark
on it for the job timeout, and ARQ refuses to enqueue an id it still holds. A duplicate that does
run is harmless: the attempt is claimed in the database, so the slower job finds nothing due. A
delivery is swept at most once per grace period, so a backlogged queue is not flooded.

Nor is a delivery swept while its job still waits its turn: when workers fall behind, every row
in the backlog is overdue, and re-enqueueing them would add work exactly when there is too much.
The queue is ordered by when each job is due, so the oldest job still waiting (not running, not
held by a killed worker's in-progress mark) bounds the sweep: a delivery due before it should
have been taken already, and one due after it may still be waiting in line.
"""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.constants import default_queue_name, in_progress_key_prefix
from sqlalchemy import select, update

from gateway import outbox
from gateway.store.models import WebhookDelivery, table_of
from gateway.values.clock import utcnow

from .delivery import Deps

__all__ = ["GRACE", "PAGE", "oldest_waiting", "sweep", "sweep_once"]

_D = table_of(WebhookDelivery)

# Leave the normal path (enqueue after commit, deferred retries) time to work first.
GRACE = timedelta(seconds=3)
BATCH = 2000
# Jobs looked at to find one that is waiting; past this many running ones, the sweep is unbounded.
LOOKAHEAD = 1000
PAGE = 100


async def oldest_waiting(redis: Any, *, queue: str = default_queue_name) -> datetime | None:
    """When the oldest job that is due and waiting in the queue was due; ``None`` when none is.

    Jobs stay in ARQ's queue while they run, marked in progress (a killed worker's mark lasts
    until the job's timeout), so those are skipped."""
    now_ms = int(time.time() * 1000)
    for start in range(0, LOOKAHEAD, PAGE):
        due = await redis.zrangebyscore(
            queue, "-inf", now_ms, start=start, num=PAGE, withscores=True
        )
        if not due:
            return None
        last_page = len(due) < PAGE
        async with redis.pipeline(transaction=False) as pipe:
            for job_id, _ in due:
                pipe.exists(in_progress_key_prefix + job_id.decode())
            running = await pipe.execute()
        for (_, score), busy in zip(due, running, strict=True):
            if not busy:
                return datetime.fromtimestamp(score / 1000, UTC)
        if last_page:  # every due job read, each running: reading on finds none
            return None
    return None


async def sweep_once(deps: Deps, *, grace: timedelta = GRACE, batch: int = BATCH) -> int:
    """Re-enqueue what is overdue; how many were offered to the queue."""
    now = utcnow()
    waiting = await oldest_waiting(deps.redis)
    # A job is enqueued just after its row commits: a grace either side of the line.
    cutoff = min(now, waiting) - grace if waiting is not None else now - grace
    overdue = (
        select(_D.c.id)
        .where(
            _D.c.status == "pending",
            _D.c.next_attempt_at <= cutoff,
            _D.c.updated_at <= now - grace,
        )
        .order_by(_D.c.next_attempt_at)
        .limit(batch)
    )
    stmt = (
        update(_D)
        .where(_D.c.id.in_(overdue.scalar_subquery()), _D.c.status == "pending")
        .values(generation=_D.c.generation + 1, updated_at=now)
        .returning(_D.c.id, _D.c.generation)
    )
    async with deps.db.transaction() as conn:
        due = [(row.id, row.generation) for row in await conn.execute(stmt)]
    if due:
        await outbox.enqueue_jobs(deps.redis, due)
    return len(due)


async def sweep(ctx: dict[str, Any]) -> int:
    """ARQ cron ``sweep``."""
    deps: Deps = ctx["deps"]
    return await sweep_once(deps)
