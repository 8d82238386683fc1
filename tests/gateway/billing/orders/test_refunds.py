"""An operator's refund of a paid order: through Stripe (the stand-in, driven by the real
``stripe`` package) in part and in full, never past what was paid, however many race; refused
for a channel that cannot refund and for bad input, with nothing changed. On both stores."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.admin import refunds
from gateway.admin.audit import Call
from gateway.billing.channels.providers.sandbox import SandboxProvider
from gateway.billing.channels.registry import OrderRef, ProviderError, Refunded
from gateway.billing.schemas import RefundRequest
from gateway.ledger import grants
from gateway.ledger import service as ledger
from gateway.ops.routing import BODY_ERRORS
from gateway.store.engine import Database
from gateway.store.models import CreditGrant, FundingOrder, LedgerEntry, OrderRefund, table_of
from gateway.values.clock import utcnow
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from tests.fixtures.billing import finish_refunds, insert_orders, order_row, refunded
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.stripe import StripeStandIn
from tests.fixtures.webhooks import events_of

_O = table_of(FundingOrder)
_L = table_of(LedgerEntry)
_R = table_of(OrderRefund)
_G = table_of(CreditGrant)
BODY_CODES = {int(code) for code in BODY_ERRORS}


async def balance(api: httpx.AsyncClient, merchant: MerchantKey) -> int:
    value: int = (await api.get("/balance", headers=merchant.headers)).json()["data"][
        "balance_cents"
    ]
    return value


async def paid_order(db: Database, merchant: MerchantKey, cents: int, **fields: Any) -> str:
    row = order_row(merchant.merchant_id, env=merchant.env, cents=cents, status="completed")
    async with db.transaction() as conn:
        await insert_orders(conn, [{**row, **fields}])
    return str(row["id"])


async def test_a_live_stripe_order_is_refunded_in_part_then_in_full(
    api: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
) -> None:
    merchant = await make_merchant("live")
    made = await api.post(
        "/billing/checkout", json={"pack_id": "pack_pro"}, headers=merchant.headers
    )
    assert made.status_code == 201, made.text
    order = made.json()["data"]
    session = stripe_stand_in.session_of(order["order_id"])
    stripe_stand_in.pay(session["id"])
    checked = await admin.post(f"/orders/{order['order_id']}/check")
    assert checked.status_code == 200, checked.text
    credited = await balance(api, merchant)
    assert credited == order["credit_cents"]
    paid, path = order["amount_cents"], f"/orders/{order['order_id']}/refund"

    # Stripe refusing (refunded there already, by hand): the debit is given back, the wallet and
    # the order as they were.
    intent = stripe_stand_in.intents[session["payment_intent"]]
    intent["amount_refunded"] = paid
    refused = await admin.post(path, json={"reason": "refunded at Stripe"})
    assert (refused.status_code, refused.json()["code"]) == (502, 4107), refused.text
    assert await balance(api, merchant) == credited
    assert await refunded(db, order["order_id"]) == ("completed", 0, 0)
    intent["amount_refunded"] = 0

    part = await admin.post(path, json={"amount_cents": 500, "reason": "asked by payer"})
    assert part.status_code == 200, part.text
    data = part.json()["data"]
    assert (data["amount_cents"], data["refunded_cents"]) == (500, 500)
    assert data["debit_cents"] == order["credit_cents"] * 500 // paid
    assert data["refund_id"].startswith("re_")
    assert await balance(api, merchant) == credited - data["debit_cents"]

    rest = await admin.post(path, json={"reason": "the rest"})
    assert rest.status_code == 200, rest.text
    assert rest.json()["data"]["refunded_cents"] == paid
    assert rest.json()["data"]["refundable_cents"] == 0
    # The whole payment back takes back exactly what it credited.
    assert await balance(api, merchant) == 0
    assert intent["amount_refunded"] == paid

    past = await admin.post(path, json={"amount_cents": 1, "reason": "once more"})
    assert past.status_code == 409
    assert past.json()["code"] == 4482
    assert past.json()["data"]["refundable_cents"] == 0
    assert await refunded(db, order["order_id"]) == ("completed", paid, 2)
    audit = await admin.get("/audit", params={"action": "orders.refund"})
    assert audit.status_code == 200, audit.text
    await assert_ledger_balanced(db)


async def test_concurrent_refunds_of_one_order_give_back_at_most_what_was_paid(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging", balance_cents=1000)
    order_id = await paid_order(db, merchant, 1000)

    async def one() -> httpx.Response:
        body = {"amount_cents": 300, "reason": "race"}
        return await admin.post(f"/orders/{order_id}/refund", json=body)

    replies = await asyncio.gather(*(one() for _ in range(10)))
    codes = sorted(reply.json()["code"] for reply in replies)
    assert codes.count(4482) == 7, [reply.text for reply in replies]
    assert await refunded(db, order_id) == ("completed", 900, 3)
    assert await balance(api, merchant) == 100
    await assert_ledger_balanced(db)


async def test_a_channel_without_refunds_and_a_short_wallet_are_refused(
    admin: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live", balance_cents=1000)
    epay = await paid_order(db, merchant, 1000, provider="epay", channel="epay")
    reply = await admin.post(f"/orders/{epay}/refund", json={"reason": "no way back"})
    assert reply.status_code == 409
    assert (reply.json()["code"], reply.json()["data"]) == (4481, {"channel": "epay"})

    spent = await make_merchant("staging", balance_cents=100)
    order_id = await paid_order(db, spent, 1000)
    reply = await admin.post(f"/orders/{order_id}/refund", json={"reason": "spent already"})
    assert reply.status_code == 409
    assert (reply.json()["code"], reply.json()["data"]) == (4483, {"debit_cents": 1000})
    assert await refunded(db, order_id) == ("completed", 0, 0)

    pending = await paid_order(db, spent, 1000, status="pending")
    reply = await admin.post(f"/orders/{pending}/refund", json={"reason": "unpaid"})
    assert (reply.status_code, reply.json()["code"]) == (409, 4480)


@pytest.mark.parametrize(
    "body",
    [
        {"amount_cents": 0, "reason": "zero"},
        {"amount_cents": "5", "reason": "text"},
        {"amount_cents": 5},
        {"amount_cents": 5, "reason": ""},
        {"amount_cents": 5, "reason": "x", "extra": 1},
        [],
    ],
)
async def test_bad_input_is_the_envelope_and_changes_nothing(
    admin: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant, body: Any
) -> None:
    merchant = await make_merchant("staging", balance_cents=1000)
    order_id = await paid_order(db, merchant, 1000)
    reply = await admin.post(f"/orders/{order_id}/refund", json=body)
    assert reply.status_code in (400, 422), reply.text
    assert reply.json()["code"] in BODY_CODES, reply.text
    assert await refunded(db, order_id) == ("completed", 0, 0)
    missing = await admin.post("/orders/ord_missing/refund", json={"reason": "none"})
    assert (missing.status_code, missing.json()["code"]) == (404, 4130)


class Held:
    """The sandbox's refund as a stand-in that waits to be let go, then answers as told: made,
    refused, or no answer (a lost one); every key it was asked under, in order."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.release = asyncio.Event()
        self.answer: str = "made"
        self.keys: list[str] = []

    async def refund(self, ctx: Any, order: OrderRef, amount_minor: int) -> Refunded:
        self.keys.append(order.refund_key)
        self.asked.set()
        await self.release.wait()
        if self.answer == "refused":
            raise ProviderError("refused", status=400)
        if self.answer == "lost":
            raise ProviderError("no answer", timeout=True)
        return Refunded(f"held_{order.refund_key}", "succeeded")


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Held:
    stand_in = Held()

    async def refund(self: Any, ctx: Any, order: OrderRef, amount_minor: int) -> Refunded:
        return await stand_in.refund(ctx, order, amount_minor)

    monkeypatch.setattr(SandboxProvider, "refund", refund)
    return stand_in


