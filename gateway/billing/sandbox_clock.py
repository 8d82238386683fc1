"""The staging test clock: the one answer to "what time is it" for a staging merchant, and the
wire models of its routes.

As Stripe's test clocks: a merchant's staging runs at real time plus an offset that the
merchant only ever moves forward (``POST /sandbox/clock/advance``), so a tester can live through
days and months in seconds. Every time-dependent staging rule asks ``now_for`` and nothing else:
the daily check-in's day (``billing.checkin.daily``) and subscription renewals: advancing the clock
renews a merchant's staging subscriptions as time would
(``subscriptions.renewals.advance_clock``, which the route calls, and its ``renewals``).

Live never reads the clock: ``now_for`` answers real time for live without touching the store.
Besides this module, only ``subscriptions.renewals.renewals`` reads ``sandbox_clocks``: it joins
the offsets to staging sandbox subscriptions to find the renewals due by each merchant's clock. The
offset is bounded (``MAX_OFFSET_SECONDS``): each period it passes is a renewal written, with its
credit, receipt and events, so the bound is what a tester may make the gateway write, as the
per-merchant throttle on advancing (``merchant_limits.TEST_CLOCK_ADVANCE``) is how fast.
What a renewal writes is dated by the clock (its period, its event's ``created``); the work it
makes, its webhook deliveries, is due by the real one (``outbox.emit``), so a test clock's
webhooks go out at once rather than on the date it shows.
"""

from datetime import datetime, timedelta
from typing import Literal

from pydantic import ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..callers import Caller
from ..store.engine import Database
from ..store.expressions import upsert
from ..store.models import SandboxClock, table_of
from ..values.clock import rfc3339, utcnow
from ..values.code_names import Code
from ..values.model import Model
from ..values.outcome import ApiError, Outcome

__all__ = [
    "MAX_ADVANCE_SECONDS",
    "MAX_OFFSET_SECONDS",
    "STAGING",
    "ClockAdvance",
    "ClockData",
    "advance",
    "now_for",
    "read",
    "staging_only",
]

STAGING = "staging"
# How far ahead of real time a clock may run: ten years, 120 monthly renewals of a subscription,
# as many as one advance renews (``subscriptions.renewals.MAX_RENEWALS``).
MAX_OFFSET_SECONDS = 10 * 365 * 86_400

_C = table_of(SandboxClock)


class _Strict(Model):
    model_config = ConfigDict(extra="forbid", strict=True)


# One call moves the test clock at most this far (400 days: a yearly renewal and then some).
MAX_ADVANCE_SECONDS = 400 * 86_400


class ClockAdvance(_Strict):
    seconds: int = Field(
        ge=1,
        le=MAX_ADVANCE_SECONDS,
        description="How far to move the clock forward: a whole number of seconds, 1 to "
        f"{MAX_ADVANCE_SECONDS:,} (400 days).",
    )


class ClockData(Model):
    env: Literal["staging"]
    now: str = Field(description="The merchant's staging time by its test clock (RFC 3339).")
    real_now: str = Field(description="Real UTC time (RFC 3339).")
    offset_seconds: int = Field(description="How far the clock runs ahead of real time.")


async def _offset(conn: AsyncConnection, merchant_id: str) -> int:
    found = await conn.execute(select(_C.c.offset_seconds).where(_C.c.merchant_id == merchant_id))
    offset = found.scalar()
    return 0 if offset is None else int(offset)


async def now_for(
    conn: AsyncConnection, merchant_id: str, env: str, *, real: datetime | None = None
) -> datetime:
    """Now for this merchant in ``env``: real UTC time for live (the clock is not read), the
    merchant's test clock for staging. ``real``: the real time to start from (default now)."""
    real = real or utcnow()
    if env != STAGING:
        return real
    return real + timedelta(seconds=await _offset(conn, merchant_id))


def staging_only(caller: Caller) -> None:
    if caller.env != STAGING:
        raise ApiError(Code.TEST_CLOCK_STAGING_ONLY)


def _data(real: datetime, offset: int) -> ClockData:
    return ClockData(
        env=STAGING,
        now=rfc3339(real + timedelta(seconds=offset)),
        real_now=rfc3339(real),
        offset_seconds=offset,
    )


async def read(db: Database, caller: Caller) -> Outcome:
    """The caller's staging clock; a live key is refused."""
    staging_only(caller)
    real = utcnow()
    async with db.read() as conn:
        offset = await _offset(conn, caller.merchant_id)
    return Outcome(Code.SUCCESS, _data(real, offset))


async def advance(db: Database, caller: Caller, seconds: int) -> Outcome:
    """Move the caller's staging clock ``seconds`` (> 0) forward: one conditional write, so
    concurrent advances add up and none takes the clock past ``MAX_OFFSET_SECONDS``. What the
    time skipped brings due is renewed, and lapses, by ``subscriptions.renewals.advance_clock``."""
    staging_only(caller)
    assert seconds > 0
    real = utcnow()
    first = upsert(_C).values(
        merchant_id=caller.merchant_id, offset_seconds=seconds, updated_at=real
    )
    moved = _C.c.offset_seconds + first.excluded.offset_seconds
    stmt = first.on_conflict_do_update(
        index_elements=[_C.c.merchant_id],
        set_={"offset_seconds": moved, "updated_at": first.excluded.updated_at},
        where=moved <= MAX_OFFSET_SECONDS,
    ).returning(_C.c.offset_seconds)
    async with db.transaction() as conn:
        offset = (await conn.execute(stmt)).scalar()
    if offset is None:
        raise ApiError(Code.TEST_CLOCK_TOO_FAR)
    return Outcome(Code.SUCCESS, _data(real, int(offset)))
