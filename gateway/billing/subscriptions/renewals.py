"""Every channel's subscriptions after they are opened: what a channel reports of one
(``Notice.subscription``, a ``PeriodNotice``, taken by the one notification door,
``billing.settling.notices``) and the reconciliation that asks its provider when a report was lost.
Both credit a paid period by ``subscriptions.credit_period`` and move its state by
``subscriptions.move_state``: one rule, whichever comes first, and however often, for every
channel.

What each state does:

- ``paid``: the period is credited, once per ``invoice_id`` (its ``subscription_invoices``
  row); a repeat, under another event id or the same, finds the row and credits nothing.
- ``past_due``: the subscription goes past due (``subscription.past_due``), nothing credited;
  a later ``paid`` makes it active again. With ``invoice_id`` the failed period is recorded.
- ``canceled``: the subscription ends (``subscription.canceled``); ``canceled`` is final.
- ``active``: what it says of the period's end, of a cancellation at its end and of the plan
  is kept; its status is moved only to the ``status`` the report names, since only a paid
  period makes a subscription active (a channel's "updated" report that names none cannot
  tell a recovered payment from any other change).
- ``expired``: a first checkout that can no longer be paid gives its place back.
- ``linked``: only the provider's ids of the subscription and its customer are kept.

Every move is dated by the notice's ``created`` and applied only if nothing said later was
applied already (``state_at``), so reports out of order leave the newest word standing.
The subscription is found by our id (given to the provider when it was opened) or by the
provider's, and must be this channel's and live (staging's are the sandbox's); one of another
merchant is refused, as an order of another merchant is.

A lost report is found by reconciliation (``sweep``, in the worker's ``reconcile_orders``):
the live subscriptions of every provider with ``subscriptions`` not paid yet, past due or past
their period's end, not looked at lately, are asked of their provider
(``Provider.paid_periods``) and each paid period is credited by ``credit_period``, whichever of
the report and the look comes first; what the provider says of the state is applied as a
report's.

A channel no one else renews (``Provider.renews_here``: the staging sandbox) is renewed here
(``renew_due``, ``advance_clock``, ``renewals``): each period that ended by the merchant's clock
(``sandbox_clock.now_for``) is the report its provider's ``renewal`` makes, applied as a
notification's, one period per transaction.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ...callers import Caller
from ...store.engine import Database
from ...store.models import Plan, SandboxClock, Subscription, table_of
from ...values.clock import utcnow
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from ...values.settings import Settings
from .. import sandbox_clock
from ..channels import offering
from ..channels import registry as channels
from ..channels.registry import Notice, NotSupported, PeriodNotice, Renewing, SubscriptionRef
from ..orders import Settlement
from ..sandbox_clock import STAGING, ClockData, now_for
from ..wallet import grants as wallet_grants
from . import HOLDING, FailedPeriod, PaidPeriod, credit_period, move_state, record_failure
from . import states as subscription_states
from .states import EXPIRED, INCOMPLETE

__all__ = [
    "MAX_RENEWALS",
    "advance_clock",
    "check",
    "on_period",
    "renew_due",
    "renewals",
    "sweep",
]

log = logging.getLogger(__name__)

_S = table_of(Subscription)
_PL = table_of(Plan)
_C = table_of(SandboxClock)


async def _find(conn: AsyncConnection, channel: str, period: PeriodNotice) -> Any:
    mine = _S.c.provider == channel
    if period.subscription_id is not None:
        row = (
            await conn.execute(select(_S).where(_S.c.id == period.subscription_id, mine))
        ).first()
        if row is not None:
            return row
    if period.provider_subscription_id is not None:
        return (
            await conn.execute(
                select(_S).where(
                    _S.c.provider_subscription_id == period.provider_subscription_id, mine
                )
            )
        ).first()
    return None


async def _link(
    conn: AsyncConnection, sub: Any, subscription_id: str | None, customer_id: str | None
) -> None:
    """Keep the provider's ids of the subscription and its customer, once known."""
    for column, value in (
        ("provider_subscription_id", subscription_id),
        ("provider_customer_id", customer_id),
    ):
        if value is not None and getattr(sub, column) is None:
            await conn.execute(
                update(_S)
                .where(_S.c.id == sub.id, _S.c[column].is_(None))
                .values({column: value[:255]})
            )


