"""The worker's database work, shared by every attempt running in the process.

Each attempt needs two writes: its claim before sending and its record after. Run one by one,
they queue on the store (SQLite has one writer connection; every transaction is a few driver
trips and a commit), and the worker spends its time waiting rather than sending. Here they are
grouped: while one transaction runs, the claims and records that arrive meanwhile wait, and the
next transaction carries them all (records first, then claims), with one statement per kind, on
the driver (``gateway.store.raw``), and on SQLite in one trip to the connection's thread. An idle
worker still runs each attempt's step at once; a busy one pays one transaction per batch instead
of two per attempt.
"""

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Text,
    and_,
    case,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.types import TypeEngine

from gateway.store.compose import Plan, Refs, Step, json_text, one_of, param
from gateway.store.db import Database
from gateway.store.models import (
    DeliveryAttempt,
    Event,
    WebhookDelivery,
    WebhookEndpoint,
    table_of,
)
from gateway.store.raw import Construct, Raw, Statement
from gateway.store.types import UTCDateTime
from gateway.values.clock import utcnow
from gateway.webhooks.endpoints import disable_endpoint

__all__ = ["DISABLED", "POSTGRES_SETTINGS", "Claim", "Record", "Store"]

log = logging.getLogger(__name__)

# A deferred job may wake a hair before its row says it is due.
DUE_SLACK = timedelta(milliseconds=50)
# Bounds one transaction's statements (and SQLite's bound-parameter count).
MAX_BATCH = 500

DISABLED = "endpoint_disabled"

# The worker's PostgreSQL sessions (``Database.connect``/``run``). Every statement here reads or
# writes a batch of rows by key, and must go on doing so whatever the planner believes of the
# tables. On a table without statistics (a burst on a fresh database) it believed a scan
# cheaper, kept that plan for the prepared statement, and went on scanning as the table grew
# (docs/performance.md, "Figures behind the code's choices").
# With scans (plain and bitmap) and hash and merge joins priced out, the one plan left is the
# intended one: the batch's ids, each looked up by its key. A scan still runs where no index
# serves.
POSTGRES_SETTINGS = {
    "enable_seqscan": "off",
    "enable_bitmapscan": "off",
    "enable_hashjoin": "off",
    "enable_mergejoin": "off",
}


@dataclass(slots=True, frozen=True)
class Claim:
    """A leased attempt and everything needed to send it."""

    delivery_id: str
    event_id: str
    endpoint_id: str
    env: str
    attempts: int
    trigger: str
    run_start: int
    generation: int
    payload: str
    type: str
    url: str
    secret_sealed: str
    previous_secret_sealed: str | None
    previous_secret_expires_at: datetime | None
    failing_since: datetime | None


@dataclass(slots=True)
class Record:
    """What one attempt did, and the delivery's state after it."""

    claim: Claim
    status: str
    next_at: datetime | None
    started: datetime
    finished: datetime
    duration_ms: int
    request_headers: dict[str, str]
    response_status: int | None
    response_headers: dict[str, str] | None
    response_body: str | None
    error: str | None
    disable_reason: str | None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def changes_endpoint(self) -> bool:
        """Whether writing it changes its endpoint too: the failure clock starts or stops, or
        the endpoint is disabled."""
        return self.disable_reason is not None or self.succeeded == (
            self.claim.failing_since is not None
        )


ClaimResult = Claim | str | None  # a claim, DISABLED, or None when nothing was due
_Waiter = asyncio.Future[Any]


