"""A merchant's subscription as every door shows it (``current``): the newest paid for or
canceled, with its plan."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ...callers import Caller
from ...store.engine import Database
from ...store.models import Plan, Subscription, table_of
from ...values.clock import rfc3339_or_none
from ...values.code_names import Code
from ...values.outcome import Outcome
from . import open_checkouts
from .plans import plan_data
from .schemas import SubscriptionData, SubscriptionReply

__all__ = ["current", "get_subscription", "subscription_data"]

_S = table_of(Subscription)
_PL = table_of(Plan)


def subscription_data(row: Any, plan: Any) -> SubscriptionData:
    return SubscriptionData(
        id=row.id,
        plan=plan_data(plan),
        interval=row.interval,
        status=row.status,
        current_period_end=rfc3339_or_none(row.current_period_end),
        cancel_at_period_end=row.cancel_at_period_end,
        periods_paid=row.periods_paid,
    )


async def current(conn: AsyncConnection, merchant_id: str, env: str) -> SubscriptionData | None:
    """The merchant's subscription in ``env`` as every door shows it: the newest that was paid
    for or is canceled (an unpaid checkout is not one yet), or None."""
    row = (
        await conn.execute(
            select(_S)
            .where(
                _S.c.merchant_id == merchant_id,
                _S.c.env == env,
                _S.c.status.in_(("active", "past_due", "canceled")),
            )
            .order_by(_S.c.status.in_(("active", "past_due")).desc(), _S.c.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    plan = (await conn.execute(select(_PL).where(_PL.c.id == row.plan_id))).one()
    return subscription_data(row, plan)


async def get_subscription(db: Database, caller: Caller) -> Outcome:
    async with db.read() as conn:
        found = await current(conn, caller.merchant_id, caller.env)
        opened = await open_checkouts.find(conn, caller.merchant_id, caller.env)
    status = None if found is None else found.status
    reply = SubscriptionReply(subscription=found, open_checkout=opened)
    return Outcome(Code.SUCCESS, reply, status=status)
