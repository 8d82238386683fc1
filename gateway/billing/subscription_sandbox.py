"""The staging sandbox's subscriptions: its checkout (Pay pays the first period), its portal
(change plan, cancel at period end, resume, a card that fails) and its renewals up to a given
time (``renew_due``: a staging test clock's, or the wall's; ``sweep`` renews every staging
merchant's by its own clock). Each period is paid through
``subscriptions.credit_period`` under an invoice id of the subscription and the period's number,
so it is credited once however often and however concurrently renewals run."""

import calendar
import hmac
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from ..callers import Caller
from ..store.db import Database
from ..store.models import Plan, SandboxClock, Subscription, table_of
from ..values.clock import utcnow
from ..values.codes import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from . import sandbox_clock, subscription_states
from .checkin_schemas import ClockData
from .plans import find_plan
from .providers import SANDBOX
from .sandbox_clock import STAGING, now_for
from .subscription_states import EXPIRED, INCOMPLETE
from .subscriptions import (
    FailedPeriod,
    PaidPeriod,
    credit_period,
    move_state,
    record_failure,
    sandbox_token,
    subscription_data,
)

__all__ = [
    "add_interval",
    "advance_clock",
    "cancel_sandbox",
    "pay_sandbox",
    "portal_page",
    "renew_due",
    "sandbox_action",
    "sandbox_subscription",
    "sweep",
]

_S = table_of(Subscription)
_PL = table_of(Plan)
_C = table_of(SandboxClock)
# Periods ``renew_due`` pays for one subscription in one call, at most.
MAX_RENEWALS = 120


def add_interval(moment: datetime, interval: str) -> datetime:
    """One period on: a calendar month (the day kept, or the month's last) or a year."""
    if interval == "year":
        years = moment.year + 1
        day = min(moment.day, calendar.monthrange(years, moment.month)[1])
        return moment.replace(year=years, day=day)
    month = moment.month % 12 + 1
    year = moment.year + (moment.month == 12)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


async def sandbox_subscription(
    db: Database, settings: Settings, sub_id: str, token: str, purpose: str = "checkout"
) -> tuple[Any, Any]:
    """The sandbox subscription the link names and its plan, if the token is the link's."""
    if not hmac.compare_digest(sandbox_token(settings, sub_id, purpose), token):
        raise ApiError(Code.SUBSCRIPTION_NOT_FOUND)
    async with db.read() as conn:
        row = (
            await conn.execute(select(_S).where(_S.c.id == sub_id, _S.c.provider == SANDBOX))
        ).first()
        if row is None:
            raise ApiError(Code.SUBSCRIPTION_NOT_FOUND)
        plan = (await conn.execute(select(_PL).where(_PL.c.id == row.plan_id))).one()
    return row, plan


def _price(plan: Any, interval: str) -> int:
    return int(plan.price_monthly if interval == "month" else plan.price_yearly)


def _sandbox_invoice(sub_id: str, number: int) -> str:
    return f"sbx_{sub_id}_{number}"


async def pay_sandbox(
    db: Database, settings: Settings, sub_id: str, token: str, *, now: datetime | None = None
) -> Outcome:
    """Pressing Pay on the sandbox checkout: its first period paid and credited, as Stripe's
    first ``invoice.paid`` would; refused once the checkout expired or was paid."""
    await sandbox_subscription(db, settings, sub_id, token)
    now = now or utcnow()
    async with db.transaction() as conn:
        sub = (
            await conn.execute(
                update(_S)
                .where(_S.c.id == sub_id, _S.c.status == "incomplete", _S.c.expires_at > now)
                .values(updated_at=now)
                .returning(_S)
            )
        ).first()
        if sub is None:
            raise ApiError(Code.SUBSCRIPTION_NOT_CHANGEABLE)
        plan = (await conn.execute(select(_PL).where(_PL.c.id == sub.plan_id))).one()
        paid = PaidPeriod(
            _sandbox_invoice(sub_id, 1),
            _price(plan, sub.interval),
            "usd",
            add_interval(now, sub.interval),
        )
        settled = await credit_period(conn, db, sub, paid, now)
    if settled.result != "credited":
        raise ApiError(Code.SUBSCRIPTION_NOT_CHANGEABLE)
    return Outcome(
        Code.SUCCESS, {"subscription_id": sub_id}, status="active", deliveries=settled.deliveries
    )


