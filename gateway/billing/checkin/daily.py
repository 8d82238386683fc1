"""Daily check-in: a reward between the operator's bounds, once per merchant, environment and
UTC day.

The day is that of ``sandbox_clock.now_for``: the merchant's test clock in staging, real UTC in
live (which never reads the clock). "Once a day" is a unique row (merchant, env, day), never a
read then a write: the check-in is one plan (``PLAN``), rendered for each store like every write
of money, whose first step inserts that row or finds it taken (``ON CONFLICT DO NOTHING``); only
then the wallet is credited, its ``checkin_credit`` entry appended and ``checkin.credited``
written with its deliveries. Of any number of concurrent check-ins of one day exactly one
inserts the row; the others change nothing and are refused (``4300``) with the next midnight.

The reward is drawn uniformly (``secrets``) from the environment's ``[min_cents, max_cents]``,
integer cents, both ends included. Settings are per environment (``checkin_configs``, set by
the operator through ``admin.checkin``); an environment never set has ``DEFAULTS``: staging on,
live off. The rules (the day, the next
opening, the draw, the bounds) live here alone; REST and MCP both call ``check_in``.
"""

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import BigInteger, String, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ... import outbox
from ...callers import Caller
from ...ledger import alerts, grants
from ...ledger import service as ledger
from ...store.compose import Plan, Refs, Step, steps
from ...store.engine import Database
from ...store.expressions import const, param, upsert
from ...store.models import CheckIn as CheckInRow
from ...store.models import CheckInConfig, table_of
from ...store.raw import Construct, raw
from ...store.types import UTCDateTime
from ...values.clock import new_id, rfc3339, utcnow
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from ..sandbox_clock import now_for
from .schemas import CheckInData, CheckInRefusal, CheckInToday

__all__ = [
    "CREDITED",
    "DEFAULTS",
    "ENVS",
    "KIND",
    "PLAN",
    "Bounds",
    "bounds_of",
    "check_in",
    "day_of",
    "draw",
    "next_opening",
    "today",
]

CREDITED = "checkin.credited"  # the event
KIND = "checkin_credit"  # the ledger entry's kind
ENVS = ("staging", "live")

_CI = table_of(CheckInRow)
_CFG = table_of(CheckInConfig)
_INT = BigInteger()


@dataclass(frozen=True, slots=True)
class Bounds:
    """An environment's check-in settings: on or off, and the reward's range in cents."""

    enabled: bool
    min_cents: int
    max_cents: int


# An environment the operator never set: staging on with a small reward, live off.
DEFAULTS = {"staging": Bounds(True, 10, 100), "live": Bounds(False, 10, 100)}


def day_of(moment: datetime) -> date:
    """The UTC day of ``moment``: the unit of "once a day"."""
    return moment.astimezone(UTC).date()


def next_opening(day: date) -> datetime:
    """When the check-in after one on ``day`` opens: the next UTC midnight, by the same clock."""
    return datetime.combine(day + timedelta(days=1), time(0), UTC)


def draw(bounds: Bounds) -> int:
    """A reward uniform over ``[min_cents, max_cents]``, both included."""
    return bounds.min_cents + secrets.randbelow(bounds.max_cents - bounds.min_cents + 1)


# --- The check-in: one plan, as the send's.


def _claim(refs: Refs) -> Construct:
    """The day's row, or nothing when it is taken: the one write that decides."""
    stmt = upsert(_CI).values(
        id=param("checkin_id", String),
        merchant_id=param("merchant_id", String),
        env=param("env", String),
        day=param("day", String),
        amount_cents=param("amount", _INT),
        created_at=param("now", UTCDateTime()),
    )
    return stmt.on_conflict_do_nothing(
        index_elements=[_CI.c.merchant_id, _CI.c.env, _CI.c.day]
    ).returning(_CI.c.id)


# Daily credits are a gift (Stripe's promotional grants), drawn before bought credit.
GIFT = grants.Grant("promotional")


def _entries(refs: Refs) -> Construct:
    line = ledger.Line(ledger.merchant_wallet(), ledger.amount(), const(KIND))
    return ledger.entries(
        ledger.numbered(refs.col("credit", ledger.COUNT), line), after=refs.after("credit")
    )


