"""The deliveries' records: what one attempt did, and the plan that writes it.

Each attempt ends in a write: its delivery's new state and its row in the delivery log. The
records of every attempt running in the process are joined (``gateway.store.joined``): one
transaction a batch, one statement per kind of row, on the driver (``gateway.store.raw``).
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.types import TypeEngine

from gateway.store.compose import Plan, Refs, Step, json_text
from gateway.store.db import Database
from gateway.store.joined import Joined
from gateway.store.models import (
    DeliveryAttempt,
    WebhookDelivery,
    table_of,
)
from gateway.store.raw import Construct, Raw, Statement
from gateway.store.types import UTCDateTime
from gateway.webhooks.endpoints import disable_endpoint

__all__ = ["POSTGRES_SETTINGS", "Claim", "Record", "Records", "records"]

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
    merchant_id: str
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
    signing: str = "hmac"
    signing_key_sealed: str | None = None
    previous_signing_key_sealed: str | None = None
    previous_signing_key_expires_at: datetime | None = None
    custom_headers: str | None = None  # the endpoint's column (``gateway.webhooks.headers``)
    # A throttled endpoint's: sent by then, or put back for a fresh slot (``webhooks.throttle``).
    send_by: datetime | None = None


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


_D = table_of(WebhookDelivery)
_A = table_of(DeliveryAttempt)


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


# What a record answers: the deliveries of a ``webhook.endpoint.disabled`` event, if it
# disabled its endpoint.
Records = Joined[Record, list[str]]


def _each_statement(records: Sequence[Record]) -> bool:
    """Only rows to write: each statement is atomic by itself, and on PostgreSQL needs no BEGIN
    and COMMIT around it (two more trips, each waiting for the event loop). Changing an
    endpoint takes a transaction."""
    return not any(r.changes_endpoint for r in records)


def records(db: Database) -> Records:
    """The process's records of deliveries, joined into as few transactions as the load allows."""
    return Joined(
        db,
        _write_records,
        each_statement=_each_statement,
        failure="the delivery's record failed; its lease lapses and it is tried again",
    )