async def sandbox_action(
    db: Database,
    settings: Settings,
    sub_id: str,
    token: str,
    action: str,
    *,
    plan_id: str | None = None,
    interval: str | None = None,
    card_fails: bool | None = None,
    now: datetime | None = None,
) -> Outcome:
    """What a tester does on the sandbox portal: ``cancel`` (at the period's end), ``resume``,
    ``change`` (plan, and interval), ``card`` (the card to be declined at renewal, or not)."""
    sub, _ = await sandbox_subscription(db, settings, sub_id, token, "portal")
    now = now or utcnow()
    values: dict[str, Any] = {}
    if action == "cancel":
        values["cancel_at_period_end"] = True
    elif action == "resume":
        values["cancel_at_period_end"] = False
    elif action == "card" and card_fails is not None:
        values["card_fails"] = card_fails
    elif action == "change" and plan_id is not None:
        async with db.read() as conn:
            plan = await find_plan(conn, sub.env, plan_id, on_sale=True)
        values["plan_id"] = plan.id
        if interval in ("month", "year"):
            values["interval"] = interval
    else:
        raise ApiError(Code.SUBSCRIPTION_NOT_CHANGEABLE)
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                update(_S)
                .where(_S.c.id == sub_id, _S.c.status.in_(("active", "past_due")))
                .values(**values, updated_at=now)
                .returning(_S)
            )
        ).first()
        if row is None:
            raise ApiError(Code.SUBSCRIPTION_NOT_CHANGEABLE)
        plan = (await conn.execute(select(_PL).where(_PL.c.id == row.plan_id))).one()
    return Outcome(Code.SUBSCRIPTION_CHANGED, subscription_data(row, plan), status=row.status)


async def _renew_one(db: Database, sub_id: str, now: datetime) -> list[str]:
    """The periods of one sandbox subscription that ended by ``now``: each paid and credited
    once (its invoice is the subscription's and the period's number), or, with the tester's
    failing card, the subscription past due and nothing credited; at its period's end a
    subscription canceled at period end ends."""
    deliveries: list[str] = []
    for _ in range(MAX_RENEWALS):
        async with db.transaction() as conn:
            sub = (await conn.execute(select(_S).where(_S.c.id == sub_id))).one()
            due = sub.current_period_end
            if sub.status not in ("active", "past_due") or due is None or due > now:
                return deliveries
            if sub.cancel_at_period_end:
                deliveries += await move_state(conn, sub_id, now, now, status="canceled")
                return deliveries
            plan = (await conn.execute(select(_PL).where(_PL.c.id == sub.plan_id))).one()
            if sub.card_fails:
                failed = FailedPeriod(
                    _sandbox_invoice(sub_id, sub.periods_paid + 1),
                    _price(plan, sub.interval),
                    "usd",
                    due,
                    add_interval(due, sub.interval),
                )
                await record_failure(conn, sub, failed, now)
                deliveries += await move_state(conn, sub_id, now, now, status="past_due")
                return deliveries
            paid = PaidPeriod(
                _sandbox_invoice(sub_id, sub.periods_paid + 1),
                _price(plan, sub.interval),
                "usd",
                add_interval(due, sub.interval),
            )
            settled = await credit_period(conn, db, sub, paid, now)
            deliveries += settled.deliveries
    return deliveries