async def _plan_of_price(conn: AsyncConnection, env: str, price_id: str | None) -> str | None:
    """The plan a provider's price is of (a plan's prices at its provider)."""
    if price_id is None:
        return None
    return (
        await conn.execute(
            select(_PL.c.id).where(
                _PL.c.env == env,
                or_(
                    _PL.c.stripe_price_monthly_id == price_id,
                    _PL.c.stripe_price_yearly_id == price_id,
                ),
            )
        )
    ).scalar()


async def _expire(conn: AsyncConnection, sub_id: str, now: datetime) -> None:
    """A first checkout that can no longer be paid gives the merchant's place back."""
    await subscription_states.move(
        conn, INCOMPLETE, EXPIRED, now, _S.c.id == sub_id, _S.c.periods_paid == 0
    )


async def on_period(
    conn: AsyncConnection, channel: str, notice: Notice, now: datetime
) -> Settlement:
    """What ``notice`` (with ``subscription`` set) does, in the caller's transaction."""
    period = notice.subscription
    assert period is not None
    sub = await _find(conn, channel, period)
    if sub is None:
        log.warning("%s %s for an unknown subscription", channel, notice.kind)
        return Settlement("unknown_subscription")
    if sub.env != "live" or (
        notice.merchant_id is not None and notice.merchant_id != sub.merchant_id
    ):
        log.warning(
            "%s notification refused (%s): subscription %s",
            channel,
            Code.PAYMENT_NOTICE_ORDER_MISMATCH.name,
            sub.id,
        )
        raise ApiError(Code.PAYMENT_NOTICE_ORDER_MISMATCH)
    return await _apply(conn, channel, sub, notice, now)


async def _apply(
    conn: AsyncConnection, channel: str, sub: Any, notice: Notice, now: datetime
) -> Settlement:
    """What ``notice`` says of ``sub``, applied: the one rule of every channel's reports, a
    provider's notification's or the gateway's own renewal's."""
    period = notice.subscription
    assert period is not None
    if period.state == "expired":
        await _expire(conn, sub.id, now)
        return Settlement("subscription_checkout_expired")
    await _link(conn, sub, period.provider_subscription_id, period.provider_customer_id)
    if period.state == "linked":
        return Settlement(period.outcome)
    at = notice.created or now
    if period.state == "paid":
        if period.invoice_id is None or notice.amount_minor is None or notice.currency is None:
            log.error("%s subscription %s: a paid period without its id or amount", channel, sub.id)
            return Settlement("mismatch")
        if notice.currency.upper() != "USD":
            log.error(
                "%s subscription %s: period %s not in USD", channel, sub.id, period.invoice_id
            )
            return Settlement("mismatch")
        plan_id = await _plan_of_price(conn, sub.env, period.price_id)
        paid = PaidPeriod(
            period.invoice_id, notice.amount_minor, notice.currency, period.period_end, plan_id
        )
        return await credit_period(conn, sub, paid, now, at=at)
    if period.state == "past_due":
        if period.invoice_id is not None:
            failed = FailedPeriod(
                period.invoice_id,
                notice.amount_minor or 0,
                notice.currency or "USD",
                period.period_start,
                period.period_end,
            )
            await record_failure(conn, sub, failed, now)
        return Settlement("past_due", await move_state(conn, sub.id, at, now, status="past_due"))
    deliveries = await move_state(
        conn,
        sub.id,
        at,
        now,
        status="canceled" if period.state == "canceled" else period.status,
        cancel_at_period_end=period.cancel_at_period_end,
        current_period_end=period.period_end,
        plan_id=await _plan_of_price(conn, sub.env, period.price_id),
    )
    return Settlement("subscription_updated", deliveries)


# --- reconciliation ---

_ABANDONED_AFTER = timedelta(days=1)


