"""An endpoint's health as its merchant hears of it: the failure clock, and what each change of
it writes in the same transaction: an operational event to the merchant's other endpoints
(``endpoint.failing``, ``endpoint.recovered``, ``endpoint.disabled``, ``delivery.exhausted``,
``delivery.recovered``)
and the alerts its owners are mailed (a warning before the disable, and the disable:
``mail.alerts`` writes them in the same transaction).

Each change is a conditional write, so two workers recording the same change write its event
and its mails once. An operational event never goes to the endpoint it is about (it may be the
one failing), and is never caused by another's failure: a delivery of an operational event that
fails makes no ``endpoint.failing`` and, given up, no ``delivery.exhausted``; two failing
endpoints would otherwise tell each other of each other's failures without end.

Every other endpoint of the merchant hears of each event, so a failing merchant's events would
grow with the square of its endpoints. Two counts bound them (``policies.hourly``, one row and
one conditional write each, in the event's transaction): ``delivery.exhausted`` is coalesced to one
an endpoint an hour (the rest are in the delivery log), and a merchant makes at most
``webhook_operational_events_per_hour`` operational events of every type an hour in an
environment, each to at most its other endpoints. Past either the change of state is still
written (the clock, the disable, the owners' mails); only the event is left out.

Driver statements throughout: the worker runs these inside its batched record
(``worker.store``).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from .. import outbox
from ..policies import hourly
from ..store.raw import Raw, Statement
from ..values.clock import rfc3339, rfc3339_or_none
from .event_payloads import (
    DeliveryExhausted,
    DeliveryRecovered,
    DeliverySkipped,
    EndpointAutoDisabled,
    EndpointDisabled,
    EndpointFailing,
    EndpointRecovered,
    LastAttempt,
    Payload,
)

__all__ = [
    "OPERATIONAL",
    "Alert",
    "Attempted",
    "delivery_recovered",
    "disabled",
    "exhausted",
    "recovered",
    "skipped",
    "started_failing",
    "warned",
    "within_operational_count",
]

log = logging.getLogger(__name__)

OPERATIONAL = frozenset(
    {
        "endpoint.failing",
        "endpoint.disabled",
        "endpoint.recovered",
        "delivery.exhausted",
        "delivery.recovered",
        "delivery.skipped",
        "webhook.endpoint.disabled",
    }
)


@dataclass(frozen=True, slots=True)
class Attempted:
    """The attempt that changed an endpoint's health, as the events tell it."""

    endpoint_id: str
    delivery_id: str
    started: datetime
    response_status: int | None
    error: str | None

    def last_attempt(self) -> LastAttempt:
        return LastAttempt(
            delivery_id=self.delivery_id,
            at=rfc3339(self.started),
            response_status=self.response_status,
            error=self.error,
        )


_START_FAILING = Statement(
    """UPDATE webhook_endpoints SET failing_since = :since, failing_warned_at = NULL
    WHERE id = :id AND failing_since IS NULL
    RETURNING env, merchant_id, url""",
    ("env", "merchant_id", "url"),
)
_CLEAR_FAILING = Statement(
    """UPDATE webhook_endpoints SET failing_since = NULL, failing_warned_at = NULL
    WHERE id = :id AND failing_since IS NOT NULL
    RETURNING env, merchant_id, url""",
    ("env", "merchant_id", "url"),
)
_WARNED = Statement(
    """UPDATE webhook_endpoints SET failing_warned_at = :now
    WHERE id = :id AND enabled AND failing_since IS NOT NULL AND failing_warned_at IS NULL
    RETURNING env, merchant_id, url, failing_since""",
    ("env", "merchant_id", "url", "failing_since"),
)


async def within_operational_count(
    tx: Raw, env: str, merchant_id: str, per_hour: int, now: datetime
) -> bool:
    """Whether the merchant may make one more operational event in ``env`` this hour (taken if
    so): the one count every operational event of a merchant is bounded by."""
    return await hourly.counted(tx, f"merchant:{env}:{merchant_id}", per_hour, now)