async def renew_due(db: Database, merchant_id: str, env: str, now: datetime) -> Outcome:
    """Staging's renewals up to ``now`` (a test clock's time, or the wall's): every sandbox
    subscription of the merchant in ``env`` whose period ended by then is renewed, once per
    period, however often and however concurrently this runs."""
    async with db.read() as conn:
        ids = list(
            (
                await conn.execute(
                    select(_S.c.id).where(
                        _S.c.merchant_id == merchant_id,
                        _S.c.env == env,
                        _S.c.provider == SANDBOX,
                        _S.c.status.in_(("active", "past_due")),
                        _S.c.current_period_end <= now,
                    )
                )
            ).scalars()
        )
    deliveries: list[str] = []
    for sub_id in ids:
        deliveries += await _renew_one(db, sub_id, now)
    return Outcome(Code.SUCCESS, {"subscriptions": ids}, deliveries=deliveries)


async def advance_clock(db: Database, caller: Caller, seconds: int) -> Outcome:
    """The caller's staging clock moved ``seconds`` forward (``sandbox_clock.advance``), and
    its sandbox subscriptions living through the time it skipped, as they would have: every
    period that ended by the new now is renewed (or falls past due), once."""
    moved = await sandbox_clock.advance(db, caller, seconds)
    clock = moved.one(ClockData)
    renewed = await renew_due(db, caller.merchant_id, STAGING, datetime.fromisoformat(clock.now))
    return Outcome(moved.code, clock, deliveries=renewed.deliveries)


# Staging subscriptions a sweep looks at, at most (the oldest period ends first).
SWEEP_BATCH = 500


async def sweep(db: Database) -> list[Outcome]:
    """Every staging merchant's sandbox renewals due by its own test clock (the wall's where it
    never moved it), as time passing would renew them: the worker's reconciliation cron. A
    clock moved forward renews at once (``sandbox_clock.advance``); this finds the rest."""
    real = utcnow()
    stmt = (
        select(_S.c.merchant_id, _S.c.current_period_end, _C.c.offset_seconds)
        .select_from(_S.outerjoin(_C, _C.c.merchant_id == _S.c.merchant_id))
        .where(
            _S.c.env == STAGING,
            _S.c.provider == SANDBOX,
            _S.c.status.in_(("active", "past_due")),
            _S.c.current_period_end.is_not(None),
        )
        .order_by(_S.c.current_period_end)
        .limit(SWEEP_BATCH)
    )
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    due = {
        row.merchant_id
        for row in rows
        if row.current_period_end <= real + timedelta(seconds=row.offset_seconds or 0)
    }
    outcomes: list[Outcome] = []
    for merchant_id in sorted(due):
        async with db.read() as conn:
            now = await now_for(conn, merchant_id, STAGING, real=real)
        outcomes.append(await renew_due(db, merchant_id, STAGING, now))
    return outcomes


async def cancel_sandbox(db: Database, settings: Settings, sub_id: str, token: str) -> Outcome:
    """Giving up on the sandbox checkout: the subscription is never opened, its place given
    back; refused if Pay got there first."""
    await sandbox_subscription(db, settings, sub_id, token)
    now = utcnow()
    async with db.transaction() as conn:
        moved = await subscription_states.move(
            conn, INCOMPLETE, EXPIRED, now, _S.c.id == sub_id, _S.c.periods_paid == 0
        )
    if not moved:
        raise ApiError(Code.SUBSCRIPTION_NOT_CHANGEABLE)
    return Outcome(Code.SUCCESS, {"subscription_id": sub_id}, status="expired")


async def portal_page(
    db: Database, settings: Settings, sub_id: str, token: str
) -> tuple[Any, Any, list[Any]]:
    """The sandbox portal's subscription, its plan, and the plans it may change to."""
    sub, plan = await sandbox_subscription(db, settings, sub_id, token, "portal")
    async with db.read() as conn:
        plans = list(
            await conn.execute(
                select(_PL)
                .where(_PL.c.env == sub.env, _PL.c.active.is_(True))
                .order_by(_PL.c.sort_order, _PL.c.id)
            )
        )
    return sub, plan, plans