def _call() -> Call:
    return Call("admin", "orders.refund", "POST", "/orders/-/refund", None)


async def _refund_rows(db: Database, order_id: str) -> list[Any]:
    async with db.read() as conn:
        return list(await conn.execute(select(_R).where(_R.c.order_id == order_id)))


async def test_no_transaction_is_held_while_the_provider_is_asked(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_merchant: MakeMerchant,
    held: Held,
) -> None:
    merchant = await make_merchant("staging", balance_cents=5000)
    order_id = await paid_order(db, merchant, 1000)
    body = RefundRequest(amount_cents=400, reason="payer asked")
    refund = asyncio.create_task(refunds.refund_order(db, settings, _call(), order_id, body))
    try:
        await asyncio.wait_for(held.asked.wait(), 10)
        # The refund is written and the wallet debited before the provider is asked.
        [row] = await _refund_rows(db, order_id)
        assert (row.status, row.amount_cents, row.debit_cents) == ("pending", 400, 400)
        # A send on the same store goes through while the provider's call is in flight.
        send = {"platform": "claude", "amount_cents": 100, "recipient_email": "u@example.com"}
        sent = await asyncio.wait_for(
            client.post("/topup/send", json=send, headers=merchant.headers), 10
        )
        assert sent.status_code == 200, sent.text
        assert not refund.done()
    finally:
        held.release.set()
    outcome = await asyncio.wait_for(refund, 10)
    assert outcome.code == 1000
    assert outcome.data.status == "succeeded"
    [row] = await _refund_rows(db, order_id)
    assert (row.status, row.attempts, row.provider_refund_id) == (
        "succeeded",
        1,
        f"held_refund:{row.id}",
    )
    assert await merchant_balance(db, merchant) == 5000 - 400 - 100
    await assert_ledger_balanced(db)