PLAN = Plan(
    steps(
        grants.settle_steps(ledger.merchant_wallet()),  # before its grant
        Step("claim", _claim, required=True),
        Step(
            "credit",
            lambda refs: ledger.wallet_credit(refs, wallet=ledger.merchant_wallet(), after="claim"),
        ),
        Step(
            "grant",
            lambda refs: grants.granted(
                refs,
                wallet=ledger.merchant_wallet(),
                number=refs.col("credit", ledger.COUNT),
                grant=GIFT,
                after="credit",
            ),
        ),
        Step("entries", _entries),
        outbox.event_steps(
            "event",
            after=lambda refs: refs.after("credit"),
            balance_after=lambda refs: refs.col("credit", "balance_cents"),
        ),
    ),
    given=(
        "checkin_id",
        "merchant_id",
        "env",
        "day",
        "amount",
        "now",
        "wallet_id",
        "reference",
        "memo",
        "event_id",
        "event_type",
        "event_payload",
        "event_prefix",
        "event_trigger",
    ),
)


async def bounds_of(conn: AsyncConnection, env: str) -> tuple[Bounds, datetime | None]:
    """``env``'s settings and when the operator last set them (``None``: the defaults)."""
    row = (await conn.execute(select(_CFG).where(_CFG.c.env == env))).first()
    if row is None:
        return DEFAULTS[env], None
    return Bounds(bool(row.enabled), int(row.min_cents), int(row.max_cents)), row.updated_at


def _refusal(day: date) -> ApiError:
    data = CheckInRefusal(checked_in_on=day.isoformat(), next_checkin_at=rfc3339(next_opening(day)))
    return ApiError(Code.CHECKIN_ALREADY_DONE, data=data.model_dump())


async def check_in(db: Database, caller: Caller) -> Outcome:
    """Check the caller's merchant in for today in the caller's environment: ``1130`` with the
    reward and the balance after it; ``4300`` if today is taken, ``4301`` if check-in is off,
    either with nothing changed."""
    real = utcnow()
    checkin_id = new_id("chk")
    async with db.transaction() as conn:
        bounds, _ = await bounds_of(conn, caller.env)
        if not bounds.enabled:
            raise ApiError(Code.CHECKIN_DISABLED)
        day = day_of(await now_for(conn, caller.merchant_id, caller.env, real=real))
        amount = draw(bounds)
        data = {
            "id": checkin_id,
            "amount_cents": amount,
            "balance_cents": outbox.BALANCE_MARK,
            "currency": "USD",
            "checked_in_on": day.isoformat(),
        }
        params: dict[str, Any] = {
            "checkin_id": checkin_id,
            "merchant_id": caller.merchant_id,
            "env": caller.env,
            "day": day.isoformat(),
            "amount": amount,
            "now": real,
            "wallet_id": caller.wallet_id,
            "reference": checkin_id,
            "memo": f"daily check-in {day.isoformat()}",
            **outbox.event_params(CREDITED, real, caller.env, data),
        }
        applied = await PLAN.run(await raw(conn), params)
        recovered: list[str] = []
        if applied is not None:
            recovered = await alerts.recover(
                conn,
                wallet_id=caller.wallet_id,
                merchant_id=caller.merchant_id,
                env=caller.env,
                now=real,
            )
    if applied is None:
        raise _refusal(day)
    credited = applied.one("credit")
    assert credited is not None
    done = CheckInData(
        env=caller.env,
        amount_cents=amount,
        balance_cents=int(credited["balance_cents"]),
        checked_in_on=day.isoformat(),
        next_checkin_at=rfc3339(next_opening(day)),
    )
    return Outcome(
        Code.CHECKED_IN,
        done.model_dump(),
        transaction_id=checkin_id,
        deliveries=[*applied.ids("event_deliveries"), *recovered],
    )


async def today(db: Database, caller: Caller) -> Outcome:
    """Whether the caller's merchant checked in today in the caller's environment (today by
    the same clock as ``check_in``), its reward, and when the next check-in opens: what a
    page shows beside the button that calls ``check_in``."""
    async with db.read() as conn:
        bounds, _ = await bounds_of(conn, caller.env)
        day = day_of(await now_for(conn, caller.merchant_id, caller.env, real=utcnow()))
        amount = (
            await conn.execute(
                select(_CI.c.amount_cents).where(
                    _CI.c.merchant_id == caller.merchant_id,
                    _CI.c.env == caller.env,
                    _CI.c.day == day.isoformat(),
                )
            )
        ).scalar()
    found = CheckInToday(
        env=caller.env,
        enabled=bounds.enabled,
        day=day.isoformat(),
        amount_cents=None if amount is None else int(amount),
        next_checkin_at=None if amount is None else rfc3339(next_opening(day)),
    )
    return Outcome(Code.SUCCESS, found)
