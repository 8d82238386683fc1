"""A channel's report of a subscription (``Notice.subscription``, a ``PeriodNotice``), acted on
by the rules Stripe's events use (``subscriptions.credit_period``, ``record_failure``,
``move_state``), so a period is credited once per ``invoice_id`` whichever channel reports it
and however often, and a state the channel reports moves the subscription as Stripe's does.

What each state does:

- ``paid``: the period is credited, once per ``invoice_id`` (its ``subscription_invoices``
  row); a repeat, under another event id or the same, finds the row and credits nothing.
- ``past_due``: the subscription goes past due (``subscription.past_due``), nothing credited;
  a later ``paid`` makes it active again, as Stripe's ``invoice.paid`` does.
- ``canceled``: the subscription ends (``subscription.canceled``); ``canceled`` is final.
- ``active``: what it says of the period's end and of a cancellation at its end is kept; its
  status is not moved, since only a paid period makes a subscription active (a channel's
  "updated" report cannot tell a recovered payment from any other change).

Every move is dated by the notice's ``created`` and applied only if nothing said later was
applied already (``state_at``), so reports out of order leave the newest word standing.
The subscription is found by our id (given to the provider at ``open_subscription``) or by the
provider's, and must be this channel's and live (staging's are the sandbox's); one of another
merchant is refused, as an order of another merchant is.
"""

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store.db import Database
from ..store.models import Subscription, table_of
from ..values.codes import Code
from ..values.outcome import ApiError
from .orders import Settlement
from .providers import Notice, PeriodNotice
from .subscriptions import FailedPeriod, PaidPeriod, credit_period, move_state, record_failure

__all__ = ["on_period"]

log = logging.getLogger(__name__)

_S = table_of(Subscription)


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


async def _link(conn: AsyncConnection, sub: Any, period: PeriodNotice) -> None:
    """Keep the provider's ids of the subscription and its customer, once known."""
    for column, value in (
        ("provider_subscription_id", period.provider_subscription_id),
        ("provider_customer_id", period.provider_customer_id),
    ):
        if value is not None and getattr(sub, column) is None:
            await conn.execute(
                update(_S)
                .where(_S.c.id == sub.id, _S.c[column].is_(None))
                .values({column: value[:255]})
            )


async def on_period(
    conn: AsyncConnection, db: Database, channel: str, notice: Notice, now: datetime
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
    await _link(conn, sub, period)
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
        paid = PaidPeriod(
            period.invoice_id, notice.amount_minor, notice.currency, period.period_end
        )
        return await credit_period(conn, db, sub, paid, now, at=at)
    if period.state == "past_due":
        if period.invoice_id is not None:
            failed = FailedPeriod(
                period.invoice_id,
                notice.amount_minor or 0,
                notice.currency or "USD",
                None,
                period.period_end,
            )
            await record_failure(conn, sub, failed, now)
        return Settlement("past_due", await move_state(conn, sub.id, at, now, status="past_due"))
    deliveries = await move_state(
        conn,
        sub.id,
        at,
        now,
        status="canceled" if period.state == "canceled" else None,
        cancel_at_period_end=period.cancel_at_period_end,
        current_period_end=period.period_end,
    )
    return Settlement("subscription_updated", deliveries)
