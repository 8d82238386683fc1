"""The deliveries' records: what one attempt did, and the plan that writes it.

Each attempt ends in a write: its delivery's new state, by the record every kind's rows share
(``store.queue``: ``QUEUE.holds`` and ``QUEUE.recorded``), and its row in the delivery log. The
records of every attempt running in the process are joined (``gateway.store.joined``) and
written together on the driver (``gateway.store.raw``): one statement for the batch on
PostgreSQL, one ``executemany`` a step on SQLite; in a transaction only when an endpoint's health
changes with them (``_each_statement``).
"""

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
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

from gateway.mail import alerts
from gateway.store.compose import Plan, Refs, Step
from gateway.store.delivery_queue import QUEUE
from gateway.store.engine import Database
from gateway.store.expressions import json_text
from gateway.store.joined import Joined
from gateway.store.models import (
    DeliveryAttempt,
    WebhookDelivery,
    table_of,
)
from gateway.store.queue import Tried
from gateway.store.raw import Construct, Raw, Statement
from gateway.store.types import UTCDateTime
from gateway.values.settings import Settings
from gateway.webhooks import health
from gateway.webhooks.endpoints import disable_endpoint
from keys import Sealer

from . import ordered

__all__ = ["POSTGRES_SETTINGS", "Claim", "Record", "Records", "records", "role_lacks"]

# The worker's PostgreSQL sessions (``Database.read``/``transaction``/``run``). Every statement
# here reads or writes a batch of rows by key, and must go on doing so whatever the planner
# believes of the tables. On a table without statistics (a burst on a fresh database) it
# believed a scan cheaper, kept that plan for the prepared statement, and went on scanning as
# the table grew (docs/performance.md, "Figures behind the code's choices").
# With scans (plain and bitmap) and hash and merge joins priced out, the one plan left is the
# intended one: the batch's ids, each looked up by its key. A scan still runs where no index
# serves.
POSTGRES_SETTINGS = {
    "enable_seqscan": "off",
    "enable_bitmapscan": "off",
    "enable_hashjoin": "off",
    "enable_mergejoin": "off",
}

# Behind a pooler in transaction mode (``Settings.behind_pooler``) the settings
# cannot ride in the startup message: PgBouncer refuses a parameter it does not track, and a
# server connection serves whichever client comes next. They are set on the workers' own role
# instead (``ALTER ROLE … SET``), which every server connection of that role starts with.


async def role_lacks(db: Database) -> list[str]:
    """The ``ALTER ROLE`` statements that would give this store's role the planner settings
    its sessions lack; none when they start with all of them (or have none: SQLite)."""
    found = await db.session_settings(list(POSTGRES_SETTINGS))
    if found is None:
        return []
    role, shown = found
    return [
        f'ALTER ROLE "{role}" SET {name} = {value};'
        for name, value in POSTGRES_SETTINGS.items()
        if shown.get(name) != value
    ]


@dataclass(slots=True)
class Claim:
    """A leased attempt and everything needed to send it. Made once a lease and never changed
    (``dataclasses.replace`` makes a changed copy): not frozen, since a frozen dataclass sets
    each of its 28 fields through ``object.__setattr__``, a call a field for every delivery."""

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
    retry_schedule: str = "standard"  # or "long" (``Settings.long_retry_delays``)
    ordered: bool = False  # its endpoint's deliveries go one at a time (``worker.ordered``)
    # Its endpoint's events a request, and the deliveries that go with this one, its batch's
    # head, in the same request (``worker.ordered.batch``): each a claim of its own.
    batch_size: int = 1
    batch: tuple["Claim", ...] = ()
    # Where it goes (``gateway.webhooks.destinations``): ``http`` POSTs to ``url``; a broker's
    # type publishes to the sealed destination object.
    destination_type: str = "http"
    destination_sealed: str | None = None

    def members(self) -> tuple["Claim", ...]:
        """The claims its request carries, oldest first: itself, then its batch's."""
        return (self, *self.batch)


