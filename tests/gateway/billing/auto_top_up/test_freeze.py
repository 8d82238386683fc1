"""The kill switch holds auto top-up: a run due while its environment is frozen, and one retrying
after a try the provider did not answer, charge nothing while frozen (the stood-in Stripe is
asked for no payment), write no order and take nothing from the month's cap; each is handed
back still due, its try not counted, and the first try after the unfreeze charges it once. On
both stores, in live through the Stripe stand-in."""

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import select

from gateway.billing.auto_top_up import runs
from gateway.store.engine import Database
from gateway.store.models import AutoTopUp, AutoTopUpRun, FundingOrder, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.stripe import StripeStandIn

_A = table_of(AutoTopUp)
_R = table_of(AutoTopUpRun)
_O = table_of(FundingOrder)
PATH = "/wallet/auto-top-up"
SETTINGS = {"threshold_cents": 5_000, "target_cents": 20_000, "monthly_cap_cents": 100_000}


async def _armed_and_crossed(
    api: httpx.AsyncClient, stand_in: StripeStandIn, merchant: MerchantKey
) -> None:
    """A card saved through Stripe's setup page, auto top-up set, and a send that crosses the
    threshold (10,000 → 4,000): one run due."""
    opened = await api.post(f"{PATH}/setup", headers=merchant.headers)
    assert opened.status_code == 200, opened.text
    stand_in.complete_setup(opened.json()["data"]["url"].rsplit("/", 1)[1])
    put = await api.put(PATH, json=SETTINGS, headers=merchant.headers)
    assert put.json()["data"]["armed"] is True, put.text
    body = {"platform": "claude", "amount_cents": 6_000, "recipient_email": "r@example.com"}
    sent = await api.post("/topup/send", json=body, headers=merchant.headers)
    assert sent.json()["code"] == 1001, sent.text


async def _run(db: Database, merchant: MerchantKey) -> Any:
    async with db.read() as conn:
        [run] = (
            await conn.execute(select(_R).where(_R.c.merchant_id == merchant.merchant_id))
        ).all()
    return run


async def _try(db: Database, settings: Settings, merchant: MerchantKey) -> tuple[str | None, Any]:
    """The merchant's run tried once, as the runner tries it after its lease: what it came to
    and the run as recorded."""
    sealer = Sealer(settings.secret_key.get_secret_value().encode())
    run = SimpleNamespace(**(await _run(db, merchant))._mapping)
    tried = await runs.attempt(db, settings, sealer, run, utcnow())
    return tried.status, await _run(db, merchant)


async def _charges(db: Database, stand_in: StripeStandIn, merchant: MerchantKey) -> list[Any]:
    """The payments the stood-in Stripe was asked for on the merchant's saved card."""
    async with db.read() as conn:
        customer = (
            await conn.execute(
                select(_A.c.customer_ref).where(_A.c.merchant_id == merchant.merchant_id)
            )
        ).scalar_one()
    return [i for i in stand_in.intents.values() if i.get("customer") == customer]


async def _month_cents(db: Database, merchant: MerchantKey) -> int:
    async with db.read() as conn:
        found: int = (
            await conn.execute(
                select(_A.c.month_cents).where(_A.c.merchant_id == merchant.merchant_id)
            )
        ).scalar_one()
    return found


def _held(run: Any, attempts: int) -> None:
    """Still due, its try not counted, due again about a minute on, failed nothing."""
    assert (run.status, run.outcome, run.attempts) == ("due", None, attempts)
    wait = run.next_attempt_at.replace(tzinfo=utcnow().tzinfo) - utcnow()
    assert timedelta(seconds=50) < wait <= timedelta(seconds=60)


async def test_a_run_due_while_frozen_charges_nothing_until_the_unfreeze(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    stripe_stood_in_settings: Settings,
    make_merchant: MakeMerchant,
) -> None:
    merchant = await make_merchant("live", balance_cents=10_000)
    await _armed_and_crossed(api, stripe_stand_in, merchant)
    frozen = await api.post("/freeze", json={}, headers=merchant.headers)
    assert frozen.json()["data"]["frozen"] is True, frozen.text

    for _ in range(2):  # however often it is looked at while frozen
        status, run = await _try(db, stripe_stood_in_settings, merchant)
        assert status is None
        _held(run, attempts=0)
    assert run.order_id is None  # no order written, nothing claimed
    assert await _month_cents(db, merchant) == 0
    assert await _charges(db, stripe_stand_in, merchant) == []

    thawed = await api.delete("/freeze", headers=merchant.headers)
    assert thawed.json()["data"]["frozen"] is False, thawed.text
    status, run = await _try(db, stripe_stood_in_settings, merchant)
    assert (status, run.status, run.amount_cents) == ("credited", "done", 16_000)
    [charge] = await _charges(db, stripe_stand_in, merchant)
    assert (charge["amount"], charge["metadata"]["order_id"]) == (16_000, run.order_id)
    balance = (await api.get("/balance", headers=merchant.headers)).json()["data"]
    assert balance["balance_cents"] == 20_000
    await assert_ledger_balanced(db)


async def test_a_run_retrying_while_frozen_is_held_and_paid_once_after(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    stripe_stood_in_settings: Settings,
    make_merchant: MakeMerchant,
) -> None:
    merchant = await make_merchant("live", balance_cents=10_000)
    await _armed_and_crossed(api, stripe_stand_in, merchant)
    # The first try gets no answer (Stripe out of reach): its order and claim stand, due again.
    unreachable = stripe_stood_in_settings.model_copy(
        update={"stripe_api_base": "http://127.0.0.1:9"}
    )
    status, run = await _try(db, unreachable, merchant)
    assert (status, run.status, run.attempts) == (None, "due", 1)
    order_id = run.order_id
    assert order_id is not None and await _month_cents(db, merchant) == 16_000

    frozen = await api.post("/freeze", json={}, headers=merchant.headers)
    assert frozen.json()["data"]["frozen"] is True, frozen.text
    status, run = await _try(db, stripe_stood_in_settings, merchant)
    assert status is None
    _held(run, attempts=1)
    assert run.order_id == order_id
    assert await _charges(db, stripe_stand_in, merchant) == []
    async with db.read() as conn:
        order = (await conn.execute(select(_O).where(_O.c.id == order_id))).one()
    assert order.status == "pending"  # neither paid nor failed: held with its run

    await api.delete("/freeze", headers=merchant.headers)
    status, run = await _try(db, stripe_stood_in_settings, merchant)
    assert (status, run.order_id, run.amount_cents) == ("credited", order_id, 16_000)
    [charge] = await _charges(db, stripe_stand_in, merchant)
    assert charge["metadata"]["order_id"] == order_id
    state = (await api.get(PATH, headers=merchant.headers)).json()["data"]
    assert (state["failures"], state["month_cents"]) == (0, 16_000)
    await assert_ledger_balanced(db)
