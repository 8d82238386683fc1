"""Plans, kept by operators per environment.

A live plan's product and prices are made at Stripe (``stripe_plans.save_plan``) before the row
is written, never inside a transaction; a plan saved while Stripe is not configured keeps no
Stripe ids and cannot be bought (``PLAN_NOT_PURCHASABLE``) until it is saved again with Stripe
configured. Staging plans never reach Stripe: the sandbox sells them."""

from typing import Any

from sqlalchemy import insert, select, update

from ..billing.channels.providers import stripe_plans
from ..billing.subscriptions.plans import PLANS as _PL
from ..billing.subscriptions.plans import admin_plan
from ..billing.subscriptions.schemas import PlanCreate, PlanUpdate
from ..store.engine import Database
from ..store.rows import CoreRow
from ..values.clock import new_id, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from .audit import Call, record

__all__ = ["create_plan", "list_plans", "update_plan"]

_ORDER = (_PL.c.sort_order, _PL.c.id)


async def list_plans(db: Database, env: str | None) -> Outcome:
    """Every plan (of one env, when named), on sale or not."""
    stmt = select(_PL).order_by(*_ORDER)
    if env is not None:
        stmt = stmt.where(_PL.c.env == env)
    async with db.read() as conn:
        return Outcome(Code.SUCCESS, [admin_plan(r) for r in await conn.execute(stmt)])


def _current(row: CoreRow | None) -> stripe_plans.PlanPrices | None:
    if row is None or not (
        row.stripe_product_id and row.stripe_price_monthly_id and row.stripe_price_yearly_id
    ):
        return None
    return stripe_plans.PlanPrices(
        row.stripe_product_id, row.stripe_price_monthly_id, row.stripe_price_yearly_id
    )


async def _at_stripe(
    settings: Settings, plan_id: str, values: dict[str, Any], row: CoreRow | None
) -> dict[str, Any]:
    """The Stripe ids of a live plan with ``values``, made or kept; none when Stripe is not
    configured (the plan is saved, not yet purchasable)."""
    if settings.stripe_secret_key is None:
        return {}
    current = _current(row)
    prices = await stripe_plans.save_plan(
        settings,
        plan_id,
        name=values["name"],
        description=values["description"],
        price_monthly=values["price_monthly"],
        price_yearly=values["price_yearly"],
        current=current,
        monthly_was=row.price_monthly if current is not None and row is not None else None,
        yearly_was=row.price_yearly if current is not None and row is not None else None,
    )
    return {
        "stripe_product_id": prices.product_id,
        "stripe_price_monthly_id": prices.monthly_price_id,
        "stripe_price_yearly_id": prices.yearly_price_id,
    }


async def create_plan(
    db: Database, settings: Settings, call: Call, body: PlanCreate, *, plan_id: str | None = None
) -> Outcome:
    """A new plan, under ``plan_id`` when given (a seed found again by it), else a fresh id."""
    now = utcnow()
    plan_id = plan_id or new_id("plan")
    values = body.model_dump()
    ids = await _at_stripe(settings, plan_id, values, None) if body.env == "live" else {}
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                insert(_PL)
                .values(id=plan_id, **values, **ids, created_at=now, updated_at=now)
                .returning(_PL)
            )
        ).one()
        await record(conn, call, Code.CREATED, now, target_id=plan_id, details={**values, **ids})
    return Outcome(Code.CREATED, admin_plan(row))


async def update_plan(
    db: Database, settings: Settings, call: Call, plan_id: str, body: PlanUpdate
) -> Outcome:
    """Change a plan; a live plan's product and prices follow at Stripe first. The row is
    written only if it is still as it was read (``updated_at``), so two saves racing cannot
    leave Stripe's prices and ours apart: the loser is told to try again."""
    now = utcnow()
    changes = body.model_dump(exclude_unset=True)
    async with db.read() as conn:
        row = (await conn.execute(select(_PL).where(_PL.c.id == plan_id))).first()
    if row is None:
        raise ApiError(Code.PLAN_NOT_FOUND)
    merged = {
        name: changes.get(name, getattr(row, name))
        for name in ("name", "description", "price_monthly", "price_yearly")
    }
    ids = await _at_stripe(settings, plan_id, merged, row) if row.env == "live" else {}
    ids = {k: v for k, v in ids.items() if getattr(row, k) != v}
    async with db.transaction() as conn:
        saved = (
            await conn.execute(
                update(_PL)
                .where(_PL.c.id == plan_id, _PL.c.updated_at == row.updated_at)
                .values(**changes, **ids, updated_at=now)
                .returning(_PL)
            )
        ).first()
        if saved is None:
            raise ApiError(Code.SERVICE_UNAVAILABLE, "The plan changed meanwhile: try again")
        await record(conn, call, Code.SUCCESS, now, target_id=plan_id, details={**changes, **ids})
    return Outcome(Code.SUCCESS, admin_plan(saved))
