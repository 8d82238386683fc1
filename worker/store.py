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
import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.clock import utcnow
from gateway.store.db import Database
from gateway.store.raw import Raw, Statement
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
# cheaper, kept that plan for the prepared statement, and went on scanning as the table grew:
# a lease of 50 rows read 2,300 rows 50 times over, and the database's CPU a delivery tripled.
# With scans and hash and merge joins priced out, the one plan left is the intended one: the
# batch's ids, each looked up by its key. A scan still runs where no index serves.
POSTGRES_SETTINGS = {"enable_seqscan": "off", "enable_hashjoin": "off", "enable_mergejoin": "off"}


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
        lane = "both" if self._db.is_sqlite else kind
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


# Each id is looked up by its key: the unary ``+`` keeps SQLite's planner from answering the due
# test from the index of due deliveries instead, which, without statistics, it did, reading the
# whole backlog to lease a batch (``_LEASE_WITH_TARGETS_PG`` below does the same there).
_LEASE = Statement(
    """UPDATE webhook_deliveries
    SET generation = generation + 1, next_attempt_at = :lease_until, updated_at = :now
    WHERE id IN ({ids}) AND +status = 'pending' AND +next_attempt_at <= :due
    RETURNING id, event_id, endpoint_id, env, attempts, trigger, run_start, generation""",
    ("id", "event_id", "endpoint_id", "env", "attempts", "trigger", "run_start", "generation"),
)
_TARGETS = Statement(
    """SELECT d.id, e.payload, e.type, ep.url, ep.enabled, ep.deleted_at, ep.secret_sealed,
        ep.previous_secret_sealed, ep.previous_secret_expires_at, ep.failing_since
    FROM webhook_deliveries d
    JOIN events e ON e.id = d.event_id
    JOIN webhook_endpoints ep ON ep.id = d.endpoint_id
    WHERE d.id IN ({ids})""",
    (
        "id",
        "payload",
        "type",
        "url",
        "enabled",
        "deleted_at",
        "secret_sealed",
        "previous_secret_sealed",
        "previous_secret_expires_at",
        "failing_since",
    ),
)
_GONE = Statement(
    """UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, updated_at = :now
    WHERE id IN ({ids})"""
)


def _in(
    db: Raw, statement: Statement, ids: list[str], params: dict[str, Any]
) -> tuple[Statement, dict[str, Any]]:
    """``statement`` with its ``IN ({ids})`` bound to ``ids``: one array parameter on
    PostgreSQL (one prepared statement whatever the count), one placeholder per id on SQLite."""
    if not db.is_sqlite:
        return _any(statement), {**params, "ids": ids}
    names = [f"id{i}" for i in range(len(ids))]
    sql = statement.sql.replace("{ids}", ", ".join(f":{n}" for n in names))
    return Statement(sql, statement.columns), {**params, **dict(zip(names, ids, strict=True))}


@functools.cache
def _any(statement: Statement) -> Statement:
    return Statement(statement.sql.replace("IN ({ids})", "= ANY(:ids)"), statement.columns)


# Each id is looked up by its key (``POSTGRES_SETTINGS``). The due test is a ``CASE``, which no
# index answers and which the planner counts as true of half the rows: as a plain condition it
# was answered from the index of due deliveries (on a table not yet analysed: the whole backlog
# read to lease 30 rows), and as ``(…) IS TRUE`` counted as true of almost none, which made
# scanning the table for it, then matching the ids, look cheaper than looking the ids up.
_LEASE_WITH_TARGETS_PG = Statement(
    """WITH leased AS (
        UPDATE webhook_deliveries AS d
        SET generation = d.generation + 1, next_attempt_at = :lease_until, updated_at = :now
        FROM unnest(:ids::text[]) AS wanted(id)
        WHERE d.id = wanted.id
            AND CASE WHEN d.status = 'pending' AND d.next_attempt_at <= :due THEN true END
        RETURNING d.id, d.event_id, d.endpoint_id, d.env, d.attempts, d.trigger, d.run_start,
            d.generation)
    SELECT l.id, l.event_id, l.endpoint_id, l.env, l.attempts, l.trigger, l.run_start,
        l.generation, e.payload, e.type, ep.url, ep.enabled, ep.deleted_at, ep.secret_sealed,
        ep.previous_secret_sealed, ep.previous_secret_expires_at, ep.failing_since
    FROM leased l
    JOIN events e ON e.id = l.event_id
    JOIN webhook_endpoints ep ON ep.id = l.endpoint_id"""
)