class Store:
    """Claims and records, grouped into as few transactions as the load allows.

    On SQLite one runner carries both in each transaction (one writer, one trip). On PostgreSQL
    claims and records run on their own, each queue batched by a runner of its own: an attempt
    waiting for its claim does not also wait for the records written meanwhile."""

    def __init__(self, db: Database, *, lease_seconds: float) -> None:
        self._db = db
        self._lease = timedelta(seconds=lease_seconds)
        self._claims: list[tuple[str, _Waiter]] = []
        self._records: list[tuple[Record, _Waiter]] = []
        self._runners: dict[str, asyncio.Task[None]] = {}

    async def drain(self) -> None:
        """Let the batches in hand finish (their jobs may be gone, their rows are not) before
        the engine is disposed under them."""
        await asyncio.gather(*self._runners.values(), return_exceptions=True)

    async def claim(self, delivery_id: str) -> ClaimResult:
        result: ClaimResult = await self._submit("claims", self._claims, delivery_id)
        return result

    async def record(self, record: Record) -> list[str]:
        """The deliveries of a ``webhook.endpoint.disabled`` event, if this record disabled one."""
        notify: list[str] = await self._submit("records", self._records, record)
        return notify

    async def _submit(self, kind: str, queue: list[tuple[Any, _Waiter]], item: Any) -> Any:
        waiter: _Waiter = asyncio.get_running_loop().create_future()
        queue.append((item, waiter))
        lane = "both" if self._db.single_writer else kind
        runner = self._runners.get(lane)
        if runner is None or runner.done():
            self._runners[lane] = asyncio.create_task(self._run(lane))
        # A cancelled job cancels only its own waiter: the batch runs in its own task and
        # finishes, and answers only the waiters still waiting.
        return await waiter

    async def _run(self, lane: str) -> None:
        take_records, take_claims = lane != "claims", lane != "records"
        while (take_claims and self._claims) or (take_records and self._records):
            records: list[tuple[Record, _Waiter]] = []
            if take_records:
                records, self._records = self._records[:MAX_BATCH], self._records[MAX_BATCH:]
            claims: list[tuple[str, _Waiter]] = []
            if take_claims:
                room = MAX_BATCH - len(records)
                claims, self._claims = self._claims[:room], self._claims[room:]
            try:
                await self._step(records, claims)
            except Exception:
                if len(records) + len(claims) == 1:
                    _fail([*records, *claims])
                    continue
                # One bad row must not fail its neighbours: retry each on its own.
                log.warning("batched delivery step failed; retrying one by one", exc_info=True)
                for record in records:
                    await self._alone([record], [])
                for claim in claims:
                    await self._alone([], [claim])

    async def _alone(
        self, records: list[tuple[Record, _Waiter]], claims: list[tuple[str, _Waiter]]
    ) -> None:
        try:
            await self._step(records, claims)
        except Exception:
            _fail([*records, *claims])

    async def _step(
        self, records: list[tuple[Record, _Waiter]], claims: list[tuple[str, _Waiter]]
    ) -> None:
        async def write(tx: Raw) -> tuple[list[list[str]], dict[str, ClaimResult]]:
            notified = await _write_records(tx, [r for r, _ in records])
            claimed = await _claim_many(tx, [c for c, _ in claims], utcnow(), self._lease)
            return notified, claimed

        # Only rows to write: each statement is atomic by itself, and on PostgreSQL needs no
        # BEGIN and COMMIT around it (two more trips, each waiting for the event loop).
        # Changing an endpoint takes a transaction.
        each = not any(r.changes_endpoint for r, _ in records)
        notified, claimed = await self._db.run(write, each_statement=each)
        for (_, waiter), notify in zip(records, notified, strict=True):
            _settle(waiter, notify)
        for delivery_id, waiter in claims:
            _settle(waiter, claimed.get(delivery_id))


def _settle(waiter: _Waiter, value: Any) -> None:
    if not waiter.done():
        waiter.set_result(value)


def _fail(pairs: Sequence[tuple[Any, _Waiter]]) -> None:
    exc = RuntimeError("the delivery step failed; the job will be retried")
    for _, waiter in pairs:
        if not waiter.done():
            waiter.set_exception(exc)


_D = table_of(WebhookDelivery)
_E = table_of(Event)
_EP = table_of(WebhookEndpoint)
_A = table_of(DeliveryAttempt)


