"""The outbox: events and their deliveries, written in the caller's transaction.

The rows are the truth; a job in Redis is only a way to run a delivery sooner. The gateway
enqueues after commit (``enqueue``); the worker's sweep re-enqueues anything due whose job is gone.
"""

import asyncio
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import (
    ColumnElement,
    String,
    Text,
    and_,
    cast,
    func,
    insert,
    literal_column,
    or_,
    true,
)

from .store.compose import Plan, Refs, Step, const, from_rows, param
from .store.models import Event, WebhookDelivery, WebhookEndpoint, table_of
from .store.raw import Conn, Construct, raw
from .store.types import UTCDateTime
from .values.clock import new_id, rfc3339

__all__ = [
    "BALANCE_MARK",
    "BATCH",
    "DELIVER_JOB",
    "DELIVER_MANY_JOB",
    "MAIL_JOB",
    "MAIL_MANY_JOB",
    "MAIL_PREFIX",
    "WAKE_CHANNEL",
    "EventParams",
    "Job",
    "batch_job_id",
    "delivery_prefix",
    "emit",
    "enqueue",
    "enqueue_jobs",
    "event_body",
    "event_params",
    "event_steps",
    "job_id",
    "job_size",
    "mail_batch_job_id",
    "mail_job_id",
    "new_event_id",
]

log = logging.getLogger(__name__)

DELIVER_JOB = "deliver"
DELIVER_MANY_JOB = "deliver_many"
# A mail (``gateway.mail``) is outbox work too: an operation hands its id in with its
# deliveries, and ``enqueue_jobs`` gives it a job of its own, or, with others enqueued at the
# same time (every send of a busy gateway makes one), a ``send_mails`` job for them all.
MAIL_JOB = "send_mail"
MAIL_MANY_JOB = "send_mails"
MAIL_PREFIX = "mail_"
# Published once per enqueue: an idle worker waits on it instead of polling the queue fast
# (``worker._arq.WakingWorker``). Best effort, like the enqueue: a worker also looks on its own
# every ``AITOPUP_WORKER_IDLE_POLL_SECONDS``.
WAKE_CHANNEL = "aitopup:wake"
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
Balance = Callable[[Refs], ColumnElement[Any]]
# Marks in an event's body and the values, known only inside the write, that replace them.
Fills = Callable[[Refs], Mapping[str, ColumnElement[Any]]]


def job_id(delivery_id: str, generation: int) -> str:
    """One job id per scheduled state of a delivery. ARQ refuses an id it still holds (queued,
    running, or a result kept for an hour), so enqueueing the same state twice is a no-op while
    every reschedule, lease or replay bumps the generation and gets a fresh id."""
    return f"dlv:{delivery_id}:{generation}"


def mail_job_id(mail_id: str, generation: int) -> str:
    """As ``job_id``, for a mail."""
    return f"mail:{mail_id}:{generation}"


_E = table_of(Event)
_EP = table_of(WebhookEndpoint)
_D = table_of(WebhookDelivery)

# Stands in an event's body for a balance known only inside the write (``balance_after``).
BALANCE_MARK = "$balance_after"

Gate = Callable[[Refs], ColumnElement[bool]]


class EventParams(TypedDict):
    """What the event steps called ``event`` bind (``event_steps("event", …)``)."""

    event_id: str
    event_type: str
    event_payload: str
    event_prefix: str
    event_trigger: str


def event_params(
    type_: str,
    created: datetime,
    env: str,
    data: Any,
    *,
    trigger: str = "auto",
    event_id: str | None = None,
) -> EventParams:
    """The parameters of the event steps called ``event`` (of event ``event_id``, else a new
    one)."""
    event_id = event_id or new_event_id()
    return {
        "event_id": event_id,
        "event_type": type_,
        "event_payload": event_body(event_id, type_, created, env, data),
        "event_prefix": delivery_prefix(event_id),
        "event_trigger": trigger,
    }


def _event(
    refs: Refs, name: str, gate: Gate, balance_after: Balance | None, fills: Fills | None
) -> Construct:
    """One event row of the merchant ``:merchant_id`` in ``:env``, once ``gate`` holds."""
    payload: ColumnElement[Any] = param(f"{name}_payload", Text)
    if balance_after is not None:
        mark = const(json.dumps(BALANCE_MARK))
        payload = func.replace(payload, mark, cast(balance_after(refs), Text))
    for mark_name, value in (fills(refs) if fills is not None else {}).items():
        payload = func.replace(payload, const(json.dumps(mark_name)), cast(value, Text))
    row = {
        "id": param(f"{name}_id", String),
        "env": param("env", String),
        "merchant_id": param("merchant_id", String),
        "type": param(f"{name}_type", String),
        "payload": payload,
        "created_at": param("now", UTCDateTime()),
    }
    return from_rows(insert(_E), [row], where=gate(refs)).returning(_E.c.id)


def _subscribed(type_: ColumnElement[Any]) -> ColumnElement[bool]:
    """``""`` means every event; otherwise ``",a,b,"`` holds the type between commas."""
    pattern: ColumnElement[Any] = literal_column("'%,'") + type_ + literal_column("',%'")
    return or_(_EP.c.event_types == literal_column("''"), _EP.c.event_types.like(pattern))


