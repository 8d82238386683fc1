"""How long webhook history is kept, and its pruning.

Events, deliveries, attempts, finished replay jobs and the rows of events payload filters
dropped are kept ``AITOPUP_RETENTION_DAYS`` (an operator may set one merchant's own,
``merchants.retention_days``), then deleted in batches by the worker. Ids sort by creation
time (``clock.new_id``; a delivery's id starts with its event's), so "older than the horizon"
is a range of each primary key (a dropped event's key is its endpoint's, then its time), and no
index is added for it. Never pruned: a delivery still due (``pending``), a replay job still
running, the event of any delivery kept, and everything that is money (the ledger, top-ups,
orders), which lives in other tables this module does not touch.

A replay of a delivery past the horizon is refused with its own code, whether or not the worker
has pruned it yet: what a merchant may ask for does not depend on when the job last ran. A
recover reaching past it replays from the horizon and says so (``kept_since``).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store.engine import Database
from ..store.models import (
    DeliveryAttempt,
    Event,
    Merchant,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookFiltered,
    WebhookReplayJob,
    table_of,
)
from ..values.clock import id_floor, rfc3339
from ..values.code_names import Code
from ..values.outcome import ApiError

__all__ = [
    "Pruned",
    "check_within",
    "horizon",
    "kept_since",
    "longest_days",
    "prune_batch",
    "retention_days",
]

_M = table_of(Merchant)
_E = table_of(Event)
_D = table_of(WebhookDelivery)
_A = table_of(DeliveryAttempt)
_J = table_of(WebhookReplayJob)
_EP = table_of(WebhookEndpoint)
_F = table_of(WebhookFiltered)


def horizon(now: datetime, days: int) -> datetime:
    """The oldest moment still kept."""
    return now - timedelta(days=days)


async def retention_days(conn: AsyncConnection, merchant_id: str, default: int) -> int:
    """The merchant's retention: its operator-set own, else the default."""
    own = (
        await conn.execute(select(_M.c.retention_days).where(_M.c.id == merchant_id))
    ).scalar_one_or_none()
    return own if own is not None else default


async def longest_days(db: Database, default: int) -> int:
    """The longest retention any merchant has: no history younger is past everyone's."""
    async with db.read() as conn:
        own = (await conn.execute(select(func.max(_M.c.retention_days)))).scalar_one_or_none()
    return max(default, own or 0)


def _past(days: int, kept_since: datetime) -> ApiError:
    return ApiError(
        Code.WEBHOOK_PAST_RETENTION,
        data={"retention_days": days, "kept_since": rfc3339(kept_since)},
    )


async def check_within(
    conn: AsyncConnection, merchant_id: str, delivery_id: str, *, now: datetime, default: int
) -> None:
    """Refuses (``WEBHOOK_PAST_RETENTION``) a delivery id older than the merchant's horizon."""
    days = await retention_days(conn, merchant_id, default)
    kept_since = horizon(now, days)
    if delivery_id < id_floor("dlv", kept_since):
        raise _past(days, kept_since)


async def kept_since(
    conn: AsyncConnection, merchant_id: str, *, now: datetime, default: int
) -> datetime:
    """The oldest moment of the merchant's webhook history still kept."""
    return horizon(now, await retention_days(conn, merchant_id, default))


@dataclass(frozen=True, slots=True)
class Pruned:
    # Rows deleted, by table.
    delivery_rows: int = 0
    attempt_rows: int = 0
    event_rows: int = 0
    replay_job_rows: int = 0
    filtered_rows: int = 0

    def __add__(self, other: "Pruned") -> "Pruned":
        return Pruned(
            self.delivery_rows + other.delivery_rows,
            self.attempt_rows + other.attempt_rows,
            self.event_rows + other.event_rows,
            self.replay_job_rows + other.replay_job_rows,
            self.filtered_rows + other.filtered_rows,
        )

    @property
    def rows(self) -> int:
        return (
            self.delivery_rows
            + self.attempt_rows
            + self.event_rows
            + self.replay_job_rows
            + self.filtered_rows
        )


