"""Replay of a filtered set of deliveries as one job: an endpoint, event types, a status and a
time range, counted when the job is made and replayed by the worker in bounded batches.

A job is a row of ``webhook_replay_jobs`` (a kind of the runner's, ``worker.replays``). Each
batch makes at most ``BATCH`` deliveries due again and moves the job's cursor past them in one
transaction, so a large filter never holds a long one, and a batch whose lease lapsed changes
nothing (its stamp no longer holds). A job is bounded: its range spans at most
``MAX_SPAN_DAYS``, it matches at most ``MAX_MATCHED`` deliveries, and a merchant runs at most
``MAX_RUNNING`` at once in an environment.

A job only ever touches its own merchant's deliveries in its own environment: the filter is
read from the job's row, and its merchant and environment are always part of it.

An endpoint's recovery (``replay_failed``: its failed deliveries between two times) is such a
job, under the same bounds but the span (its range is the merchant's retention): made, then its
first batch run at once, so a recovery of at most ``BATCH`` answers with every delivery it made
due, and a larger one leaves the rest to the worker.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..callers import Caller
from ..store.engine import Database
from ..store.models import Merchant, WebhookDelivery, WebhookEndpoint, WebhookReplayJob, table_of
from ..store.rows import CoreRow
from ..values.clock import new_id, rfc3339, rfc3339_or_none, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from . import retention
from .deliveries import check_enabled, check_range, replay_values
from .endpoints import check_reachable
from .schemas import ReplayFailedData, ReplayJobCreate, ReplayJobData, ReplayJobFilter

__all__ = [
    "BATCH",
    "MAX_MATCHED",
    "MAX_RUNNING",
    "MAX_SPAN_DAYS",
    "Batch",
    "create_job",
    "get_job",
    "replay_failed",
    "run_batch",
]

BATCH = 500
MAX_MATCHED = 10_000
MAX_SPAN_DAYS = 31
MAX_RUNNING = 3

_J = table_of(WebhookReplayJob)
_D = table_of(WebhookDelivery)
_EP = table_of(WebhookEndpoint)
_M = table_of(Merchant)

# The row's status and what a reader is told.
_SHOWN = {"pending": "running", "done": "finished", "failed": "failed"}


def _matching(merchant_id: str, env: str, wanted: ReplayJobFilter) -> list[ColumnElement[bool]]:
    """The one definition of a job's deliveries: counted by the request, replayed by the
    batches."""
    assert wanted.until is not None
    live = select(_EP.c.id).where(
        _EP.c.merchant_id == merchant_id,
        _EP.c.env == env,
        _EP.c.enabled,
        _EP.c.deleted_at.is_(None),
    )
    found = [
        _D.c.merchant_id == merchant_id,
        _D.c.env == env,
        _D.c.created_at >= wanted.since,
        _D.c.created_at < wanted.until,
        _D.c.status.in_([wanted.status] if wanted.status else ["failed", "succeeded"]),
        _D.c.endpoint_id.in_(live),
    ]
    if wanted.endpoint_id is not None:
        found.append(_D.c.endpoint_id == wanted.endpoint_id)
    if wanted.event_types:
        found.append(_D.c.event_type.in_(wanted.event_types))
    return found


def _job_data(row: CoreRow, kept_since: datetime | None = None) -> ReplayJobData:
    return ReplayJobData(
        id=row.id,
        status=_SHOWN[row.status],
        filter=ReplayJobFilter.model_validate_json(row.filter),
        matched=row.matched,
        enqueued=row.enqueued,
        kept_since=rfc3339_or_none(kept_since),
        created_at=rfc3339(row.created_at),
        finished_at=rfc3339_or_none(row.finished_at),
    )


async def create_job(
    db: Database, settings: Settings, caller: Caller, body: ReplayJobCreate
) -> Outcome:
    """The job and its count, or a refusal that changed nothing. A ``since`` past the merchant's
    retention starts at its horizon, as a recovery does, and ``kept_since`` says so."""
    row, kept_since = await _create(db, settings, caller, body, utcnow())
    data = _job_data(row, kept_since)
    return Outcome(Code.CREATED, data, deliveries=[row.id] if row.matched else [])


async def replay_failed(
    db: Database,
    settings: Settings,
    caller: Caller,
    endpoint_id: str,
    since: datetime,
    until: datetime | None = None,
) -> Outcome:
    """Every failed delivery of one endpoint created since ``since`` (and before ``until``),
    as a job (``create_job``'s bounds, the span aside) whose first batch runs here: the
    deliveries made due, and ``job_id`` while the worker has more of them to replay."""
    check_range(since, until)
    async with db.read() as conn:
        await check_enabled(conn, caller, endpoint_id)
    now = utcnow()
    if until is None and since > now:  # up to now, from later: nothing to replay, no job
        return Outcome(Code.SUCCESS, ReplayFailedData(replayed=0, delivery_ids=[]).model_dump())
    body = ReplayJobCreate(since=since, until=until, endpoint_id=endpoint_id, status="failed")
    # Not due for the worker until this request had its try at the first batch.
    row, kept_since = await _create(
        db, settings, caller, body, now, spanned=False, held=timedelta(seconds=_HELD_SECONDS)
    )
    batch = await run_batch(db, row, now) if row.matched else Batch([], True)
    # None: a worker took the job meanwhile (the request was slower than its hold) and runs it.
    ids = [] if batch is None else batch.replayed
    rest = batch is None or not batch.finished
    data = ReplayFailedData(
        replayed=len(ids),
        delivery_ids=ids,
        kept_since=rfc3339_or_none(kept_since),
        job_id=row.id if rest else None,
    )
    return Outcome(Code.SUCCESS, data.model_dump(), deliveries=[*ids, *([row.id] if rest else [])])


# How long a recovery's job waits for the request that made it to run its first batch.
_HELD_SECONDS = 30


async def _create(
    db: Database,
    settings: Settings,
    caller: Caller,
    body: ReplayJobCreate,
    now: datetime,
    *,
    spanned: bool = True,
    held: timedelta | None = None,
) -> tuple[Any, datetime | None]:
    """The job's row, and the retention's horizon if ``since`` reached past it. ``spanned``:
    its range bounded by ``MAX_SPAN_DAYS``; ``held``: due that much after ``now``."""
    until = body.until or now
    check_range(body.since, until)
    if spanned and until - body.since > timedelta(days=MAX_SPAN_DAYS):
        raise ApiError(Code.WEBHOOK_REPLAY_SPAN_TOO_LONG, data={"max_days": MAX_SPAN_DAYS})
    if body.endpoint_id is not None:
        await check_reachable(db, settings, caller, body.endpoint_id)
    async with db.read() as conn:
        horizon = await retention.kept_since(
            conn, caller.merchant_id, now=now, default=settings.retention_days
        )
    clamped = body.since < horizon
    wanted = ReplayJobFilter(
        since=max(body.since, horizon),
        until=until,
        endpoint_id=body.endpoint_id,
        event_types=sorted(set(body.event_types)) if body.event_types else None,
        status=body.status,
    )
    job_id = new_id("wrj")
    async with db.transaction() as conn:
        # Jobs of one merchant take turns on its row: two at once cannot both see room.
        await conn.execute(select(_M.c.id).where(_M.c.id == caller.merchant_id).with_for_update())
        await _check_room(conn, caller)
        matched = await _count(conn, caller, wanted)
        if matched > MAX_MATCHED:
            raise ApiError(Code.WEBHOOK_REPLAY_TOO_MANY, data={"limit": MAX_MATCHED})
        row = (
            await conn.execute(
                insert(_J)
                .values(
                    id=job_id,
                    env=caller.env,
                    merchant_id=caller.merchant_id,
                    filter=wanted.model_dump_json(),
                    status="pending" if matched else "done",
                    matched=matched,
                    enqueued=0,
                    attempts=0,
                    generation=0,
                    next_attempt_at=(now + (held or timedelta())) if matched else None,
                    created_at=now,
                    updated_at=now,
                    finished_at=None if matched else now,
                )
                .returning(_J)
            )
        ).one()
    return row, horizon if clamped else None


async def _check_room(conn: AsyncConnection, caller: Caller) -> None:
    running = (
        await conn.execute(
            select(func.count())
            .select_from(_J)
            .where(
                _J.c.merchant_id == caller.merchant_id,
                _J.c.env == caller.env,
                _J.c.status == "pending",
            )
        )
    ).scalar_one()
    if running >= MAX_RUNNING:
        raise ApiError(Code.WEBHOOK_REPLAY_JOBS_BUSY, data={"limit": MAX_RUNNING})


async def _count(conn: AsyncConnection, caller: Caller, wanted: ReplayJobFilter) -> int:
    """The deliveries matched, counted no further than one past the bound."""
    found = (
        select(_D.c.id)
        .where(*_matching(caller.merchant_id, caller.env, wanted))
        .limit(MAX_MATCHED + 1)
        .subquery()
    )
    count: int = (await conn.execute(select(func.count()).select_from(found))).scalar_one()
    return count


async def get_job(db: Database, caller: Caller, job_id: str) -> Outcome:
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(_J).where(
                    _J.c.id == job_id,
                    _J.c.merchant_id == caller.merchant_id,
                    _J.c.env == caller.env,
                )
            )
        ).first()
    if row is None:
        raise ApiError(Code.WEBHOOK_REPLAY_JOB_NOT_FOUND)
    return Outcome(Code.SUCCESS, _job_data(row))


class _Lapsed(Exception):
    """The job's lease lapsed and another worker holds it: the batch is undone."""


@dataclass(frozen=True, slots=True)
class Batch:
    """What one batch did: the deliveries it made due (to wake for), and whether the job is
    finished."""

    replayed: list[str]
    finished: bool


async def run_batch(db: Database, job: Any, now: datetime) -> Batch | None:
    """The next batch of the leased ``job`` (a row of ``store.queue.lease``), and the job moved
    past it, in one transaction; ``None`` when its lease lapsed meanwhile (nothing written)."""
    wanted = ReplayJobFilter.model_validate_json(job.filter)
    stmt = (
        select(_D.c.id)
        .where(*_matching(job.merchant_id, job.env, wanted))
        .order_by(_D.c.id)
        .limit(BATCH)
    )
    if job.cursor is not None:
        stmt = stmt.where(_D.c.id > job.cursor)
    try:
        async with db.transaction() as conn:
            ids = [r.id for r in await conn.execute(stmt)]
            replayed: list[str] = []
            if ids:
                replayed = [
                    r.id
                    for r in await conn.execute(
                        update(_D)
                        .where(_D.c.id.in_(ids), _D.c.status != "pending")
                        .values(**replay_values(now))
                        .returning(_D.c.id)
                    )
                ]
            finished = len(ids) < BATCH
            values: dict[str, Any] = {
                "cursor": ids[-1] if ids else job.cursor,
                "enqueued": _J.c.enqueued + len(replayed),
                "last_error": None,
                "updated_at": now,
            }
            if finished:
                values |= {"status": "done", "next_attempt_at": None, "finished_at": now}
            else:
                values["next_attempt_at"] = now  # due again at once: the next batch
            moved = await conn.execute(
                update(_J)
                .where(
                    _J.c.id == job.id,
                    _J.c.generation == job.generation,
                    _J.c.status == "pending",
                )
                .values(values)
            )
            if not moved.rowcount:
                raise _Lapsed
    except _Lapsed:
        return None
    return Batch(sorted(replayed), finished)
