"""A subscription's periods: each paid one credited exactly once, each failed one kept, and
what the provider says of the state applied in order.

A paid period is one row of ``subscription_invoices`` keyed by the provider's invoice id,
written by ``credit_period`` in the same transaction as its wallet credit, ledger entry
(``subscription_credit``) and events: every channel's period reports (Stripe's
``invoice.paid`` among them, however often, in whatever order beside its other events), the
reconciliation sweep that asks a channel's provider for a subscription's paid periods, and the
sandbox's renewals all go through it (``renewals``, one module for every channel),
so whichever comes first credits and every other finds the row. What the provider says of the
state (Stripe's ``customer.subscription.updated``, ``invoice.payment_failed``) is applied only if
it is not older than what was applied before (``state_at``); ``canceled`` is final.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ... import outbox
from ...ledger import grants
from ...store.expressions import upsert
from ...store.models import Plan, Subscription, SubscriptionFailure, SubscriptionInvoice, table_of
from ...store.types import UTCDateTime
from ...values import memos
from ...values.clock import rfc3339_or_none
from .. import receipts
from ..orders import Settlement
from ..wallet.funding import credit_merchant
from . import states as subscription_states

__all__ = [
    "CREDIT_KIND",
    "FINAL",
    "HOLDING",
    "FailedPeriod",
    "PaidPeriod",
    "credit_period",
    "move_state",
    "record_failure",
]

log = logging.getLogger(__name__)

_S = table_of(Subscription)
_SI = table_of(SubscriptionInvoice)
_SF = table_of(SubscriptionFailure)
_PL = table_of(Plan)

CREDIT_KIND = "subscription_credit"
HOLDING = ("incomplete", "active", "past_due")
FINAL = ("canceled", "expired")

CREATED = "subscription.created"
RENEWED = "subscription.renewed"


@dataclass(frozen=True, slots=True)
class PaidPeriod:
    """A paid invoice of a subscription: its id (the key of its one credit), what was paid,
    when the period it pays ends, and the plan it pays for (None: the subscription's)."""

    invoice_id: str
    amount_paid_cents: int
    currency: str
    period_end: datetime | None
    plan_id: str | None = None


def _event_data(row: Any, plan: Any, **more: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "env": row.env,
        "plan_id": plan.id,
        "plan": plan.name,
        "interval": row.interval,
        "status": row.status,
        "current_period_end": rfc3339_or_none(row.current_period_end),
        "cancel_at_period_end": row.cancel_at_period_end,
        **more,
    }


async def _emit(
    conn: AsyncConnection, row: Any, type_: str, now: datetime, **more: Any
) -> list[str]:
    plan = (await conn.execute(select(_PL).where(_PL.c.id == row.plan_id))).one()
    return await outbox.emit(
        conn,
        env=row.env,
        merchant_id=row.merchant_id,
        type_=type_,
        data=_event_data(row, plan, **more),
        now=now,
    )


def _moment(value: datetime) -> Any:
    """A time as the store keeps one (``UTCDateTime``), where SQL picks between values."""
    return literal(value, UTCDateTime())


def _not_after(at: datetime) -> Any:
    """Nothing the provider said later than ``at`` was applied yet."""
    return or_(_S.c.state_at.is_(None), _S.c.state_at <= at)


def _later_end(end: datetime | None) -> Any:
    """The period's end moved to ``end`` if that is later: a period never goes back, whatever
    order its reports come in."""
    if end is None:
        return _S.c.current_period_end
    return case(
        (or_(_S.c.current_period_end.is_(None), _S.c.current_period_end < end), _moment(end)),
        else_=_S.c.current_period_end,
    )


async def credit_period(
    conn: AsyncConnection,
    sub: Any,
    paid: PaidPeriod,
    now: datetime,
    *,
    at: datetime | None = None,
) -> Settlement:
    """The one rule of a paid period: its row (the invoice id, once), the plan's
    ``credits_included`` into the wallet with its entry, the subscription active (unless it
    ended) through the period's end, and ``subscription.created`` (its first period) or
    ``subscription.renewed``. Found already: nothing, ``duplicate``. ``at``: when the payment
    was reported (an event's ``created``; ``now`` by default): a past-due subscription is made
    active only if nothing said later was applied."""
    at = at or now
    plan = None
    if paid.plan_id is not None:
        plan = (
            await conn.execute(select(_PL).where(_PL.c.id == paid.plan_id, _PL.c.env == sub.env))
        ).first()
    if plan is None:
        plan = (await conn.execute(select(_PL).where(_PL.c.id == sub.plan_id))).one()
    recorded = (
        await conn.execute(
            upsert(_SI)
            .values(
                invoice_id=paid.invoice_id,
                subscription_id=sub.id,
                env=sub.env,
                merchant_id=sub.merchant_id,
                plan_id=plan.id,
                amount_paid_cents=paid.amount_paid_cents,
                currency=paid.currency.upper()[:3],
                credit_cents=plan.credits_included,
                period_end=paid.period_end,
                paid_at=now,
            )
            .on_conflict_do_nothing(index_elements=[_SI.c.invoice_id])
            .returning(_SI.c.invoice_id)
        )
    ).first()
    if recorded is None:
        return Settlement("duplicate")
    # Paid makes it active: a checkout, or a subscription past due unless something said
    # later was applied (judged before ``state_at`` moves below); one that ended stays so.
    mine = _S.c.id == sub.id
    states = subscription_states
    if not await states.move(conn, states.INCOMPLETE, states.ACTIVE, now, mine):
        await states.move(conn, states.PAST_DUE, states.ACTIVE, now, mine, _not_after(at))
    row = (
        await conn.execute(
            update(_S)
            .where(mine)
            .values(
                periods_paid=_S.c.periods_paid + 1,
                plan_id=plan.id,
                current_period_end=_later_end(paid.period_end),
                state_at=case(
                    (or_(_S.c.state_at.is_(None), _S.c.state_at < at), _moment(at)),
                    else_=_S.c.state_at,
                ),
                expires_at=None,
                updated_at=now,
            )
            .returning(_S)
        )
    ).one()
    if row.status not in ("active",):
        log.warning("subscription %s paid while %s; credited", row.id, row.status)
    moved = await credit_merchant(
        conn,
        env=row.env,
        merchant_id=row.merchant_id,
        amount=plan.credits_included,
        source=CREDIT_KIND,
        reference=paid.invoice_id[:60],
        memo=memos.written(memos.PERIOD[row.interval], name=plan.name),
        now=now,
        # The plan's credits lapse at the period's end if it says so, else roll over.
        grant=grants.Grant("plan", expires_at=paid.period_end if plan.credits_expire else None),
    )
    # Numbered as it is paid, in the series of every payment of its environment (``receipts``).
    await receipts.issue(
        conn,
        env=row.env,
        merchant_id=row.merchant_id,
        reference=receipts.reference_of(paid.invoice_id),
        now=now,
    )
    type_ = CREATED if row.periods_paid == 1 else RENEWED
    events = await _emit(
        conn, row, type_, now, invoice_id=paid.invoice_id, credit_cents=plan.credits_included
    )
    return Settlement("credited", [*moved.delivery_ids, *events], row.status)


@dataclass(frozen=True, slots=True)
class FailedPeriod:
    """An invoice of a subscription whose payment failed: its id, what it asked, the period."""

    invoice_id: str
    amount_due_cents: int
    currency: str
    period_start: datetime | None
    period_end: datetime | None


async def record_failure(
    conn: AsyncConnection, sub: Any, failed: FailedPeriod, now: datetime
) -> None:
    """Keep that ``failed``'s payment failed, once per invoice however often it is reported:
    the merchant's list shows the period as failed until the same invoice is paid (its
    ``subscription_invoices`` row, written by ``credit_period``, then stands for it). Nothing
    is credited or moved here: the state is ``move_state``'s."""
    await conn.execute(
        upsert(_SF)
        .values(
            invoice_id=failed.invoice_id,
            subscription_id=sub.id,
            env=sub.env,
            merchant_id=sub.merchant_id,
            plan_id=sub.plan_id,
            amount_due_cents=failed.amount_due_cents,
            currency=failed.currency.upper()[:3],
            period_start=failed.period_start,
            period_end=failed.period_end,
            failed_at=now,
        )
        .on_conflict_do_nothing(index_elements=[_SF.c.invoice_id])
    )


# --- the state the provider reports ---


async def move_state(
    conn: AsyncConnection,
    sub_id: str,
    at: datetime,
    now: datetime,
    *,
    status: str | None = None,
    cancel_at_period_end: bool | None = None,
    current_period_end: datetime | None = None,
    plan_id: str | None = None,
) -> list[str]:
    """Apply what the provider said at ``at``, unless something said later was applied
    already or the subscription ended; a move into ``past_due`` or ``canceled`` emits its
    event, once (the move is conditional on the status being another)."""
    deliveries: list[str] = []
    if status is not None:
        # From every state the table moves to ``status`` (none final, none ``status``; not
        # paid yet is not past due: a checkout still open stays incomplete).
        moved = await subscription_states.move(
            conn,
            subscription_states.into(status),
            status,
            now,
            _S.c.id == sub_id,
            _not_after(at),
            values={"state_at": at},
            returning=(_S,),
        )
        event = subscription_states.entered(status).event
        if moved and event is not None:
            deliveries += await _emit(conn, moved[0], event, now)
    rest: dict[str, Any] = {}
    if cancel_at_period_end is not None:
        rest["cancel_at_period_end"] = cancel_at_period_end
    if current_period_end is not None:
        rest["current_period_end"] = _later_end(current_period_end)
    if plan_id is not None:
        rest["plan_id"] = plan_id
    if rest:
        await conn.execute(
            update(_S)
            .where(_S.c.id == sub_id, _S.c.status.not_in(FINAL), _not_after(at))
            .values(**rest, state_at=at, updated_at=now)
        )
    return deliveries