async def _due_for_look(db: Database, settings: Settings, now: datetime) -> list[str]:
    """A channel's live subscriptions to look at: not paid yet (a first period's reports all
    lost), past due, or past their period's end (a renewal's report not seen), not looked at
    lately."""
    before = now - timedelta(seconds=settings.reconcile_after_seconds)
    asked = [p for p in channels.all_providers() if p.subscriptions]
    stmt = (
        select(_S.c.id)
        .where(
            _S.c.provider.in_([p.name for p in asked]),
            _S.c.env == "live",
            _S.c.status.in_(HOLDING),
            _S.c.created_at <= before,
            or_(_S.c.checked_at.is_(None), _S.c.checked_at <= before),
            # A checkout abandoned is not asked after forever: a day past its expiry at most,
            # where the provider would not say it expired.
            or_(
                _S.c.provider.in_([p.name for p in asked if not p.forgets_abandoned]),
                _S.c.status != "incomplete",
                _S.c.expires_at.is_(None),
                _S.c.expires_at > now - _ABANDONED_AFTER,
            ),
            or_(
                _S.c.status != "active",
                _S.c.current_period_end.is_(None),
                _S.c.current_period_end <= now,
            ),
        )
        .order_by(_S.c.checked_at.is_not(None), _S.c.checked_at, _S.c.created_at)
        .limit(settings.reconcile_batch)
    )
    async with db.read() as conn:
        return list((await conn.execute(stmt)).scalars())


async def check(db: Database, settings: Settings, sub_id: str, now: datetime) -> Outcome:
    """Ask the subscription's provider for its paid periods and credit each not credited yet,
    by the rule its reports use."""
    async with db.read() as conn:
        sub = (await conn.execute(select(_S).where(_S.c.id == sub_id))).one()
    provider = offering.known(sub.provider)
    credentials = await offering.live_credentials(db, settings, provider)
    if credentials is None:
        raise ApiError(Code.PAYMENT_CHANNEL_NOT_CONFIGURED, data={"channel": provider.name})
    ref = SubscriptionRef(
        sub.id, sub.provider_session_id, sub.provider_subscription_id, sub.provider_customer_id
    )
    async with offering.context(settings, "live", credentials, now=now) as ctx:
        found = await provider.paid_periods(ctx, ref)
    deliveries: list[str] = []
    credited = 0
    async with db.transaction() as conn:
        if found.checkout_expired:
            await _expire(conn, sub_id, now)
        await _link(conn, sub, found.provider_subscription_id, found.customer_id)
        for period in found.paid:
            if period.currency.upper() != "USD":
                log.error(
                    "%s subscription %s: period %s not in USD",
                    provider.name,
                    sub_id,
                    period.invoice_id,
                )
                continue
            plan_id = await _plan_of_price(conn, sub.env, period.price_id)
            paid = PaidPeriod(
                period.invoice_id, period.amount_minor, period.currency, period.period_end, plan_id
            )
            settled = await credit_period(conn, sub, paid, now, at=now)
            credited += settled.result == "credited"
            deliveries += settled.deliveries
        said = (found.status, found.cancel_at_period_end, found.current_period_end, found.price_id)
        if any(value is not None for value in said):
            deliveries += await move_state(
                conn,
                sub_id,
                now,
                now,
                status=found.status,
                cancel_at_period_end=found.cancel_at_period_end,
                current_period_end=found.current_period_end,
                plan_id=await _plan_of_price(conn, sub.env, found.price_id),
            )
        await conn.execute(update(_S).where(_S.c.id == sub_id).values(checked_at=now))
    data = {"subscription_id": sub_id, "credited": credited}
    return Outcome(Code.SUBSCRIPTION_CHECKED, data, deliveries=deliveries)


async def sweep(db: Database, settings: Settings, *, now: datetime | None = None) -> list[Outcome]:
    """The worker's look at every channel subscription due one; one whose provider cannot say
    or will not answer waits for the next sweep."""
    now = now or utcnow()
    done: list[Outcome] = []
    for sub_id in await _due_for_look(db, settings, now):
        try:
            done.append(await check(db, settings, sub_id, now))
        except NotSupported:
            async with db.transaction() as conn:
                await conn.execute(update(_S).where(_S.c.id == sub_id).values(checked_at=now))
        except ApiError as exc:
            log.warning("subscription %s not reconciled: %s", sub_id, exc.code.name)
    return done


