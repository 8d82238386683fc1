"""Refunds of agents' payments: an MPP order (a Stripe PaymentIntent) is refunded through the
same path as every order, Stripe asked with the PaymentIntent under the refund's key; staging's
gives back what it never took; an x402 order, settled on chain, is refused with what to do,
and nothing changes. On both stores."""

import uuid
from typing import Any

import httpx
from mpp import Challenge, Credential

from gateway.store.engine import Database
from tests.fixtures.billing import insert_orders, order_row, refunded
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.stripe import StripeStandIn


async def _balance(api: httpx.AsyncClient, merchant: MerchantKey) -> int:
    value: int = (await api.get("/balance", headers=merchant.headers)).json()["data"][
        "balance_cents"
    ]
    return value


async def _paid_by_mpp(api: httpx.AsyncClient, merchant: MerchantKey, spt: str) -> dict[str, Any]:
    """A send refused for funds, paid with ``spt`` on its retry: the reply's ``payment``."""
    body = {
        "platform": "claude",
        "recipient_email": f"agent-{uuid.uuid4().hex[:8]}@example.com",
        "amount_cents": 950,
    }
    refused = await api.post("/topup/send", json=body, headers=merchant.headers)
    assert refused.status_code == 402, refused.text
    challenge = Challenge.from_www_authenticate(refused.headers["www-authenticate"])
    credential = Credential(challenge=challenge.to_echo(), payload={"spt": spt})
    headers = {**merchant.headers, "Payment-Authorization": credential.to_authorization()}
    paid = await api.post("/topup/send", json=body, headers=headers)
    assert paid.status_code == 200, paid.text
    payment: dict[str, Any] = paid.json()["data"]["payment"]
    return payment


async def test_a_live_mpp_order_is_refunded_at_stripe_by_its_payment_intent(
    api: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
) -> None:
    merchant = await make_merchant("live", balance_cents=0)
    payment = await _paid_by_mpp(api, merchant, "spt_live_" + uuid.uuid4().hex)
    assert payment["amount_cents"] == 1000 and await _balance(api, merchant) == 50
    order_id, intent_id = payment["order_id"], payment["reference"]
    path = f"/orders/{order_id}/refund"

    part = await admin.post(path, json={"amount_cents": 40, "reason": "asked by the agent"})
    assert part.status_code == 200, part.text
    data = part.json()["data"]
    assert (data["amount_cents"], data["refunded_cents"], data["debit_cents"]) == (40, 40, 40)
    [made] = [r for r in stripe_stand_in.refunds.values() if r["payment_intent"] == intent_id]
    assert (made["id"], made["amount"]) == (data["refund_id"], 40)
    # Asked under the refund's own key: a try again after a lost answer is this refund.
    [key] = [k for k, v in stripe_stand_in.idempotent.items() if v is made]
    assert key.startswith("refund:")
    assert stripe_stand_in.intents[intent_id]["amount_refunded"] == 40
    assert await _balance(api, merchant) == 10
    assert await refunded(db, order_id) == ("completed", 40, 1)

    # More than the wallet holds: refused, nothing asked of Stripe.
    short = await admin.post(path, json={"reason": "all of it"})
    assert (short.status_code, short.json()["code"]) == (409, 4483), short.text
    assert stripe_stand_in.intents[intent_id]["amount_refunded"] == 40
    await assert_ledger_balanced(db)


async def test_a_staging_mpp_order_is_refunded_without_stripe(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    minted = await api.post(
        "/billing/sandbox/shared-payment-tokens",
        json={"amount_cents": 1000, "currency": "usd"},
        headers=merchant.headers,
    )
    payment = await _paid_by_mpp(api, merchant, minted.json()["data"]["id"])
    body = {"amount_cents": 40, "reason": "test"}
    reply = await admin.post(f"/orders/{payment['order_id']}/refund", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"]["refund_id"].startswith("re_test_")
    assert await _balance(api, merchant) == 10
    assert await refunded(db, payment["order_id"]) == ("completed", 40, 1)


async def test_an_x402_order_is_refused_with_what_to_do_and_nothing_changes(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live", balance_cents=1000)
    row = order_row(merchant.merchant_id, env="live", cents=1000, status="completed")
    transfer = "0x" + "ab" * 32
    row.update(kind="agent", provider="x402", channel="x402", provider_payment_id=transfer)
    async with db.transaction() as conn:
        await insert_orders(conn, [row])
    reply = await admin.post(f"/orders/{row['id']}/refund", json={"reason": "asked"})
    assert reply.status_code == 409, reply.text
    assert reply.json()["code"] == 4481
    assert reply.json()["data"] == {"channel": "x402", "reference": transfer}
    assert "on chain" in reply.json()["message"]
    assert await _balance(api, merchant) == 1000
    assert await refunded(db, str(row["id"])) == ("completed", 0, 0)
