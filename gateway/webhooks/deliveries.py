"""The delivery log as a merchant reads it, and replays.

Every query is scoped to the caller's merchant and environment: staging and live never see each
other's endpoints, events or deliveries. A replay returns an ``Outcome`` carrying the jobs to
wake the workers for once the transaction has committed.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..callers import Caller
from ..store.delivery_queue import QUEUE
from ..store.engine import Database
from ..store.models import DeliveryAttempt, Event, WebhookDelivery, table_of
from ..store.paging import recent_first
from ..store.rows import CoreRow
from ..values.clock import rfc3339, rfc3339_or_none, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, CursorMeta, Outcome
from ..values.settings import Settings
from . import retention
from .endpoints import check_reachable, endpoint_row
from .schemas import (
    AttemptData,
    DeliveriesQuery,
    DeliveryData,
    DeliveryDetail,
)

__all__ = [
    "check_enabled",
    "check_range",
    "get_delivery",
    "list_deliveries",
    "replay_delivery",
    "replay_values",
]

_D = table_of(WebhookDelivery)
_A = table_of(DeliveryAttempt)
_E = table_of(Event)


def _delivery_data(row: CoreRow) -> DeliveryData:
    return DeliveryData(
        id=row.id,
        event_id=row.event_id,
        endpoint_id=row.endpoint_id,
        event_type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        trigger=row.trigger,
        next_attempt_at=(
            rfc3339(row.next_attempt_at)
            if row.status == "pending" and row.next_attempt_at
            else None
        ),
        last_attempt_at=rfc3339_or_none(row.last_attempt_at),
        created_at=rfc3339(row.created_at),
        updated_at=rfc3339(row.updated_at),
    )


def _deliveries_of(caller: Caller) -> tuple[Any, ...]:
    return (_D.c.merchant_id == caller.merchant_id, _D.c.env == caller.env)


async def list_deliveries(db: Database, caller: Caller, query: DeliveriesQuery) -> Outcome:
    """Newest first. Delivery ids start with their event's time-sorted id, so they double as
    cursors (``meta`` is the ``CursorMeta``)."""
    stmt = select(_D).where(*_deliveries_of(caller))
    if query.endpoint_id is not None:
        stmt = stmt.where(_D.c.endpoint_id == query.endpoint_id)
    if query.event_type is not None:
        stmt = stmt.where(_D.c.event_type == query.event_type)
    if query.status is not None:
        stmt = stmt.where(_D.c.status == query.status)
    if query.created_after is not None:
        stmt = stmt.where(_D.c.created_at >= query.created_after)
    if query.created_before is not None:
        stmt = stmt.where(_D.c.created_at < query.created_before)
    async with db.read() as conn:
        rows, more = await recent_first(
            conn, stmt, _D.c.id, prefix="dlv", limit=query.limit, cursor=query.cursor, now=utcnow()
        )
    items = [_delivery_data(r) for r in rows]
    meta = CursorMeta.of(items, query.limit, more)
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())


async def get_delivery(db: Database, caller: Caller, delivery_id: str) -> Outcome:
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(_D, _E.c.payload)
                .join(_E, _E.c.id == _D.c.event_id)
                .where(_D.c.id == delivery_id, *_deliveries_of(caller))
            )
        ).first()
        if row is None:
            raise ApiError(Code.WEBHOOK_DELIVERY_NOT_FOUND)
        attempts = (
            await conn.execute(
                select(_A).where(_A.c.delivery_id == delivery_id).order_by(_A.c.attempt, _A.c.id)
            )
        ).all()
    log = [
        AttemptData(
            attempt=a.attempt,
            trigger=a.trigger,
            started_at=a.started_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            duration_ms=a.duration_ms,
            url=a.url,
            request_headers=a.request_headers,
            request_body=a.request_body,
            response_status=a.response_status,
            response_headers=a.response_headers,
            response_body=a.response_body,
            error=a.error,
        )
        for a in attempts
    ]
    detail = DeliveryDetail(
        **_delivery_data(row).model_dump(), payload=row.payload, attempt_log=log
    )
    return Outcome(Code.SUCCESS, detail)


def replay_values(now: datetime) -> dict[str, Any]:
    """A finished delivery made due again as a replay: one more attempt, a throttle slot of its
    own."""
    return {
        "status": "pending",
        "trigger": "replay",
        "run_start": _D.c.attempts,
        "generation": _D.c.generation + 1,
        "next_attempt_at": now,
        "throttle_slot_us": None,
        "updated_at": now,
        **QUEUE.released(),
    }


def check_range(since: datetime, until: datetime | None) -> None:
    if until is not None and until <= since:
        raise ApiError(Code.WEBHOOK_RANGE_INVALID)


async def check_enabled(conn: AsyncConnection, caller: Caller, endpoint_id: str) -> None:
    """The caller's endpoint, enabled: a replay to a disabled one is refused."""
    row = await endpoint_row(conn, caller, endpoint_id)
    if not row.enabled:
        raise ApiError(Code.WEBHOOK_ENDPOINT_DISABLED)


async def replay_delivery(
    db: Database, settings: Settings, caller: Caller, delivery_id: str
) -> Outcome:
    """One more attempt of a finished delivery, same event, same ``webhook-id``. One older
    than the merchant's retention is refused by its id's age alone, found or not, so the answer
    says nothing of whether such a delivery exists."""
    async with db.read() as conn:
        await retention.check_within(
            conn, caller.merchant_id, delivery_id, now=utcnow(), default=settings.retention_days
        )
        found = (
            await conn.execute(
                select(_D.c.endpoint_id).where(_D.c.id == delivery_id, *_deliveries_of(caller))
            )
        ).first()
    if found is None:
        raise ApiError(Code.WEBHOOK_DELIVERY_NOT_FOUND)
    await check_reachable(db, settings, caller, found.endpoint_id)
    now = utcnow()
    async with db.transaction() as conn:
        current = (
            await conn.execute(
                select(_D.c.status, _D.c.endpoint_id).where(
                    _D.c.id == delivery_id, *_deliveries_of(caller)
                )
            )
        ).first()
        if current is None:
            raise ApiError(Code.WEBHOOK_DELIVERY_NOT_FOUND)
        await check_enabled(conn, caller, current.endpoint_id)
        row = (
            await conn.execute(
                update(_D)
                .where(_D.c.id == delivery_id, _D.c.status != "pending")
                .values(**replay_values(now))
                .returning(_D)
            )
        ).first()
        if row is None:
            raise ApiError(Code.WEBHOOK_DELIVERY_PENDING)
    data = _delivery_data(row)
    return Outcome(Code.SUCCESS, data.model_dump(), deliveries=[row.id])
