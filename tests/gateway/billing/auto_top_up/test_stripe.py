"""Auto top-up in live, through Stripe (the stand-in, driven by the real ``stripe`` package):
Checkout in setup mode saves a card for a customer, and a crossing charges it off-session
(``off_session``, ``confirm``, the customer and the card), once, credited with its receipt; a
card that asks for its holder is refused and counted. Not configured: refused, nothing saved."""

from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import select

from gateway.billing.auto_top_up import runs
from gateway.store.engine import Database
from gateway.store.models import AutoTopUpRun, FundingOrder, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.stripe import StripeStandIn

_R = table_of(AutoTopUpRun)
_O = table_of(FundingOrder)
PATH = "/wallet/auto-top-up"
SETTINGS = {"threshold_cents": 5_000, "target_cents": 20_000, "monthly_cap_cents": 100_000}


async def _saved(
    api: httpx.AsyncClient, stand_in: StripeStandIn, merchant: MerchantKey, **card: Any
) -> dict[str, Any]:
    opened = await api.post(f"{PATH}/setup", headers=merchant.headers)
    assert opened.status_code == 200, opened.text
    data = opened.json()["data"]
    assert (data["status"], data["provider"]) == ("open", "stripe")
    session_id = data["url"].rsplit("/", 1)[1]
    session = stand_in.sessions[session_id]
    assert (session["mode"], session["status"]) == ("setup", "open")
    assert session["customer"] in stand_in.customers
    # Not saved until the merchant completes the page.
    early = (await api.get(PATH, headers=merchant.headers)).json()["data"]
    assert early["payment_method"] is None
    stand_in.complete_setup(session_id, **card)
    put = await api.put(PATH, json=SETTINGS, headers=merchant.headers)
    assert put.status_code == 200, put.text
    state: dict[str, Any] = put.json()["data"]
    return state


async def _cross_and_try(
    api: httpx.AsyncClient, db: Database, settings: Settings, merchant: MerchantKey
) -> Any:
    body = {"platform": "claude", "amount_cents": 6_000, "recipient_email": "r@example.com"}
    sent = await api.post("/topup/send", json=body, headers=merchant.headers)
    assert sent.json()["code"] == 1001, sent.text
    async with db.read() as conn:
        [run] = (
            await conn.execute(
                select(_R).where(_R.c.merchant_id == merchant.merchant_id, _R.c.status == "due")
            )
        ).all()
    sealer = Sealer(settings.secret_key.get_secret_value().encode())
    tried = await runs.attempt(db, settings, sealer, SimpleNamespace(**run._mapping), utcnow())
    async with db.read() as conn:
        return tried.status, (await conn.execute(select(_R).where(_R.c.id == run.id))).one()


async def test_live_saves_a_card_by_checkout_in_setup_mode_and_charges_it_off_session(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    stripe_stood_in_settings: Settings,
    make_merchant: MakeMerchant,
) -> None:
    merchant = await make_merchant("live", balance_cents=10_000)
    state = await _saved(api, stripe_stand_in, merchant, last4="1881")
    assert state["payment_method"] == {"provider": "stripe", "label": "Visa •••• 1881"}
    assert state["armed"] is True
    status, run = await _cross_and_try(api, db, stripe_stood_in_settings, merchant)
    assert (status, run.amount_cents) == ("credited", 16_000)  # 4,000 back up to 20,000
    [intent] = [
        i
        for i in stripe_stand_in.intents.values()
        if i.get("metadata", {}).get("order_id") == run.order_id
    ]
    assert (intent["amount"], intent["currency"], intent["status"]) == (16_000, "usd", "succeeded")
    assert (
        stripe_stand_in.payment_methods[intent["payment_method"]]["customer"] == intent["customer"]
    )
    balance = (await api.get("/balance", headers=merchant.headers)).json()["data"]
    assert balance["balance_cents"] == 20_000
    async with db.read() as conn:
        order = (await conn.execute(select(_O).where(_O.c.id == run.order_id))).one()
    assert (order.kind, order.channel, order.status) == ("auto", "stripe", "completed")
    assert order.provider_payment_id == intent["id"]
    await assert_ledger_balanced(db)


async def test_a_card_that_asks_for_its_holder_is_refused_and_counted(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    stripe_stood_in_settings: Settings,
    make_merchant: MakeMerchant,
) -> None:
    merchant = await make_merchant("live", balance_cents=10_000)
    await _saved(api, stripe_stand_in, merchant, refuses="authentication_required")
    status, run = await _cross_and_try(api, db, stripe_stood_in_settings, merchant)
    assert (status, run.status, run.last_error) == (
        "refused",
        "failed",
        "payment refused: authentication_required",
    )
    state = (await api.get(PATH, headers=merchant.headers)).json()["data"]
    assert (state["failures"], state["enabled"], state["month_cents"]) == (1, True, 0)
    balance = (await api.get("/balance", headers=merchant.headers)).json()["data"]
    assert balance["balance_cents"] == 4_000
    async with db.read() as conn:
        order = (await conn.execute(select(_O).where(_O.c.id == run.order_id))).one()
    assert order.status == "failed"


async def test_live_without_stripe_is_refused_and_saves_nothing(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    refused = await client.post(f"{PATH}/setup", headers=merchant.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, 4583)
    assert (await client.get(PATH, headers=merchant.headers)).json()["code"] == 4580
