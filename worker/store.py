"""The worker's database work, shared by every attempt running in the process.

Each attempt needs two writes: its claim before sending and its record after. Run one by one,
they queue on the store (SQLite has one writer connection; every transaction is a few driver
trips and a commit), and the worker spends its time waiting rather than sending. Here they are
grouped: while one transaction runs, the claims and records that arrive meanwhile wait, and the
next transaction carries them all (records first, then claims), with one multi-row statement per
kind. An idle worker still runs each attempt's step at once; a busy one pays one transaction per
batch instead of two per attempt.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.clock import utcnow
from gateway.store.db import Database
from gateway.store.models import (
    DeliveryAttempt,
    Event,
    WebhookDelivery,
    WebhookEndpoint,
    table_of,
)
from gateway.webhooks.endpoints import disable_endpoint

__all__ = ["DISABLED", "Claim", "Record", "Store"]

log = logging.getLogger(__name__)

_D = table_of(WebhookDelivery)
_E = table_of(Event)
_EP = table_of(WebhookEndpoint)
_A = table_of(DeliveryAttempt)

# A deferred job may wake a hair before its row says it is due.
DUE_SLACK = timedelta(milliseconds=50)
# Bounds one transaction's statements (and SQLite's bound-parameter count).
MAX_BATCH = 500

DISABLED = "endpoint_disabled"


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


ClaimResult = Claim | str | None  # a claim, DISABLED, or None when nothing was due
_Waiter = asyncio.Future[Any]


class Store:
    """Claims and records, grouped into as few transactions as the load allows."""

    def __init__(self, db: Database, *, lease_seconds: float) -> None:
        self._db = db
        self._lease = timedelta(seconds=lease_seconds)
        self._claims: list[tuple[str, _Waiter]] = []
        self._records: list[tuple[Record, _Waiter]] = []
        self._runner: asyncio.Task[None] | None = None

    async def drain(self) -> None:
        """Let the batch in hand finish (its jobs may be gone, its rows are not) before the
        engine is disposed under it."""
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)

    async def claim(self, delivery_id: str) -> ClaimResult:
        result: ClaimResult = await self._submit(self._claims, delivery_id)
        return result

    async def record(self, record: Record) -> list[str]:
        """The deliveries of a ``webhook.endpoint.disabled`` event, if this record disabled one."""
        notify: list[str] = await self._submit(self._records, record)
        return notify

    async def _submit(self, queue: list[tuple[Any, _Waiter]], item: Any) -> Any:
        waiter: _Waiter = asyncio.get_running_loop().create_future()
        queue.append((item, waiter))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        # Shielded: a cancelled job must not leave its batch half-answered; the batch finishes.
        return await asyncio.shield(waiter)

    async def _run(self) -> None:
        while self._claims or self._records:
            records, self._records = self._records[:MAX_BATCH], self._records[MAX_BATCH:]
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
        async with self._db.begin() as conn:
            notified = await _write_records(conn, [r for r, _ in records])
            claimed = await _claim_many(conn, [c for c, _ in claims], utcnow(), self._lease)
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


async def _claim_many(
    conn: AsyncConnection, ids: list[str], now: datetime, lease: timedelta
) -> dict[str, ClaimResult]:
    """Lease every due attempt among ``ids`` with one conditional UPDATE: a row another worker
    leased first, or that is no longer due, is simply not returned."""
    if not ids:
        return {}
    leased = (
        await conn.execute(
            update(_D)
            .where(
                _D.c.id.in_(ids),
                _D.c.status == "pending",
                _D.c.next_attempt_at <= now + DUE_SLACK,
            )
            .values(
                generation=_D.c.generation + 1,
                next_attempt_at=now + lease,
                updated_at=now,
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
    ).all()
    if not leased:
        return {}
    found = {
        row.id: row
        for row in await conn.execute(
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
            .select_from(
                _D.join(_E, _E.c.id == _D.c.event_id).join(_EP, _EP.c.id == _D.c.endpoint_id)
            )
            .where(_D.c.id.in_([row.id for row in leased]))
        )
    }
    out: dict[str, ClaimResult] = {}
    gone: list[str] = []
    for row in leased:
        extra = found[row.id]
        if not extra.enabled or extra.deleted_at is not None:
            # Re-checked here, not when queued: the merchant may have disabled it meanwhile.
            gone.append(row.id)
            out[row.id] = DISABLED
            continue
        out[row.id] = Claim(
            delivery_id=row.id,
            event_id=row.event_id,
            endpoint_id=row.endpoint_id,
            env=row.env,
            attempts=row.attempts,
            trigger=row.trigger,
            run_start=row.run_start,
            generation=row.generation,
            payload=extra.payload,
            type=extra.type,
            url=extra.url,
            secret_sealed=extra.secret_sealed,
            previous_secret_sealed=extra.previous_secret_sealed,
            previous_secret_expires_at=extra.previous_secret_expires_at,
            failing_since=extra.failing_since,
        )
    if gone:
        await conn.execute(
            update(_D)
            .where(_D.c.id.in_(gone))
            .values(status="failed", next_attempt_at=None, updated_at=now)
        )
    return out


_RECORD_DELIVERY = (
    update(_D)
    .where(_D.c.id == bindparam("b_id"), _D.c.generation == bindparam("b_claimed"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        generation=bindparam("b_generation"),
        next_attempt_at=bindparam("b_next_at"),
        last_attempt_at=bindparam("b_started"),
        updated_at=bindparam("b_finished"),
    )
)


async def _write_records(conn: AsyncConnection, records: list[Record]) -> list[list[str]]:
    """Every record's delivery row and attempt row, two statements for the lot; the rare
    endpoint changes (failure clock, disabling) one by one, in order."""
    if not records:
        return []
    await conn.execute(
        _RECORD_DELIVERY,
        [
            {
                "b_id": r.claim.delivery_id,
                "b_claimed": r.claim.generation,
                "b_status": r.status,
                "b_attempts": r.claim.attempts + 1,
                "b_generation": r.claim.generation + 1,
                "b_next_at": r.next_at,
                "b_started": r.started,
                "b_finished": r.finished,
            }
            for r in records
        ],
    )
    await conn.execute(
        insert(_A),
        [
            {
                "delivery_id": r.claim.delivery_id,
                "attempt": r.claim.attempts + 1,
                "trigger": r.claim.trigger,
                "started_at": r.started,
                "duration_ms": r.duration_ms,
                "url": r.claim.url,
                "request_headers": r.request_headers,
                "request_body": r.claim.payload,
                "response_status": r.response_status,
                "response_headers": r.response_headers,
                "response_body": r.response_body,
                "error": r.error,
            }
            for r in records
        ],
    )
    notified: list[list[str]] = []
    touched: set[tuple[str, bool]] = set()
    for r in records:
        if (r.claim.endpoint_id, r.succeeded) not in touched:
            touched.add((r.claim.endpoint_id, r.succeeded))
            await _touch_endpoint(conn, r)
        notify: list[str] = []
        if r.disable_reason is not None:
            notify = await disable_endpoint(conn, r.claim.endpoint_id, r.disable_reason, r.finished)
        notified.append(notify)
    return notified


async def _touch_endpoint(conn: AsyncConnection, r: Record) -> None:
    """Start or clear the endpoint's failure clock; nothing when it already says so."""
    endpoint_id, failing_since = r.claim.endpoint_id, r.claim.failing_since
    if r.succeeded and failing_since is not None:
        await conn.execute(update(_EP).where(_EP.c.id == endpoint_id).values(failing_since=None))
    elif not r.succeeded and failing_since is None:
        await conn.execute(
            update(_EP)
            .where(_EP.c.id == endpoint_id, _EP.c.failing_since.is_(None))
            .values(failing_since=r.started)
        )
