"""Retention: what the store keeps only for a while is deleted once its time has passed.

Idempotency keys (and the sealed outcome each holds) live for ``AITOPUP_IDEMPOTENCY_TTL_SECONDS``;
after that a replay is a new request anyway, so the rows only grow the table. The job deletes in
batches, each its own short transaction, so it never holds the writer for long.
"""

from typing import Any

from gateway import idempotency
from gateway.clock import utcnow
from gateway.store.db import Database

from .delivery import Deps

__all__ = ["BATCH", "MAX_BATCHES", "purge_idempotency", "retention"]

BATCH = 1000
# Bounds one run; what is left waits for the next.
MAX_BATCHES = 50


async def purge_idempotency(db: Database, *, ttl_seconds: int) -> int:
    """Expired idempotency keys deleted, all of them up to ``MAX_BATCHES`` batches."""
    total = 0
    for _ in range(MAX_BATCHES):
        async with db.transaction() as conn:
            gone = await idempotency.purge(conn, now=utcnow(), ttl_seconds=ttl_seconds, batch=BATCH)
        total += gone
        if gone < BATCH:
            break
    return total


async def retention(ctx: dict[str, Any]) -> None:
    """The ARQ cron job."""
    deps: Deps = ctx["deps"]
    await purge_idempotency(deps.db, ttl_seconds=deps.settings.idempotency_ttl_seconds)
