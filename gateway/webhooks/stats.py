"""An endpoint's health over a time range, as Svix's endpoint stats tell it: how many of its
deliveries created in the range succeeded, wait for their first attempt (``pending``), are being
retried (``sending``) or were given up (``failed``), how many events its payload filter dropped
(``filtered``: no delivery was written for them), and how long its attempts took to answer.

The range is at most ``MAX_DAYS`` days, so what one request makes the store read is bounded;
the deliveries are found by their endpoint and creation time (an index of the two) and the
percentiles by one ordered read each, the same on both stores.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..callers import Caller
from ..store.engine import Database
from ..store.models import DeliveryAttempt, WebhookDelivery, WebhookFiltered, table_of
from ..values.clock import rfc3339, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from .endpoints import endpoint_row
from .schemas import EndpointStatsData, LatencyData

__all__ = ["MAX_DAYS", "endpoint_stats"]

MAX_DAYS = 28
DEFAULT_SPAN = timedelta(days=1)
PERCENTILES = (50, 90, 99)

_D = table_of(WebhookDelivery)
_A = table_of(DeliveryAttempt)
_F = table_of(WebhookFiltered)


def _range(
    since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """``since`` to ``until``: by default the last day; never longer than ``MAX_DAYS``."""
    end = until or now
    start = since or end - DEFAULT_SPAN
    if end <= start:
        raise ApiError(Code.WEBHOOK_RANGE_INVALID)
    if end - start > timedelta(days=MAX_DAYS):
        raise ApiError(Code.WEBHOOK_STATS_SPAN_TOO_LONG, data={"max_days": MAX_DAYS})
    return start, end


async def _counts(
    conn: AsyncConnection, endpoint_id: str, start: datetime, end: datetime
) -> dict[str, int]:
    status = case(
        (and_(_D.c.status == "pending", _D.c.attempts > 0), "sending"),
        else_=_D.c.status,
    ).label("state")
    stmt = (
        select(status, func.count())
        .where(_D.c.endpoint_id == endpoint_id, _D.c.created_at >= start, _D.c.created_at < end)
        .group_by(status)
    )
    found = {state: int(n) for state, n in (await conn.execute(stmt)).all()}
    dropped = (
        select(func.count())
        .select_from(_F)
        .where(_F.c.endpoint_id == endpoint_id, _F.c.created_at >= start, _F.c.created_at < end)
    )
    return {
        "succeeded": found.get("succeeded", 0),
        "pending": found.get("pending", 0),
        "sending": found.get("sending", 0),
        "failed": found.get("failed", 0),
        "filtered": int((await conn.execute(dropped)).scalar_one()),
    }


async def _latency(
    conn: AsyncConnection, endpoint_id: str, start: datetime, end: datetime
) -> LatencyData:
    """Percentiles of the attempts' durations (the nearest rank), of the deliveries created in
    the range."""
    attempts = (
        select(_A.c.duration_ms)
        .join(_D, _D.c.id == _A.c.delivery_id)
        .where(_D.c.endpoint_id == endpoint_id, _D.c.created_at >= start, _D.c.created_at < end)
    )
    total = int(
        (await conn.execute(select(func.count()).select_from(attempts.subquery()))).scalar_one()
    )
    ranked: dict[str, Any] = {"attempts": total}
    for p in PERCENTILES:
        value = None
        if total:
            rank = max(0, -(-p * total // 100) - 1)  # nearest rank, counted from zero
            value = (
                await conn.execute(attempts.order_by(_A.c.duration_ms).offset(rank).limit(1))
            ).scalar_one()
        ranked[f"p{p}_ms"] = value
    return LatencyData(**ranked)


async def endpoint_stats(
    db: Database,
    caller: Caller,
    endpoint_id: str,
    since: datetime | None,
    until: datetime | None,
) -> Outcome:
    start, end = _range(since, until, utcnow())
    async with db.read() as conn:
        await endpoint_row(conn, caller, endpoint_id)  # the caller's, or not found
        counts = await _counts(conn, endpoint_id, start, end)
        latency = await _latency(conn, endpoint_id, start, end)
    data = EndpointStatsData(
        endpoint_id=endpoint_id, since=rfc3339(start), until=rfc3339(end), **counts, latency=latency
    )
    return Outcome(Code.SUCCESS, data)
