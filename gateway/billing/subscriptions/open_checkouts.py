"""A subscription checkout opened and not paid yet (``incomplete``, not past its expiry): it
holds the merchant's one place in its environment (``subscriptions``), so every door says so
alike, with where to continue it and how to cancel it, rather than "already subscribed".

Cancelling gives the place back as an expired checkout does (status ``expired``), and only
where the checkout can no longer be paid after: the sandbox's (ours), and Stripe's, whose
Checkout Session is expired at Stripe first (a session paid meanwhile refuses, and its payment
is credited as ever). Another channel's checkout cannot be taken back from here: it is
continued, or it ends by itself at its expiry."""

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ...callers import Caller
from ...store.engine import Database
from ...store.models import Plan, Subscription, table_of
from ...values.clock import rfc3339_or_none, utcnow
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from ...values.settings import Settings
from ..channels.providers import stripe_plans
from ..channels.registry import SANDBOX, STRIPE
from . import states as subscription_states
from .plans import plan_data
from .schemas import OpenCheckoutData
from .states import EXPIRED, INCOMPLETE

__all__ = ["CANCELLABLE", "cancel", "find", "open_refusal"]

_S = table_of(Subscription)
_PL = table_of(Plan)

CANCELLABLE = (SANDBOX, STRIPE)  # the channels whose open checkout this side can end


async def _row(conn: AsyncConnection, merchant_id: str, env: str, now: datetime) -> Any:
    return (
        await conn.execute(
            select(_S)
            .where(
                _S.c.merchant_id == merchant_id,
                _S.c.env == env,
                _S.c.status == "incomplete",
                or_(_S.c.expires_at.is_(None), _S.c.expires_at > now),
            )
            .order_by(_S.c.id.desc())
            .limit(1)
        )
    ).first()


def _data(row: Any, plan: Any) -> OpenCheckoutData:
    return OpenCheckoutData(
        subscription_id=row.id,
        plan=plan_data(plan),
        interval=row.interval,
        channel=row.provider,
        url=row.checkout_url,
        expires_at=rfc3339_or_none(row.expires_at),
    )


async def find(
    conn: AsyncConnection, merchant_id: str, env: str, now: datetime | None = None
) -> OpenCheckoutData | None:
    """The merchant's open subscription checkout in ``env``, or None."""
    row = await _row(conn, merchant_id, env, now or utcnow())
    if row is None:
        return None
    plan = (await conn.execute(select(_PL).where(_PL.c.id == row.plan_id))).one()
    return _data(row, plan)


async def open_refusal(conn: AsyncConnection, caller: Caller) -> ApiError | None:
    """``4570`` with the open checkout when one holds the caller's place, else None."""
    found = await find(conn, caller.merchant_id, caller.env)
    if found is None:
        return None
    return ApiError(Code.SUBSCRIPTION_CHECKOUT_OPEN, data={"open_checkout": found.model_dump()})


async def cancel(db: Database, settings: Settings, caller: Caller) -> Outcome:
    """End the caller's open subscription checkout: nothing was charged, the place is free."""
    now = utcnow()
    async with db.read() as conn:
        row = await _row(conn, caller.merchant_id, caller.env, now)
        found = None if row is None else await find(conn, caller.merchant_id, caller.env, now)
    if row is None or found is None:
        raise ApiError(Code.SUBSCRIPTION_CHECKOUT_NOT_OPEN)
    if row.provider not in CANCELLABLE:
        raise ApiError(
            Code.SUBSCRIPTION_CHECKOUT_NOT_CANCELLABLE, data={"open_checkout": found.model_dump()}
        )
    if row.provider == STRIPE and row.provider_session_id:
        await stripe_plans.expire_session(settings, row.provider_session_id)
    async with db.transaction() as conn:
        ended = await subscription_states.move(
            conn,
            INCOMPLETE,
            EXPIRED,
            now,
            _S.c.id == row.id,
            _S.c.periods_paid == 0,
            returning=(_S.c.id,),
        )
    if not ended:  # paid, or ended by another cancel, between the read and this write
        async with db.read() as conn:
            status = (await conn.execute(select(_S.c.status).where(_S.c.id == row.id))).scalar()
        if status == "expired":
            raise ApiError(Code.SUBSCRIPTION_CHECKOUT_NOT_OPEN)
        raise ApiError(Code.SUBSCRIPTION_NOT_CHANGEABLE)
    return Outcome(Code.SUCCESS, {"subscription_id": row.id}, status="expired")