# --- the gateway's own renewals (a channel that ``renews_here``: the sandbox) ---

# Periods ``renew_due`` pays for one subscription in one call, at most.
MAX_RENEWALS = 120
# Subscriptions a renewal sweep looks at, at most (the oldest period ends first).
RENEW_BATCH = 500


def _renewing(sub: Any, plan: Any) -> Renewing:
    return Renewing(
        subscription_id=sub.id,
        status=sub.status,
        interval=sub.interval,
        current_period_end=sub.current_period_end,
        periods_paid=sub.periods_paid,
        cancel_at_period_end=sub.cancel_at_period_end,
        card_fails=sub.card_fails,
        price_monthly=plan.price_monthly,
        price_yearly=plan.price_yearly,
    )


def _renewed_here() -> list[str]:
    return [p.name for p in channels.all_providers() if p.renews_here]


async def _renew_one(db: Database, sub_id: str, now: datetime) -> list[str]:
    """The periods of one subscription renewed here that ended by ``now``, a transaction each:
    every report its provider's ``renewal`` makes applied as a notification's, until none is
    due or one is not a paid period (past due, canceled)."""
    deliveries: list[str] = []
    for _ in range(MAX_RENEWALS):
        async with db.transaction() as conn:
            sub = (await conn.execute(select(_S).where(_S.c.id == sub_id))).one()
            plan = (await conn.execute(select(_PL).where(_PL.c.id == sub.plan_id))).one()
            provider = offering.known(sub.provider)
            notice = provider.renewal(_renewing(sub, plan), now)
            if notice is None or notice.subscription is None:
                return deliveries
            settled = await _apply(conn, provider.name, sub, notice, now)
            deliveries += settled.deliveries
            if notice.subscription.state != "paid":
                return deliveries
    return deliveries


async def renew_due(db: Database, merchant_id: str, env: str, now: datetime) -> Outcome:
    """The renewals up to ``now`` (a staging test clock's time, or the wall's) of the
    merchant's subscriptions in ``env`` that the gateway renews itself: each whose period ended
    by then is renewed, once per period, however often and however concurrently this runs."""
    async with db.read() as conn:
        ids = list(
            (
                await conn.execute(
                    select(_S.c.id).where(
                        _S.c.merchant_id == merchant_id,
                        _S.c.env == env,
                        _S.c.provider.in_(_renewed_here()),
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
    its subscriptions and credit living through the time it skipped, as they would have: every
    period that ended by the new now is renewed (or falls past due), once, and then every
    credit grant whose expiry it passed lapses (the new periods' own, if passed too), before
    the reply rather than at the worker's next sweep."""
    moved = await sandbox_clock.advance(db, caller, seconds)
    clock = moved.one(ClockData)
    now = datetime.fromisoformat(clock.now)
    renewed = await renew_due(db, caller.merchant_id, STAGING, now)
    expired = await wallet_grants.expire_merchant(db, caller.merchant_id, STAGING, now)
    return Outcome(moved.code, clock, deliveries=[*renewed.deliveries, *expired.deliveries])


async def renewals(db: Database) -> list[Outcome]:
    """Every staging merchant's renewals due by its own test clock (the wall's where it never
    moved it), as time passing would renew them: the worker's reconciliation cron. A clock
    moved forward renews at once (``advance_clock``); this finds the rest."""
    real = utcnow()
    stmt = (
        select(_S.c.merchant_id, _S.c.current_period_end, _C.c.offset_seconds)
        .select_from(_S.outerjoin(_C, _C.c.merchant_id == _S.c.merchant_id))
        .where(
            _S.c.env == STAGING,
            _S.c.provider.in_(_renewed_here()),
            _S.c.status.in_(("active", "past_due")),
            _S.c.current_period_end.is_not(None),
        )
        .order_by(_S.c.current_period_end)
        .limit(RENEW_BATCH)
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
