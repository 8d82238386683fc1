"""Plans: what operators offer by the period, per environment (``admin.plans`` keeps them),
and what merchants see of them."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ...callers import Caller
from ...store.engine import Database
from ...store.models import Plan, table_of
from ...values.clock import rfc3339
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from .schemas import PlanAdminData, PlanData

__all__ = ["PLANS", "admin_plan", "find_plan", "plan_data", "public_plans"]

PLANS = _PL = table_of(Plan)


def plan_data(row: Any) -> PlanData:
    return PlanData(
        id=row.id,
        name=row.name,
        description=row.description,
        price_monthly=row.price_monthly,
        price_yearly=row.price_yearly,
        credits_included=row.credits_included,
        features=list(row.features or []),
    )


def admin_plan(row: Any) -> PlanAdminData:
    return PlanAdminData(
        **plan_data(row).model_dump(),
        env=row.env,
        credits_expire=row.credits_expire,
        active=row.active,
        sort_order=row.sort_order,
        stripe_product_id=row.stripe_product_id,
        stripe_price_monthly_id=row.stripe_price_monthly_id,
        stripe_price_yearly_id=row.stripe_price_yearly_id,
        created_at=rfc3339(row.created_at),
        updated_at=rfc3339(row.updated_at),
    )


_ORDER = (_PL.c.sort_order, _PL.c.id)


async def public_plans(db: Database, caller: Caller) -> Outcome:
    """The plans on sale in the caller's environment, in their order."""
    stmt = select(_PL).where(_PL.c.env == caller.env, _PL.c.active.is_(True)).order_by(*_ORDER)
    async with db.read() as conn:
        return Outcome(Code.SUCCESS, [plan_data(r) for r in await conn.execute(stmt)])


async def find_plan(conn: AsyncConnection, env: str, plan_id: str, *, on_sale: bool) -> Any:
    """The plan of ``env`` (on sale, when asked), or ``PLAN_NOT_FOUND``: another env's plan is
    not found."""
    stmt = select(_PL).where(_PL.c.id == plan_id, _PL.c.env == env)
    if on_sale:
        stmt = stmt.where(_PL.c.active.is_(True))
    row = (await conn.execute(stmt)).first()
    if row is None:
        raise ApiError(Code.PLAN_NOT_FOUND)
    return row
