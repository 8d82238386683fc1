"""The outbox sweep: the database is the truth, Redis only a way to run deliveries sooner.

Every second, each pending delivery that has been due for a little while is enqueued again under
its current job id. If its job is still queued or running ARQ refuses the duplicate; if the job is
gone (Redis flushed, a worker killed mid-attempt and its lease run out) a new one starts.
"""

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from gateway.clock import utcnow
from gateway.store.models import WebhookDelivery, table_of
from gateway.webhooks import outbox

from .delivery import Deps

__all__ = ["GRACE", "sweep", "sweep_once"]

_D = table_of(WebhookDelivery)

# Leave the normal path (enqueue after commit, deferred retries) time to work first.
GRACE = timedelta(seconds=2)
BATCH = 2000


async def sweep_once(deps: Deps, *, grace: timedelta = GRACE, batch: int = BATCH) -> int:
    """Re-enqueue what is overdue; how many were offered to the queue."""
    stmt = (
        select(_D.c.id, _D.c.generation)
        .where(_D.c.status == "pending", _D.c.next_attempt_at <= utcnow() - grace)
        .order_by(_D.c.next_attempt_at)
        .limit(batch)
    )
    async with deps.db.engine.connect() as conn:
        due = [(row.id, row.generation) for row in await conn.execute(stmt)]
    if due:
        await outbox.enqueue_jobs(deps.redis, due)
    return len(due)


async def sweep(ctx: dict[str, Any]) -> int:
    """ARQ cron ``sweep``."""
    deps: Deps = ctx["deps"]
    return await sweep_once(deps)