async def test_a_provider_refusal_gives_the_debit_back(
    db: Database, settings: Settings, make_merchant: MakeMerchant, held: Held
) -> None:
    merchant = await make_merchant("staging", balance_cents=5000)
    order_id = await paid_order(db, merchant, 1000)
    held.answer = "refused"
    held.release.set()
    body = RefundRequest(amount_cents=600, reason="payer asked")
    with pytest.raises(ApiError) as refused:
        await refunds.refund_order(db, settings, _call(), order_id, body)
    assert refused.value.code == 4107
    [row] = await _refund_rows(db, order_id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 1, None)
    assert await merchant_balance(db, merchant) == 5000
    assert await refunded(db, order_id) == ("completed", 0, 0)
    back = await events_of(db, merchant.merchant_id, "wallet.credited")
    assert [(e["data"]["source"], e["data"]["amount_cents"]) for e in back][-1:] == [
        ("refund_reversal", 600)
    ]
    await assert_ledger_balanced(db)
    # Nothing is left behind that blocks the same refund asked again.
    held.answer = "made"
    again = await refunds.refund_order(db, settings, _call(), order_id, body)
    assert again.code == 1000 and again.data.refunded_cents == 600
    assert len(set(held.keys)) == 2  # a new refund, a new key
    assert await refunded(db, order_id) == ("completed", 600, 1)