def _leased(refs: Refs) -> Construct:
    """The due, pending deliveries among ``:ids``, leased: ``next_attempt_at`` moves to the
    lease's end and the generation is bumped, so a second worker finds nothing due and a job
    still queued for the old state is a no-op.

    Each id is looked up by its key (``one_of``, and on PostgreSQL ``POSTGRES_SETTINGS``). The
    due test is a ``CASE``, which no index answers and which PostgreSQL's planner counts as
    true of half the rows: as a plain condition it was answered from the index of due
    deliveries (on a table not yet analysed: the whole backlog read to lease 30 rows, on both
    stores), and as ``(…) IS TRUE`` counted as true of almost none, which made scanning the
    table for it, then matching the ids, look cheaper than looking the ids up."""
    due = and_(_D.c.status == "pending", _D.c.next_attempt_at <= param("due", UTCDateTime()))
    return (
        update(_D)
        .where(one_of(_D.c.id, "ids"), case((due, true())))
        .values(
            generation=_D.c.generation + 1,
            next_attempt_at=param("lease_until", UTCDateTime()),
            updated_at=param("now", UTCDateTime()),
        )
        .returning(
            _D.c.id,
            _D.c.event_id,
            _D.c.endpoint_id,
            _D.c.env,
            _D.c.attempts,
            _D.c.trigger,
            _D.c.run_start,
            _D.c.generation,
        )
    )


def _targets(refs: Refs) -> Construct:
    """What sending each leased delivery needs: its event's body and its endpoint."""
    return (
        select(
            _D.c.id,
            _E.c.payload,
            _E.c.type,
            _EP.c.url,
            _EP.c.enabled,
            _EP.c.deleted_at,
            _EP.c.secret_sealed,
            _EP.c.previous_secret_sealed,
            _EP.c.previous_secret_expires_at,
            _EP.c.failing_since,
        )
        .select_from(_D.join(_E, _E.c.id == _D.c.event_id).join(_EP, _EP.c.id == _D.c.endpoint_id))
        .where(refs.among(_D.c.id, "leased", "id"))
    )


LEASE = Plan([Step("leased", _leased, many=True), Step("targets", _targets, many=True)])
_GONE = Statement.of(
    update(_D)
    .where(one_of(_D.c.id, "ids"))
    .values(status="failed", next_attempt_at=None, updated_at=param("now", UTCDateTime()))
)


async def _lease(db: Raw, ids: list[str], now: datetime, lease: timedelta) -> list[dict[str, Any]]:
    """The leased rows, each with what sending it needs."""
    params = {"ids": ids, "lease_until": now + lease, "now": now, "due": now + DUE_SLACK}
    applied = await LEASE.run(db, params)
    assert applied is not None
    found = {row["id"]: row for row in applied.all("targets")}
    return [{**row, **found[row["id"]]} for row in applied.all("leased")]


async def _claim_many(
    db: Raw, ids: list[str], now: datetime, lease: timedelta
) -> dict[str, ClaimResult]:
    """Lease every due attempt among ``ids`` with one conditional UPDATE: a row another worker
    leased first, or that is no longer due, is simply not returned."""
    if not ids:
        return {}
    out: dict[str, ClaimResult] = {}
    gone: list[str] = []
    for row in await _lease(db, ids, now, lease):
        if not row["enabled"] or row["deleted_at"] is not None:
            # Re-checked here, not when queued: the merchant may have disabled it meanwhile.
            gone.append(row["id"])
            out[row["id"]] = DISABLED
            continue
        out[row["id"]] = Claim(
            delivery_id=row["id"],
            event_id=row["event_id"],
            endpoint_id=row["endpoint_id"],
            env=row["env"],
            attempts=row["attempts"],
            trigger=row["trigger"],
            run_start=row["run_start"],
            generation=row["generation"],
            payload=row["payload"],
            type=row["type"],
            url=row["url"],
            secret_sealed=row["secret_sealed"],
            previous_secret_sealed=row["previous_secret_sealed"],
            previous_secret_expires_at=db.timestamp(row["previous_secret_expires_at"]),
            failing_since=db.timestamp(row["failing_since"]),
        )
    if gone:
        await db.fetch(_GONE, {"ids": gone, "now": now})
    return out


# One encoder for every record: ``json.dumps`` with any option builds a new one each call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _json(value: dict[str, str] | None) -> str | None:
    return None if value is None else _ENCODER.encode(value)


