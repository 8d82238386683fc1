"""The operator told of its treasury (``treasury``, ``reconcile``): a rail's float below its
level, and a reconciliation that disagrees with the provider, each mailed to the operator's
addresses (``mail.operators``), logged as a warning, and readable on the admin API's treasury.

With hysteresis, so a float hovering at its level, or a drift seen on every run, tells once: a
reservation that takes the available below the level marks the rail (``low_at``, in the
payment's transaction, once); the worker's ``treasury_alerts`` tells each marked or low rail
once (``low_told_at``, claimed by a conditional ``UPDATE``, so two workers tell it once), and
re-arms it only once the available is back above the level by a tenth of the float (or the
operator sets the rail again). A reconciliation's mismatch tells once (``treasury_checks.
told_at``) and re-arms with the first run that finds none."""

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..mail import rows
from ..mail.operators import mail_operators
from ..store.engine import Database
from ..store.expressions import param
from ..store.models import TreasuryFloat, table_of
from ..store.raw import Raw, Statement
from ..store.types import UTCDateTime
from ..values.clock import rfc3339
from ..values.settings import Settings

__all__ = ["REARM_SHARE", "mark_low", "rearm_at", "tell_drift", "tell_low"]

log = logging.getLogger(__name__)

_F = table_of(TreasuryFloat)
# Re-armed once the available is back above the level by this share of the float.
REARM_SHARE = 10

_MARK = Statement.of(
    sa.update(_F)
    .where(
        _F.c.env == param("env", sa.String),
        _F.c.protocol == param("protocol", sa.String),
        _F.c.low_at.is_(None),
    )
    .values(low_at=param("now", UTCDateTime()))
)


def rearm_at(float_cents: int, low_cents: int) -> int:
    """The available at or above which a rail told low may be told again."""
    return low_cents + max(1, float_cents // REARM_SHARE)


async def mark_low(tx: Raw, env: str, protocol: str, now: datetime) -> None:
    """The rail's available fell below its level, in the reservation's transaction."""
    await tx.count(_MARK, {"env": env, "protocol": protocol, "now": now})


def _rail(row: Any) -> Any:
    return sa.and_(_F.c.env == row.env, _F.c.protocol == row.protocol)


async def tell_low(db: Database, sealer: Sealer, settings: Settings, now: datetime) -> list[str]:
    """Each rail below its level, or marked so since, told once; each told rail back above its
    re-arming line re-armed. The mails to wake for."""
    mails: list[str] = []
    async with db.transaction() as conn:
        for row in (await conn.execute(sa.select(_F))).all():
            available = int(row.float_cents) - int(row.outstanding_cents)
            low = available < int(row.low_cents)
            if row.low_told_at is None and (low or row.low_at is not None):
                claimed = await conn.execute(
                    sa.update(_F)
                    .where(_rail(row), _F.c.low_told_at.is_(None))
                    .values(low_told_at=now, low_at=sa.func.coalesce(_F.c.low_at, now))
                )
                if claimed.rowcount == 1:
                    mails += await _told_low(conn, sealer, settings, row, available, now)
            elif row.low_told_at is not None and available >= rearm_at(
                int(row.float_cents), int(row.low_cents)
            ):
                await conn.execute(
                    sa.update(_F).where(_rail(row)).values(low_at=None, low_told_at=None)
                )
    return mails


async def _told_low(
    conn: AsyncConnection,
    sealer: Sealer,
    settings: Settings,
    row: Any,
    available: int,
    now: datetime,
) -> list[str]:
    values = {
        "env": row.env,
        "protocol": row.protocol,
        "float_cents": int(row.float_cents),
        "low_cents": int(row.low_cents),
        "outstanding_cents": int(row.outstanding_cents),
        "available_cents": available,
    }
    log.warning("the treasury's float is below its level", extra=values)
    return await mail_operators(conn, sealer, settings, rows.TREASURY_LOW, values, now)


async def tell_drift(
    conn: AsyncConnection,
    sealer: Sealer,
    settings: Settings,
    check: dict[str, Any],
    detail: list[str],
    now: datetime,
) -> list[str]:
    """A reconciliation's mismatch on a rail (``check``: its ``treasury_checks`` row as
    written), told to the operator; the mails to wake for."""
    values = {
        "env": check["env"],
        "protocol": check["protocol"],
        "checked_at": rfc3339(now),
        "looked": check["looked"],
        "drifts": check["drifts"],
        "detail": detail,
    }
    log.warning(
        "the treasury's reconciliation disagrees with its provider",
        extra={k: v for k, v in values.items() if k != "detail"},
    )
    return await mail_operators(conn, sealer, settings, rows.TREASURY_DRIFT, values, now)