@dataclass(slots=True)
class Record:
    """What one attempt did, and the delivery's state after it."""

    claim: Claim
    tried: Tried
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
        return self.tried is Tried.DONE

    def members(self) -> list["Record"]:
        """A record for each delivery its request carried: a batch's each come to what its head
        did. Only the head's disables the endpoint, once."""
        return [self] + [
            replace(self, claim=claim, disable_reason=None) for claim in self.claim.batch
        ]

    @property
    def plain(self) -> bool:
        """A delivery on its run's first try, to an unordered endpoint that is not failing:
        succeeded, its two rows are all its record writes (no health to change, nothing to
        tell, no next one to let go), and none of the checks below need be made."""
        c = self.claim
        return (
            self.tried is Tried.DONE
            and c.failing_since is None
            and not c.ordered
            and c.attempts == c.run_start
        )

    @property
    def changes_endpoint(self) -> bool:
        """Whether writing it changes its endpoint too: the failure clock starts or stops, or
        the endpoint is disabled."""
        return self.disable_reason is not None or self.succeeded == (
            self.claim.failing_since is not None
        )

    @property
    def exhausts(self) -> bool:
        """A message given up after the last attempt of its automatic run (a replay or a test
        ends as its sender sees it); ``delivery.exhausted`` unless it is operational itself."""
        return (
            self.tried is Tried.FAILED
            and self.claim.trigger == "auto"
            and self.claim.type not in health.OPERATIONAL
        )

    @property
    def failed_before(self) -> int:
        """The failed attempts of this run before this one: every earlier attempt of a run
        failed, or the run would have ended."""
        return self.claim.attempts - self.claim.run_start

    def recovers(self, after_failures: int) -> bool:
        """A message delivered after ``after_failures`` failed attempts of its run at least:
        ``delivery.recovered`` unless it is operational itself."""
        return (
            self.succeeded
            and self.failed_before >= after_failures
            and self.claim.type not in health.OPERATIONAL
        )

    def warns(self, warn_after_seconds: float) -> bool:
        """A failure of an endpoint failing for ``warn_after_seconds`` at least, which is not
        disabling it: its owners are warned, once a run (``health.warned``)."""
        since = self.claim.failing_since
        return (
            not self.succeeded
            and self.disable_reason is None
            and since is not None
            and (self.started - since).total_seconds() >= warn_after_seconds
        )

    def attempted(self) -> health.Attempted:
        return health.Attempted(
            endpoint_id=self.claim.endpoint_id,
            delivery_id=self.claim.delivery_id,
            started=self.started,
            response_status=self.response_status,
            error=self.error,
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
    """The delivery's new state, by the common record (``QUEUE.recorded``, only where
    ``QUEUE.holds``), and when this attempt started."""
    row = refs.row
    values = QUEUE.recorded(
        row("claimed"), status=row("status"), at=row("next_at"), now=row("finished")
    )
    return (
        update(_D)
        .where(*QUEUE.holds(row("id"), row("claimed")))
        .values(**values, last_attempt_at=row("started"))
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
        "status": QUEUE.status(r.tried),
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


@dataclass(frozen=True, slots=True)
class _Health:
    """What the records need to tell of an endpoint's health (``gateway.webhooks.health``)."""

    sealer: Sealer
    disable_after_seconds: int
    warn_after_seconds: float
    per_hour: int  # the merchant's operational events an hour
    recovered_after: int  # failed attempts before a success that ``delivery.recovered`` tells

    @classmethod
    def of(cls, settings: Settings, sealer: Sealer) -> "_Health":
        after = settings.webhook_disable_after_seconds
        share = after * settings.webhook_disable_warning_share
        return cls(
            sealer,
            after,
            share,
            settings.webhook_operational_events_per_hour,
            settings.webhook_recovered_after_failures,
        )

    def needs_transaction(self, r: Record) -> bool:
        return not r.plain and (
            ordered.finishes(r.claim.ordered, r.claim.trigger, r.tried)
            or r.changes_endpoint
            or r.exhausts
            or r.recovers(self.recovered_after)
            or r.warns(self.warn_after_seconds)
        )


async def _write_records(told: _Health, db: Raw, records: list[Record]) -> list[list[str]]:
    """Every record's delivery row and attempt row, in one statement on PostgreSQL and one
    ``executemany`` each on SQLite; then the rare changes of an endpoint's health (failure
    clock, warning, disabling, a message given up) one by one, in order, each with the
    operational events and mails it makes."""
    if not records:
        return []
    # A batch's records are written together: the one that finishes its head wakes the next
    # head only once every delivery of the batch has left the endpoint's pending ones.
    each = [(i, member) for i, r in enumerate(records) for member in r.members()]
    await RECORD.run_each(db, [_record_row(r) for _, r in each])
    for _, r in each:
        if r.claim.ordered and ordered.finishes(r.claim.ordered, r.claim.trigger, r.tried):
            c = r.claim
            generation = QUEUE.stamp_after(c.generation)
            await ordered.wake(db, c.endpoint_id, c.delivery_id, generation, r.finished)
    notified: list[list[str]] = [[] for _ in records]
    touched: set[tuple[str, bool]] = set()
    for i, r in each:
        if r.plain:
            continue
        notify = notified[i]
        if (r.claim.endpoint_id, r.succeeded) not in touched:
            touched.add((r.claim.endpoint_id, r.succeeded))
            notify += await _touch_endpoint(told, db, r)
        alert: health.Alert | None = None
        if r.disable_reason is not None:
            trigger = "gone" if r.response_status == 410 else "failing"
            told_of, alert = await disable_endpoint(
                db,
                r.claim.endpoint_id,
                r.disable_reason,
                r.finished,
                trigger=trigger,
                per_hour=told.per_hour,
            )
            notify += told_of
        elif r.warns(told.warn_after_seconds):
            alert = await health.warned(
                db, r.claim.endpoint_id, told.disable_after_seconds, r.finished
            )
        if alert is not None:
            notify += await alerts.mail_owners(db, told.sealer, alert, r.finished)
        # After the disable, which gave the message up: endpoint.disabled, then
        # delivery.exhausted, their ids in that order (docs/webhooks.md).
        if r.exhausts and await db.fetchrow(_GAVE_UP, _wrote(r)) is not None:
            told_how: dict[str, Any] = {
                "env": r.claim.env,
                "merchant_id": r.claim.merchant_id,
                "event_id": r.claim.event_id,
                "event_type": r.claim.type,
                "attempts": r.claim.attempts + 1,
                "now": r.finished,
                "per_hour": told.per_hour,
            }
            notify += await health.exhausted(db, r.attempted(), **told_how)
            if r.claim.ordered:
                # The gap in an ordered endpoint's order: the next one has just been let go.
                notify += await health.skipped(db, r.attempted(), **told_how)
        if (
            r.recovers(told.recovered_after)
            and await db.fetchrow(_SUCCEEDED, _wrote(r)) is not None
        ):
            notify += await health.delivery_recovered(
                db,
                r.attempted(),
                env=r.claim.env,
                merchant_id=r.claim.merchant_id,
                event_id=r.claim.event_id,
                event_type=r.claim.type,
                failed_attempts=r.failed_before,
                per_hour=told.per_hour,
            )
    return notified


# The record that gave its delivery up is the one that wrote its state: a holder whose lease
# lapsed and was taken again wrote none (``_recorded``), and tells of nothing.
_GAVE_UP = Statement(
    """SELECT id FROM webhook_deliveries
    WHERE id = :id AND generation = :generation AND status = 'failed'""",
    ("id",),
)


# Likewise the record that delivered it: a lapsed holder's success wrote nothing, and the taker's
# own record tells of it.
_SUCCEEDED = Statement(
    """SELECT id FROM webhook_deliveries
    WHERE id = :id AND generation = :generation AND status = 'succeeded'""",
    ("id",),
)


def _wrote(r: Record) -> dict[str, Any]:
    """The delivery's key as this record left it, had its write taken effect."""
    return {"id": r.claim.delivery_id, "generation": QUEUE.stamp_after(r.claim.generation)}


async def _touch_endpoint(told: _Health, db: Raw, r: Record) -> list[str]:
    """Start or clear the endpoint's failure clock, with ``endpoint.failing`` (unless this very
    failure disables it, or is of an operational event: one is never caused by another's
    failure) or ``endpoint.recovered``; nothing when it already says so."""
    failing_since = r.claim.failing_since
    if r.succeeded and failing_since is not None:
        return await health.recovered(
            db, r.claim.endpoint_id, failing_since, r.finished, told.per_hour
        )
    if not r.succeeded and failing_since is None:
        tell = r.disable_reason is None and r.claim.type not in health.OPERATIONAL
        return await health.started_failing(
            db, r.attempted(), told.disable_after_seconds, told.per_hour, tell=tell
        )
    return []


# What a record answers: the deliveries and mails its endpoint's health made, if any.
Records = Joined[Record, list[str]]


def _each_statement(told: _Health, records: Sequence[Record]) -> bool:
    """Only rows to write: each statement is atomic by itself, and on PostgreSQL needs no BEGIN
    and COMMIT around it (two more trips, each waiting for the event loop). A change of an
    endpoint's health takes a transaction."""
    return not any(told.needs_transaction(m) for r in records for m in r.members())


def records(db: Database, settings: Settings, sealer: Sealer) -> Records:
    """The process's records of deliveries, joined into as few transactions as the load allows."""
    told = _Health.of(settings, sealer)
    return Joined(
        db,
        functools.partial(_write_records, told),
        each_statement=functools.partial(_each_statement, told),
        failure="the delivery's record failed; its lease lapses and it is tried again",
    )