def _fan_out(refs: Refs, name: str, named: int | None) -> Construct:
    """A pending delivery of event ``name`` per enabled endpoint of its merchant and env that
    subscribes to its type, or, with ``named``, per endpoint ``:<name>_ep<i>`` (a test event
    goes to the endpoint it tests, whatever its filter). A delivery's id is the event's prefix
    plus the endpoint's id: one per (event, endpoint). The endpoint's own env and merchant are
    copied."""
    if named is None:
        which = _subscribed(param(f"{name}_type", String))
    else:
        which = _EP.c.id.in_([param(f"{name}_ep{i}", String) for i in range(named)])
    now = param("now", UTCDateTime())
    row = {
        "id": param(f"{name}_prefix", String) + _EP.c.id,
        "event_id": refs.col(name, "id"),
        "endpoint_id": _EP.c.id,
        "env": _EP.c.env,
        "merchant_id": _EP.c.merchant_id,
        "event_type": param(f"{name}_type", String),
        "status": const("pending"),
        "attempts": literal_column("0"),
        "trigger": param(f"{name}_trigger", String),
        "run_start": literal_column("0"),
        "generation": literal_column("0"),
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
    where = and_(
        _EP.c.merchant_id == param("merchant_id", String),
        _EP.c.env == param("env", String),
        _EP.c.enabled,
        _EP.c.deleted_at.is_(None),
        which,
    )
    return from_rows(insert(_D), [row], where=where).returning(_D.c.id)


def event_steps(
    name: str,
    *,
    after: Gate = lambda refs: true(),
    balance_after: Balance | None = None,
    fills: Fills | None = None,
    named: int | None = None,
) -> list[Step]:
    """An event (step ``name``) once ``after`` holds, and its deliveries (``<name>_deliveries``).
    ``balance_after``: the value that replaces ``BALANCE_MARK`` in the body; ``fills``: other
    marks (JSON strings of the body, quotes included) and the values that replace them."""
    return [
        Step(name, lambda refs: _event(refs, name, after, balance_after, fills)),
        Step(f"{name}_deliveries", lambda refs: _fan_out(refs, name, named), many=True),
    ]


_EMIT = Plan(event_steps("event"))


@functools.cache
def _emit_named(count: int) -> Plan:
    return Plan(event_steps("event", named=count))


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
    event_id: str | None = None,
) -> list[str]:
    """Write one event (``event_id``, else a new one) and a pending delivery per subscribed
    endpoint (or per endpoint of ``endpoint_ids``); return the delivery ids."""
    params: dict[str, Any] = {
        "env": env,
        "merchant_id": merchant_id,
        "now": now,
        **event_params(type_, now, env, data, trigger=trigger, event_id=event_id),
    }
    plan = _EMIT
    if endpoint_ids is not None:
        named = list(endpoint_ids)
        if not named:
            return []
        plan = _emit_named(len(named))
        params.update({f"event_ep{i}": endpoint_id for i, endpoint_id in enumerate(named)})
    applied = await plan.run(await raw(conn), params)
    assert applied is not None
    return applied.ids("event_deliveries")


async def enqueue(redis: Any, delivery_ids: Iterable[str]) -> None:
    """Best effort, after commit, for deliveries ``emit`` just wrote (generation 0)."""
    await enqueue_jobs(redis, [(delivery_id, 0) for delivery_id in delivery_ids])


def _digest(jobs: Sequence[Job]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for row_id, generation in jobs:
        digest.update(f"{row_id}:{generation},".encode())
    return digest.hexdigest()


def batch_job_id(jobs: Sequence[Job]) -> str:
    """One id per set of delivery states, so offering the same batch twice is still a no-op.
    The id carries the batch's size, for a worker deciding whether it has room for it."""
    return f"dlvs:{len(jobs)}:{_digest(jobs)}"


def mail_batch_job_id(jobs: Sequence[Job]) -> str:
    """As ``batch_job_id``, for mails. Mails take no webhook connection, so a worker's room
    does not count them (``job_size`` is 0)."""
    return f"mails:{_digest(jobs)}"


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
    own work when the receiver is fast. Mails likewise: one alone gets a ``send_mail`` job, more
    go as ``send_mails`` jobs of up to ``BATCH``."""
    pending = list(jobs)
    mails = [job for job in pending if job[0].startswith(MAIL_PREFIX)]
    if mails:
        pending = [job for job in pending if not job[0].startswith(MAIL_PREFIX)]
    chunks = [pending[i : i + BATCH] for i in range(0, len(pending), BATCH)]
    mail_chunks = [mails[i : i + BATCH] for i in range(0, len(mails), BATCH)]
    if not chunks and not mail_chunks:  # a mail alone (no endpoint took the event) is work too
        return
    try:
        await asyncio.gather(
            *(_enqueue_chunk(redis, chunk, defer_until) for chunk in chunks),
            *(_enqueue_mails(redis, chunk) for chunk in mail_chunks),
        )
        await redis.publish(WAKE_CHANNEL, b"")
    except Exception:  # the sweep will find the rows
        log.warning("enqueue failed; the sweep will pick the delivery up", exc_info=True)


async def _enqueue_mails(redis: Any, chunk: list[Job]) -> None:
    if len(chunk) == 1:
        [(mail_id, generation)] = chunk
        await redis.enqueue_job(
            MAIL_JOB, mail_id, generation, _job_id=mail_job_id(mail_id, generation)
        )
        return
    await redis.enqueue_job(MAIL_MANY_JOB, chunk, _job_id=mail_batch_job_id(chunk))


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
