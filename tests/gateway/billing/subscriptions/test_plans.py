"""Plans: kept by operators per environment through the admin API, audited; a live plan's
product and prices made at Stripe (the stand-in, through the ``stripe`` package), a new price
when one changes; merchants list their environment's plans on sale in the seed's shape."""

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gateway.billing.wallet import grants
from gateway.ledger import service as ledger
from gateway.store.engine import Database
from gateway.store.models import Plan, table_of
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced, merchant_balance
from tests.fixtures.stripe import StripeStandIn
from tests.fixtures.subscriptions import MakePlan, bought_in_sandbox
from tests.fixtures.webhooks import events_of

SEED_PLAN_KEYS = {
    "id",
    "name",
    "description",
    "price_monthly",
    "price_yearly",
    "credits_included",
    "features",
}


async def test_a_live_plan_gets_its_product_and_prices_and_a_changed_price_is_a_new_one(
    sub_admin: httpx.AsyncClient, stripe_stand_in: StripeStandIn, make_plan: MakePlan
) -> None:
    plan = await make_plan(name="Team", price_monthly=1500, price_yearly=15000)
    product = stripe_stand_in.products[plan["stripe_product_id"]]
    assert (product["name"], product["metadata"]) == ("Team", {"plan_id": plan["id"]})
    monthly = stripe_stand_in.prices[plan["stripe_price_monthly_id"]]
    yearly = stripe_stand_in.prices[plan["stripe_price_yearly_id"]]
    assert (monthly["unit_amount"], monthly["recurring"]["interval"]) == (1500, "month")
    assert (yearly["unit_amount"], yearly["recurring"]["interval"]) == (15000, "year")
    assert monthly["product"] == yearly["product"] == product["id"]

    reply = await sub_admin.put(
        f"/billing/plans/{plan['id']}", json={"price_monthly": 1700, "name": "Team+"}
    )
    assert reply.status_code == 200, reply.text
    changed = reply.json()["data"]
    assert changed["stripe_product_id"] == plan["stripe_product_id"]
    assert changed["stripe_price_yearly_id"] == plan["stripe_price_yearly_id"]
    assert changed["stripe_price_monthly_id"] != plan["stripe_price_monthly_id"]
    assert stripe_stand_in.prices[changed["stripe_price_monthly_id"]]["unit_amount"] == 1700
    assert stripe_stand_in.products[product["id"]]["name"] == "Team+"

    audit = await sub_admin.get("/audit", params={"target_id": plan["id"]})
    actions = sorted(row["action"] for row in audit.json()["data"])
    assert actions == ["plans.create", "plans.update"]


async def test_a_staging_plan_never_reaches_stripe(
    stripe_stand_in: StripeStandIn, make_plan: MakePlan
) -> None:
    before = len(stripe_stand_in.products)
    plan = await make_plan("staging", name="Sandbox Pro")
    assert plan["env"] == "staging"
    assert plan["stripe_product_id"] is None and plan["stripe_price_monthly_id"] is None
    assert len(stripe_stand_in.products) == before


BAD_PLANS: list[tuple[str, dict[str, Any]]] = [
    ("no env", {"env": None}),
    ("unknown env", {"env": "prod"}),
    ("price a string", {"price_monthly": "999"}),
    ("price a float", {"price_monthly": 9.99}),
    ("price a bool", {"price_yearly": True}),
    ("price below Stripe's least", {"price_monthly": 49}),
    ("no credits", {"credits_included": 0}),
    ("credits negative", {"credits_included": -5}),
    ("too many features", {"features": [f"f{i}" for i in range(21)]}),
    ("an empty feature", {"features": ["ok", "  "]}),
    ("a feature too long", {"features": ["x" * 201]}),
    ("features not strings", {"features": [1, 2]}),
    ("an unknown field", {"creem_product_id": "x"}),
    ("an empty name", {"name": ""}),
    ("credits_expire a string", {"credits_expire": "true"}),
    ("credits_expire a number", {"credits_expire": 1}),
]


async def _plans_count(db: Database) -> int:
    async with db.read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(table_of(Plan)))).scalar_one()
        )


@pytest.mark.parametrize(("why", "bad"), BAD_PLANS, ids=[w for w, _ in BAD_PLANS])
async def test_a_bad_plan_is_refused_by_the_envelope_and_nothing_is_saved(
    sub_admin: httpx.AsyncClient, db: Database, why: str, bad: dict[str, Any]
) -> None:
    body = {
        "env": "staging",
        "name": "Pro",
        "price_monthly": 999,
        "price_yearly": 9990,
        "credits_included": 1000,
        **bad,
    }
    body = {k: v for k, v in body.items() if v is not None}
    before = await _plans_count(db)
    reply = await sub_admin.post("/billing/plans", json=body)
    assert reply.status_code == 422, (why, reply.text)
    assert reply.json()["success"] is False
    assert reply.json()["code"] // 1000 == 3
    assert await _plans_count(db) == before