async def _tell_others(
    tx: Raw,
    row: dict[str, Any],
    endpoint_id: str,
    type_: str,
    data: dict[str, Any],
    now: datetime,
    per_hour: int,
) -> list[str]:
    """The event to the merchant's endpoints but ``endpoint_id``, within the merchant's count."""
    merchant = f"merchant:{row['env']}:{row['merchant_id']}"
    if not await hourly.counted(tx, merchant, per_hour, now):
        log.warning(
            "operational event %s about %s left out: merchant %s made %d this hour",
            type_,
            endpoint_id,
            row["merchant_id"],
            per_hour,
        )
        return []
    return await outbox.emit(
        tx,
        env=row["env"],
        merchant_id=row["merchant_id"],
        type_=type_,
        data=data,
        now=now,
        except_endpoint=endpoint_id,
    )


async def _about_message(
    tx: Raw,
    attempted: Attempted,
    env: str,
    merchant_id: str,
    type_: str,
    data: Payload,
    now: datetime,
    per_hour: int,
) -> list[str]:
    """An event about one message at one endpoint (``delivery.*``) to the merchant's others."""
    row = {"env": env, "merchant_id": merchant_id}
    return await _tell_others(
        tx, row, attempted.endpoint_id, type_, data.model_dump(), now, per_hour
    )


async def started_failing(
    tx: Raw, attempted: Attempted, disable_after_seconds: int, per_hour: int, *, tell: bool = True
) -> list[str]:
    """Start the endpoint's failure clock at this attempt, unless it runs already; and, with
    ``tell``, send ``endpoint.failing``. The deliveries to wake for."""
    since = attempted.started
    row = await tx.fetchrow(_START_FAILING, {"id": attempted.endpoint_id, "since": since})
    if row is None or not tell:
        return []
    data = EndpointFailing(
        endpoint_id=attempted.endpoint_id,
        url=row["url"],
        failing_since=rfc3339(since),
        disables_at=rfc3339(since + timedelta(seconds=disable_after_seconds)),
        last_attempt=attempted.last_attempt(),
    ).model_dump()
    return await _tell_others(
        tx, row, attempted.endpoint_id, "endpoint.failing", data, since, per_hour
    )


async def recovered(
    tx: Raw, endpoint_id: str, since: datetime, now: datetime, per_hour: int
) -> list[str]:
    """Stop the endpoint's failure clock (running since ``since``, as the attempt's claim read
    it) at this success, and send ``endpoint.recovered``."""
    row = await tx.fetchrow(_CLEAR_FAILING, {"id": endpoint_id})
    if row is None:
        return []
    data = EndpointRecovered(
        endpoint_id=endpoint_id,
        url=row["url"],
        failing_since=rfc3339(since),
        recovered_at=rfc3339(now),
    ).model_dump()
    return await _tell_others(tx, row, endpoint_id, "endpoint.recovered", data, now, per_hour)


async def exhausted(
    tx: Raw,
    attempted: Attempted,
    *,
    env: str,
    merchant_id: str,
    event_id: str,
    event_type: str,
    attempts: int,
    now: datetime,
    per_hour: int,
) -> list[str]:
    """Send ``delivery.exhausted`` for a message given up after its last attempt, unless the
    message is itself an operational event, or the endpoint told of one this hour already."""
    if event_type in OPERATIONAL:
        return []
    if not await hourly.counted(tx, f"exhausted:{attempted.endpoint_id}", 1, now):
        return []
    data = DeliveryExhausted(
        delivery_id=attempted.delivery_id,
        event_id=event_id,
        event_type=event_type,
        endpoint_id=attempted.endpoint_id,
        attempts=attempts,
        last_attempt=attempted.last_attempt(),
    )
    return await _about_message(
        tx, attempted, env, merchant_id, "delivery.exhausted", data, now, per_hour
    )


async def skipped(
    tx: Raw,
    attempted: Attempted,
    *,
    env: str,
    merchant_id: str,
    event_id: str,
    event_type: str,
    attempts: int,
    now: datetime,
    per_hour: int,
) -> list[str]:
    """Send ``delivery.skipped`` for a message given up at an ordered endpoint, the gap in its
    order, unless the message is itself an operational event. Every gap is told (within the
    merchant's count): a receiver that relies on the order needs each one."""
    if event_type in OPERATIONAL:
        return []
    data = DeliverySkipped(
        delivery_id=attempted.delivery_id,
        event_id=event_id,
        event_type=event_type,
        endpoint_id=attempted.endpoint_id,
        attempts=attempts,
        skipped_at=rfc3339(now),
    )
    return await _about_message(
        tx, attempted, env, merchant_id, "delivery.skipped", data, now, per_hour
    )