# The columns of one record (``_record_row``); a batch runs ``RECORD`` once per record.
_RECORD_ROW: dict[str, TypeEngine[Any]] = {
    "id": String(),
    "claimed": Integer(),
    "status": String(),
    "attempt": Integer(),
    "next_at": UTCDateTime(),
    "started": UTCDateTime(),
    "finished": UTCDateTime(),
    "trigger": String(),
    "duration_ms": Integer(),
    "url": Text(),
    "request_headers": Text(),
    "request_body": Text(),
    "response_status": Integer(),
    "response_headers": Text(),
    "response_body": Text(),
    "error": Text(),
}


def _recorded(refs: Refs) -> Construct:
    """The delivery's new state, only while it is still at the generation it was claimed at: a
    lease that expired and was taken again is not overwritten by its first holder."""
    row = refs.row
    return (
        update(_D)
        .where(_D.c.id == row("id"), _D.c.generation == row("claimed"))
        .values(
            status=row("status"),
            attempts=row("attempt"),
            generation=row("claimed") + 1,
            next_attempt_at=row("next_at"),
            last_attempt_at=row("started"),
            updated_at=row("finished"),
        )
    )


def _attempt(refs: Refs) -> Construct:
    """Every attempt is a row of the delivery log, whatever became of the delivery."""
    row = refs.row
    values: dict[str, ColumnElement[Any]] = {
        "delivery_id": row("id"),
        "attempt": row("attempt"),
        "trigger": row("trigger"),
        "started_at": row("started"),
        "duration_ms": row("duration_ms"),
        "url": row("url"),
        "request_headers": json_text(row("request_headers")),
        "request_body": row("request_body"),
        "response_status": row("response_status"),
        "response_headers": json_text(row("response_headers")),
        "response_body": row("response_body"),
        "error": row("error"),
    }
    # A column and its value stand together, so none can slip out of line.
    return insert(_A).from_select(list(values), select(*values.values()))


RECORD = Plan([Step("recorded", _recorded), Step("attempt", _attempt)], each_row=_RECORD_ROW)


def _record_row(r: Record) -> dict[str, Any]:
    return {
        "id": r.claim.delivery_id,
        "claimed": r.claim.generation,
        "status": r.status,
        "attempt": r.claim.attempts + 1,
        "next_at": r.next_at,
        "started": r.started,
        "finished": r.finished,
        "trigger": r.claim.trigger,
        "duration_ms": r.duration_ms,
        "url": r.claim.url,
        "request_headers": _json(r.request_headers),
        "request_body": r.claim.payload,
        "response_status": r.response_status,
        "response_headers": _json(r.response_headers),
        "response_body": r.response_body,
        "error": r.error,
    }


async def _write_records(db: Raw, records: list[Record]) -> list[list[str]]:
    """Every record's delivery row and attempt row, in one statement on PostgreSQL and one
    ``executemany`` each on SQLite; then the rare endpoint changes (failure clock, disabling)
    one by one, in order."""
    if not records:
        return []
    await RECORD.run_each(db, [_record_row(r) for r in records])
    notified: list[list[str]] = []
    touched: set[tuple[str, bool]] = set()
    for r in records:
        if (r.claim.endpoint_id, r.succeeded) not in touched:
            touched.add((r.claim.endpoint_id, r.succeeded))
            await _touch_endpoint(db, r)
        notify: list[str] = []
        if r.disable_reason is not None:
            notify = await disable_endpoint(db, r.claim.endpoint_id, r.disable_reason, r.finished)
        notified.append(notify)
    return notified


_CLEAR_FAILING = Statement("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = :id")
_START_FAILING = Statement(
    """UPDATE webhook_endpoints SET failing_since = :since
    WHERE id = :id AND failing_since IS NULL"""
)


async def _touch_endpoint(db: Raw, r: Record) -> None:
    """Start or clear the endpoint's failure clock; nothing when it already says so."""
    endpoint_id, failing_since = r.claim.endpoint_id, r.claim.failing_since
    if r.succeeded and failing_since is not None:
        await db.fetch(_CLEAR_FAILING, {"id": endpoint_id})
    elif not r.succeeded and failing_since is None:
        await db.fetch(_START_FAILING, {"id": endpoint_id, "since": r.started})