async def test_plan_updates_are_checked_and_an_unknown_plan_is_not_found(
    sub_admin: httpx.AsyncClient, make_plan: MakePlan
) -> None:
    plan = await make_plan("staging")
    for bad in (
        {"price_monthly": None},
        {"env": "live"},
        {"features": "x"},
        {"active": "yes"},
        {"credits_expire": None},
        {"credits_expire": "yes"},
        {"credits_expire": 0},
    ):
        reply = await sub_admin.put(f"/billing/plans/{plan['id']}", json=bad)
        assert reply.status_code == 422, (bad, reply.text)
    missing = await sub_admin.put("/billing/plans/plan_missing", json={"active": False})
    assert (missing.status_code, missing.json()["code"]) == (404, 4320)
    kept = await sub_admin.get("/billing/plans", params={"env": "staging"})
    [found] = [p for p in kept.json()["data"] if p["id"] == plan["id"]]
    assert found["price_monthly"] == plan["price_monthly"]


async def test_merchants_list_their_environments_plans_on_sale_in_the_seeds_shape(
    sub_api: httpx.AsyncClient,
    sub_admin: httpx.AsyncClient,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
) -> None:
    shown = await make_plan("staging", name="Shown", sort_order=0)
    hidden = await make_plan("staging", name="Hidden", sort_order=0)
    live = await make_plan("live", name="Live only", sort_order=0)
    reply = await sub_admin.put(f"/billing/plans/{hidden['id']}", json={"active": False})
    assert reply.status_code == 200
    merchant = await make_merchant("staging")

    listed = await sub_api.get("/subscription/plans", headers=merchant.headers)
    assert listed.status_code == 200
    body = listed.json()
    assert body["success"] is True and body["code"] == 1000
    ids = [p["id"] for p in body["data"]]
    assert shown["id"] in ids
    assert hidden["id"] not in ids and live["id"] not in ids
    [item] = [p for p in body["data"] if p["id"] == shown["id"]]
    assert SEED_PLAN_KEYS <= set(item) <= SEED_PLAN_KEYS | {"currency"}
    assert item["features"] == ["Unlimited AI chat", "Priority support"]
    assert (item["price_monthly"], item["price_yearly"], item["credits_included"]) == (
        999,
        9990,
        1000,
    )

    unauthenticated = await sub_api.get("/subscription/plans")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["success"] is False


async def test_an_operator_sets_whether_a_plans_credits_expire_and_reads_it(
    sub_admin: httpx.AsyncClient, make_plan: MakePlan
) -> None:
    kept = await make_plan("staging")
    assert kept["credits_expire"] is False  # rolled over unless the operator says otherwise
    lapsing = await make_plan("staging", credits_expire=True)
    assert lapsing["credits_expire"] is True
    changed = await sub_admin.put(f"/billing/plans/{kept['id']}", json={"credits_expire": True})
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["credits_expire"] is True
    listed = await sub_admin.get("/billing/plans", params={"env": "staging"})
    seen = {p["id"]: p["credits_expire"] for p in listed.json()["data"]}
    assert (seen[kept["id"]], seen[lapsing["id"]]) == (True, True)
    audit = await sub_admin.get("/audit", params={"target_id": kept["id"]})
    [update] = [row for row in audit.json()["data"] if row["action"] == "plans.update"]
    assert update["details"] == {"credits_expire": True}


@pytest.mark.parametrize("expire", [True, False])
async def test_a_plan_made_with_credits_expire_lapses_its_periods_grant_at_the_periods_end(
    sub_api: httpx.AsyncClient,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
    db: Database,
    expire: bool,
) -> None:
    merchant, plan, _ = await bought_in_sandbox(
        sub_api, make_plan, make_merchant, credits_expire=expire
    )
    listed = await sub_api.get("/billing/credit-grants", headers=merchant.headers)
    [period] = [g for g in listed.json()["data"] if g["category"] == "plan"]
    assert period["amount_cents"] == plan["credits_included"] == 1000
    before = await merchant_balance(db, merchant)
    async with db.read() as conn:
        wallet = await ledger.balance(conn, "staging", ledger.merchant_owner(merchant.merchant_id))
    assert wallet is not None

    async def swept(at: datetime) -> int:
        """The wallet's sweep at ``at`` (the worker's sweeps every wallet): how many lapsed."""
        return int((await grants.expire_wallet(db, wallet.wallet_id, at)).data["expired"])

    if not expire:
        assert period["expires_at"] is None
        assert await swept(datetime.now().astimezone() + timedelta(days=400)) == 0
        assert await merchant_balance(db, merchant) == before
        return
    subscription = await sub_api.get("/subscription", headers=merchant.headers)
    period_end = subscription.json()["data"]["subscription"]["current_period_end"]
    assert period["expires_at"] == period_end
    end = datetime.fromisoformat(period_end.replace("Z", "+00:00"))
    # Not a second early; once the period has ended (shown to the second), what is left lapses.
    assert await swept(end - timedelta(seconds=1)) == 0
    assert await swept(end + timedelta(seconds=1)) == 1
    assert await merchant_balance(db, merchant) == before - 1000
    [expired] = await events_of(db, merchant.merchant_id, "credit.expired")
    assert (expired["data"]["grant_id"], expired["data"]["expired_cents"]) == (period["id"], 1000)
    await assert_ledger_balanced(db)
