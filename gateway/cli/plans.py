"""``aitopup plans``: subscription plans, as the admin API keeps them."""

import argparse
import asyncio
import sys

from pydantic import ValidationError

from ..admin import plans as plan_admin
from ..admin.audit import Call
from ..billing.subscriptions.schemas import PlanAdminData, PlanCreate, PlanUpdate
from ..operator import command_store
from ..values.outcome import ApiError
from ..values.settings import Settings, load_settings
from .texts import problems

__all__ = ["create_plan", "list_plans", "update_plan"]


def _plan_line(plan: PlanAdminData) -> str:
    state = "on sale" if plan.active else "off sale"
    lapse = ", lapsing at its end" if plan.credits_expire else ""
    stripe = f", Stripe {plan.stripe_product_id}" if plan.stripe_product_id else ""
    return (
        f"{plan.id}  {plan.env}  {plan.name}: {plan.price_monthly} a month, "
        f"{plan.price_yearly} a year, {plan.credits_included} credited a period{lapse} "
        f"({state}{stripe})"
    )


async def _plans(settings: Settings, env: str | None, made: PlanCreate | None) -> list[str]:
    async with command_store(settings) as db:
        if made is not None:
            # Audited as the admin API's is, the actor named ``cli``; a live plan's Stripe
            # product and prices are made as the admin API makes them.
            call = Call("cli", "plans.create", "CLI", "aitopup plans create", None)
            created = await plan_admin.create_plan(db, settings, call, made)
            return [_plan_line(created.one(PlanAdminData))]
        found = (await plan_admin.list_plans(db, env)).many(PlanAdminData)
        return [_plan_line(p) for p in found]


async def _plan_update(settings: Settings, plan_id: str, changes: PlanUpdate) -> str:
    async with command_store(settings) as db:
        # As PUT /api/admin/v1/billing/plans/{id}: a live plan's new price is a new Stripe
        # price, made before the row is written; audited with the actor ``cli``.
        call = Call("cli", "plans.update", "CLI", "aitopup plans update", None)
        done = await plan_admin.update_plan(db, settings, call, plan_id, changes)
        return _plan_line(done.one(PlanAdminData))


def list_plans(args: argparse.Namespace) -> int:
    """Every plan (of one environment with --env), on sale or not."""
    for line in asyncio.run(_plans(load_settings(), args.env, None)) or ["no plans"]:
        print(line)
    return 0


def create_plan(args: argparse.Namespace) -> int:
    """A plan, as POST /api/admin/v1/billing/plans makes one."""
    settings = load_settings()
    body = {
        "env": args.env,
        "name": args.name,
        "description": args.description,
        "price_monthly": args.price_monthly,
        "price_yearly": args.price_yearly,
        "credits_included": args.credits_included,
        "features": args.feature,
        "active": not args.off_sale,
        "credits_expire": args.credits_expire,
    }
    try:
        made = PlanCreate.model_validate(body)
    except ValidationError as exc:
        print(f"aitopup plans create: {problems(exc)}", file=sys.stderr)
        return 2
    try:
        lines = asyncio.run(_plans(settings, None, made))
    except ApiError as exc:
        print(f"aitopup plans create: {exc.message or exc.code.name}", file=sys.stderr)
        return 1
    print(lines[0])
    return 0


def update_plan(args: argparse.Namespace) -> int:
    """A plan changed, as PUT /api/admin/v1/billing/plans/{id} changes one: only what is given."""
    given = {
        "name": args.name,
        "description": args.description,
        "price_monthly": args.price_monthly,
        "price_yearly": args.price_yearly,
        "credits_included": args.credits_included,
        "features": [] if args.no_features else args.feature,
        "active": args.active,
        "credits_expire": args.credits_expire,
    }
    body = {name: value for name, value in given.items() if value is not None}
    if not body:
        print("aitopup plans update: nothing to change: give at least one option", file=sys.stderr)
        return 2
    try:
        changes = PlanUpdate.model_validate(body)
    except ValidationError as exc:
        print(f"aitopup plans update: {problems(exc)}", file=sys.stderr)
        return 2
    try:
        line = asyncio.run(_plan_update(load_settings(), args.plan_id, changes))
    except ApiError as exc:
        print(f"aitopup plans update: {exc.message}", file=sys.stderr)
        return 1
    print(line)
    return 0