async def test_a_refused_refund_goes_back_to_the_promotional_grant_it_was_drawn_from(
    db: Database, settings: Settings, make_merchant: MakeMerchant, held: Held
) -> None:
    """The refund's debit drew the promotional grant first; refused, it comes back to it, with
    its category and expiry, not as bought credit."""
    merchant = await make_merchant("staging", balance_cents=5000)
    owner = ledger.merchant_owner(merchant.merchant_id)
    now = utcnow()
    expiring = grants.Grant("promotional", expires_at=now + timedelta(days=1))
    async with db.transaction() as conn:
        wallet = await ledger.balance(conn, "staging", owner)
        assert wallet is not None
        await ledger.credit(conn, wallet.wallet_id, 1000, now, expiring)
        entry = ledger.Entry(wallet.wallet_id, "staging", 1000, "grant")
        await ledger.append(conn, [entry], now)
    order_id = await paid_order(db, merchant, 1000)
    held.answer = "refused"
    held.release.set()
    body = RefundRequest(amount_cents=600, reason="payer asked")
    with pytest.raises(ApiError):
        await refunds.refund_order(db, settings, _call(), order_id, body)
    async with db.transaction() as conn:
        await grants.settle(conn, wallet.wallet_id)
        found = await conn.execute(
            select(_G.c.category, _G.c.remaining_cents, _G.c.expires_at)
            .where(_G.c.wallet_id == wallet.wallet_id, _G.c.remaining_cents > 0)
            .order_by(_G.c.category)
        )
        live = [(r.category, int(r.remaining_cents), r.expires_at is not None) for r in found]
    assert live == [("paid", 5000, False), ("promotional", 1000, True)]
    await assert_ledger_balanced(db)


async def test_a_lost_answer_is_pending_then_finished_once_by_the_worker_under_its_key(
    db: Database, settings: Settings, make_merchant: MakeMerchant, held: Held
) -> None:
    merchant = await make_merchant("staging", balance_cents=5000)
    order_id = await paid_order(db, merchant, 1000)
    held.answer = "lost"
    held.release.set()
    body = RefundRequest(amount_cents=700, reason="payer asked")
    outcome = await refunds.refund_order(db, settings, _call(), order_id, body)
    assert outcome.code == 1160
    assert (outcome.data.status, outcome.data.refund_id, outcome.data.debit_cents) == (
        "pending",
        None,
        700,
    )
    [row] = await _refund_rows(db, order_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at is not None
    assert await merchant_balance(db, merchant) == 5000 - 700
    assert await refunded(db, order_id) == ("completed", 700, 1)

    # The worker's try: the same key, the refund made, recorded once.
    held.answer = "made"
    [tried] = await finish_refunds(db, settings, order_id)
    assert tried.status == "succeeded"
    assert held.keys == [row.idempotency_key, row.idempotency_key]
    assert await finish_refunds(db, settings, order_id) == []
    [row] = await _refund_rows(db, order_id)
    assert (row.status, row.attempts, row.provider_refund_id) == (
        "succeeded",
        2,
        f"held_{row.idempotency_key}",
    )
    assert len(held.keys) == 2
    assert await merchant_balance(db, merchant) == 5000 - 700
    assert await refunded(db, order_id) == ("completed", 700, 1)
    await assert_ledger_balanced(db)


async def test_a_refund_never_answered_is_failed_and_given_back_past_its_schedule(
    db: Database, settings: Settings, make_merchant: MakeMerchant, held: Held
) -> None:
    merchant = await make_merchant("staging", balance_cents=5000)
    order_id = await paid_order(db, merchant, 1000)
    held.answer = "lost"
    held.release.set()
    body = RefundRequest(reason="payer asked")
    assert (await refunds.refund_order(db, settings, _call(), order_id, body)).code == 1160
    for _ in range(len(refunds.DELAYS) - 2):
        [tried] = await finish_refunds(db, settings, order_id)
        assert tried.status == "pending"
    [tried] = await finish_refunds(db, settings, order_id)
    assert tried.status == "failed"
    [row] = await _refund_rows(db, order_id)
    assert (row.status, row.attempts) == ("failed", len(refunds.DELAYS))
    assert len(held.keys) == len(refunds.DELAYS) and len(set(held.keys)) == 1
    assert await merchant_balance(db, merchant) == 5000
    assert await refunded(db, order_id) == ("completed", 0, 0)
    await assert_ledger_balanced(db)