async def prune_batch(
    db: Database,
    *,
    now: datetime,
    default_days: int,
    batch: int,
    whole_since: datetime | None = None,
) -> Pruned:
    """At most ``batch`` deliveries (with their attempts) and ``batch`` events past their
    merchant's horizon deleted, one short transaction per merchant group; what was deleted.

    ``whole_since``: the history from that moment on is dropped whole, a week at a time, once
    past the longest retention (``store.partitions``, PostgreSQL), so the merchants with the
    longest retention have only what is older deleted; those with a shorter one have theirs
    deleted as ever."""
    async with db.read() as conn:
        overrides = (
            await conn.execute(
                select(_M.c.retention_days).where(_M.c.retention_days.is_not(None)).distinct()
            )
        ).scalars()
        groups = [(_M.c.retention_days.is_(None), horizon(now, default_days))]
        groups += [(_M.c.retention_days == days, horizon(now, days)) for days in overrides]
    if whole_since is not None:
        longest = min(kept for _, kept in groups)
        groups = [(w, min(k, whole_since) if k == longest else k) for w, k in groups]
    total = Pruned()
    for which, kept_since in groups:
        merchants = select(_M.c.id).where(which).scalar_subquery()
        async with db.transaction() as conn:
            total += await _prune_group(conn, merchants, kept_since, batch)
    return total


async def _prune_group(
    conn: AsyncConnection, merchants: Any, kept_since: datetime, batch: int
) -> Pruned:
    finished = (
        await conn.execute(
            select(_D.c.id)
            .where(
                _D.c.id < id_floor("dlv", kept_since),
                _D.c.status != "pending",
                _D.c.merchant_id.in_(merchants),
            )
            .limit(batch)
        )
    ).scalars()
    ids = list(finished)
    attempts = deliveries = 0
    if ids:
        attempts = (await conn.execute(delete(_A).where(_A.c.delivery_id.in_(ids)))).rowcount
        deliveries = (
            await conn.execute(delete(_D).where(_D.c.id.in_(ids), _D.c.status != "pending"))
        ).rowcount
    # An event goes once no delivery of it is left: a delivery still due keeps its event.
    old_events = (
        select(_E.c.id)
        .where(
            _E.c.id < id_floor("evt", kept_since),
            _E.c.merchant_id.in_(merchants),
            ~exists().where(_D.c.event_id == _E.c.id),
        )
        .limit(batch)
    )
    events = (
        await conn.execute(delete(_E).where(_E.c.id.in_(old_events.scalar_subquery())))
    ).rowcount
    # A replay job goes with the history it replayed, once it has finished.
    old_jobs = (
        select(_J.c.id)
        .where(
            _J.c.id < id_floor("wrj", kept_since),
            _J.c.status != "pending",
            _J.c.merchant_id.in_(merchants),
        )
        .limit(batch)
    )
    jobs = (await conn.execute(delete(_J).where(_J.c.id.in_(old_jobs.scalar_subquery())))).rowcount
    # What a filter dropped goes with the deliveries it stands for: by its key, endpoint first.
    key = tuple_(_F.c.endpoint_id, _F.c.created_at, _F.c.event_id)
    old_drops = (
        select(_F.c.endpoint_id, _F.c.created_at, _F.c.event_id)
        .where(
            _F.c.endpoint_id.in_(select(_EP.c.id).where(_EP.c.merchant_id.in_(merchants))),
            _F.c.created_at < kept_since,
        )
        .limit(batch)
    )
    drops = (await conn.execute(delete(_F).where(key.in_(old_drops)))).rowcount
    return Pruned(
        delivery_rows=deliveries,
        attempt_rows=attempts,
        event_rows=events,
        replay_job_rows=jobs,
        filtered_rows=drops,
    )