async def _lease(db: Raw, ids: list[str], now: datetime, lease: timedelta) -> list[dict[str, Any]]:
    """The leased rows, each with what sending it needs: on PostgreSQL one statement (one trip),
    on SQLite, which has no UPDATE inside a WITH, the lease and then the lookup."""
    params = {"lease_until": now + lease, "now": now, "due": now + DUE_SLACK}
    if not db.is_sqlite:
        return await db.fetch(_LEASE_WITH_TARGETS_PG, {**params, "ids": ids})
    leased = await db.fetch(*_in(db, _LEASE, ids, params))
    if not leased:
        return []
    targets = await db.fetch(*_in(db, _TARGETS, [row["id"] for row in leased], {}))
    found = {row["id"]: row for row in targets}
    return [{**row, **found[row["id"]]} for row in leased]


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
        await db.fetch(*_in(db, _GONE, gone, {"now": now}))
    return out


# A record's parameters (``_record_row``) serve every statement below: these two run over rows
# on SQLite, ``_RECORD_PG`` over their columns on PostgreSQL.
_RECORD_DELIVERY = Statement(
    """UPDATE webhook_deliveries
    SET status = :status, attempts = :attempt, generation = :claimed + 1,
        next_attempt_at = :next_at, last_attempt_at = :started, updated_at = :finished
    WHERE id = :id AND generation = :claimed"""
)
_INSERT_ATTEMPT = Statement(
    """INSERT INTO webhook_attempts (delivery_id, attempt, trigger, started_at, duration_ms, url,
        request_headers, request_body, response_status, response_headers, response_body, error)
    VALUES (:id, :attempt, :trigger, :started, :duration_ms, :url, :request_headers,
        :request_body, :response_status, :response_headers, :response_body, :error)"""
)


# One encoder for every record: ``json.dumps`` with any option builds a new one each call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _json(value: dict[str, str] | None) -> str | None:
    return None if value is None else _ENCODER.encode(value)


# PostgreSQL runs each parameter set of an ``executemany`` as a statement of its own; one
# statement over arrays writes a batch's delivery rows and attempt rows in one execution (one
# trip, atomic by itself), at a fraction of the server's CPU.
_RECORD_PG = Statement(
    """WITH v AS (
        SELECT * FROM unnest(:id::text[], :claimed::int[], :status::text[], :attempt::int[],
            :next_at::timestamptz[], :started::timestamptz[], :finished::timestamptz[],
            :trigger::text[], :duration_ms::int[], :url::text[], :request_headers::text[],
            :request_body::text[], :response_status::int[], :response_headers::text[],
            :response_body::text[], :error::text[])
        AS v(id, claimed, status, attempt, next_at, started, finished, trigger, duration_ms,
            url, request_headers, request_body, response_status, response_headers,
            response_body, error)),
    recorded AS (
        UPDATE webhook_deliveries AS d
        SET status = v.status, attempts = v.attempt, generation = v.claimed + 1,
            next_attempt_at = v.next_at, last_attempt_at = v.started, updated_at = v.finished
        FROM v WHERE d.id = v.id AND d.generation = v.claimed)
    INSERT INTO webhook_attempts (delivery_id, attempt, trigger, started_at, duration_ms, url,
        request_headers, request_body, response_status, response_headers, response_body, error)
    SELECT id, attempt, trigger, started, duration_ms, url, request_headers::json, request_body,
        response_status, response_headers::json, response_body, error
    FROM v"""
)


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
    rows = [_record_row(r) for r in records]
    if db.is_sqlite:
        await db.executemany_each([_RECORD_DELIVERY, _INSERT_ATTEMPT], rows)
    else:
        await db.fetch(_RECORD_PG, {name: [row[name] for row in rows] for name in rows[0]})
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