async def delivery_recovered(
    tx: Raw,
    attempted: Attempted,
    *,
    env: str,
    merchant_id: str,
    event_id: str,
    event_type: str,
    failed_attempts: int,
    per_hour: int,
) -> list[str]:
    """Send ``delivery.recovered`` for a message delivered after ``failed_attempts`` failures,
    unless it is itself an operational event. Its delivery succeeds once a run, and only the
    record that wrote the success calls this (``worker.store``), so it is sent once."""
    if event_type in OPERATIONAL:
        return []
    data = DeliveryRecovered(
        delivery_id=attempted.delivery_id,
        event_id=event_id,
        event_type=event_type,
        endpoint_id=attempted.endpoint_id,
        failed_attempts=failed_attempts,
        recovered_at=rfc3339(attempted.started),
    )
    return await _about_message(
        tx, attempted, env, merchant_id, "delivery.recovered", data, attempted.started, per_hour
    )


@dataclass(frozen=True, slots=True)
class Alert:
    """What the merchant's owners are to be mailed of one of its endpoints
    (``mail.alerts``): ``failing`` (it will be disabled at ``values["disables_at"]``) or
    ``disabled`` (with ``values["reason"]``)."""

    kind: Literal["failing", "disabled"]
    endpoint_id: str
    env: str
    merchant_id: str
    url: str
    failing_since: datetime | None
    values: dict[str, str]


async def warned(
    tx: Raw, endpoint_id: str, disable_after_seconds: int, now: datetime
) -> Alert | None:
    """Mark the endpoint's run of failures warned of, once a run (``failing_warned_at``): the
    warning to mail its owners, or ``None`` when this run was warned of already."""
    row = await tx.fetchrow(_WARNED, {"id": endpoint_id, "now": now})
    if row is None:
        return None
    since = tx.timestamp(row["failing_since"])
    assert since is not None  # the statement found it set
    disables_at = rfc3339(since + timedelta(seconds=disable_after_seconds))
    return _alert("failing", endpoint_id, row, since, {"disables_at": disables_at})


def _alert(
    kind: Literal["failing", "disabled"],
    endpoint_id: str,
    row: dict[str, Any],
    since: datetime | None,
    values: dict[str, str],
) -> Alert:
    return Alert(kind, endpoint_id, row["env"], row["merchant_id"], row["url"], since, values)


async def disabled(
    tx: Raw,
    row: dict[str, Any],
    *,
    endpoint_id: str,
    trigger: str,
    reason: str,
    now: datetime,
    per_hour: int,
) -> tuple[list[str], Alert]:
    """What an automatic disable of the endpoint (``row``: its env, merchant, URL and failure
    clock) writes: ``endpoint.disabled`` and the deprecated ``webhook.endpoint.disabled`` with
    its first body (its subscribers keep working until v2); and the alert to mail its owners."""
    since = tx.timestamp(row["failing_since"])
    ids = await _tell_others(
        tx,
        row,
        endpoint_id,
        "endpoint.disabled",
        EndpointAutoDisabled(
            endpoint_id=endpoint_id,
            url=row["url"],
            trigger="gone" if trigger == "gone" else "failing",
            reason=reason,
            failing_since=rfc3339_or_none(since),
            disabled_at=rfc3339(now),
        ).model_dump(),
        now,
        per_hour,
    )
    ids += await _tell_others(
        tx,
        row,
        endpoint_id,
        "webhook.endpoint.disabled",
        EndpointDisabled(
            endpoint_id=endpoint_id,
            url=row["url"],
            reason=reason,
            failing_since=rfc3339_or_none(since),
        ).model_dump(),
        now,
        per_hour,
    )
    values = {"reason": reason, "disabled_at": rfc3339(now)}
    return ids, _alert("disabled", endpoint_id, row, since, values)
