"""Retention: what the store keeps only for a while is deleted once its time has passed.

Idempotency keys (and the sealed outcome each holds) live for ``AITOPUP_IDEMPOTENCY_TTL_SECONDS``;
after that a replay is a new request anyway, so the rows only grow the table. A key's spend rows
of windows long closed (``policies.spend.prune_closed``) are read by nothing, and there is one per
recipient and window for a per-recipient limit. Webhook history (events, deliveries, attempts)
is kept ``AITOPUP_RETENTION_DAYS`` or the merchant's own (``gateway.webhooks.retention``, which
says what is never pruned), and with it the spans of the wallets' debits that no give-back can
reach any more (``gateway.ledger.giveback.prune``). What the staging test inbox received is kept
a day (``gateway.webhooks.inbox``). The jobs delete in batches, each its own short transaction,
so they never hold the writer for long. On PostgreSQL the webhook history is partitioned by
week (``gateway.store.partitions``): the weeks past the longest retention are dropped whole,
and only a merchant with a shorter one has its rows deleted.
"""

from datetime import datetime
from typing import Any

from gateway import idempotency
from gateway.ledger import giveback
from gateway.policies import spend
from gateway.store import partitions
from gateway.store.engine import Database
from gateway.store.partitions import Dropped
from gateway.values.clock import utcnow
from gateway.webhooks import inbox
from gateway.webhooks.retention import Pruned, horizon, longest_days, prune_batch

from .deps import Deps

__all__ = [
    "BATCH",
    "MAX_BATCHES",
    "drop_history",
    "make_partitions",
    "prune_draws",
    "prune_history",
    "prune_inbox",
    "prune_spend",
    "purge_idempotency",
    "retention",
]

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


async def drop_history(db: Database, *, now: datetime, default_days: int) -> Dropped:
    """The weeks of webhook history past the longest retention any merchant has dropped whole
    (``store.partitions``; nothing where the history is not partitioned)."""
    longest = await longest_days(db, default_days)
    return await partitions.drop_past(db, horizon(now, longest))


async def prune_history(
    db: Database,
    *,
    now: datetime,
    default_days: int,
    batch: int = BATCH,
    whole_since: datetime | None = None,
) -> Pruned:
    """Webhook history past its merchant's retention deleted, up to ``MAX_BATCHES`` batches;
    from ``whole_since`` on, only a shorter retention's (``drop_history`` drops the rest)."""
    total = Pruned()
    for _ in range(MAX_BATCHES):
        gone = await prune_batch(
            db, now=now, default_days=default_days, batch=batch, whole_since=whole_since
        )
        total += gone
        if max(gone.delivery_rows, gone.event_rows, gone.replay_job_rows) < batch:
            break
    return total


async def prune_inbox(db: Database, *, now: datetime, batch: int = BATCH) -> int:
    """Test inbox requests past their day deleted, up to ``MAX_BATCHES`` batches."""
    total = 0
    for _ in range(MAX_BATCHES):
        gone = await inbox.prune(db, now=now, batch=batch)
        total += gone
        if gone < batch:
            break
    return total


async def prune_draws(db: Database, *, now: datetime, days: int, batch: int = BATCH) -> int:
    """The spans of debits past ``days`` that nothing gives back any more deleted, up to
    ``MAX_BATCHES`` batches."""
    total = 0
    for _ in range(MAX_BATCHES):
        async with db.transaction() as conn:
            gone = await giveback.prune(conn, now=now, days=days, batch=batch)
        total += gone
        if gone < batch:
            break
    return total


async def retention(ctx: dict[str, Any]) -> None:
    """The ARQ cron job."""
    deps: Deps = ctx["deps"]
    settings = deps.settings
    await purge_idempotency(deps.db, ttl_seconds=settings.idempotency_ttl_seconds)
    dropped = await drop_history(deps.db, now=utcnow(), default_days=settings.retention_days)
    await prune_history(
        deps.db,
        now=utcnow(),
        default_days=settings.retention_days,
        batch=settings.retention_batch_size,
        whole_since=dropped.whole_since,
    )
    await prune_inbox(deps.db, now=utcnow(), batch=settings.retention_batch_size)
    await prune_draws(
        deps.db, now=utcnow(), days=settings.retention_days, batch=settings.retention_batch_size
    )


async def make_partitions(ctx: dict[str, Any]) -> list[str]:
    """The hourly ARQ cron job, and at startup: the webhook history's partitions made for the
    weeks ahead (``store.partitions``), so no write waits for one; those made."""
    deps: Deps = ctx["deps"]
    return await partitions.make_ahead(deps.db, utcnow())


async def prune_spend(ctx: dict[str, Any]) -> int:
    """The daily ARQ cron job: spend rows of closed windows deleted, up to ``MAX_BATCHES``
    batches. Daily, not with ``retention``: finding them reads the whole table, and a window
    closes at most once a day."""
    deps: Deps = ctx["deps"]
    total = 0
    for _ in range(MAX_BATCHES):
        gone = await spend.prune_closed(deps.db, utcnow(), batch=BATCH)
        total += gone
        if gone < BATCH:
            break
    return total
