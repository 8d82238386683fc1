"""The outbox sweep: the database is the truth, Redis only a way to run deliveries sooner.

Every second, each pending delivery that has stayed due for a while gets a new generation and a
job under that fresh id. Its old job may be gone (Redis flushed), or stuck: a worker killed with
the job in hand leaves ARQ's in-progress mark on it for the job timeout, and ARQ refuses to
enqueue an id it still holds. A duplicate that does run is harmless: the attempt is claimed in the
database, so the slower job finds nothing due. A delivery is swept at most once per grace period,
so a backlogged queue is not flooded.
"""

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from gateway.clock import utcnow
from gateway.store.models import WebhookDelivery, table_of
from gateway.webhooks import outbox

from .delivery import Deps

__all__ = ["GRACE", "sweep", "sweep_once"]

_D = table_of(WebhookDelivery)

# Leave the normal path (enqueue after commit, deferred retries) time to work first.
GRACE = timedelta(seconds=3)
BATCH = 2000


async def sweep_once(deps: Deps, *, grace: timedelta = GRACE, batch: int = BATCH) -> int:
    """Re-enqueue what is overdue; how many were offered to the queue."""
    now = utcnow()
    overdue = (
        select(_D.c.id)
        .where(
            _D.c.status == "pending",
            _D.c.next_attempt_at <= now - grace,
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
    async with deps.db.begin() as conn:
        due = [(row.id, row.generation) for row in await conn.execute(stmt)]
    if due:
        await outbox.enqueue_jobs(deps.redis, due)
    return len(due)


async def sweep(ctx: dict[str, Any]) -> int:
    """ARQ cron ``sweep``."""
    deps: Deps = ctx["deps"]
    return await sweep_once(deps)
