"""A charge refused for funds is payable as a send is: the 402 carries the MPP challenge, and
the charge retried under its idempotency key with a credential pays the payer's wallet once,
then charges, once."""

import httpx
from mpp import Challenge, Receipt
from mpp.methods.stripe.client import OnChallengeParameters, StripeMethod
from starlette.types import ASGIApp

from gateway.store.engine import Database
from tests.fixtures.charges import FEE, paying_consent
from tests.fixtures.merchants import MakeMerchant, merchant_balance, set_balance


async def test_a_charge_refused_for_funds_is_paid_by_the_agent_and_made_once(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    paying = await paying_consent(app, client, make_merchant)
    async with db.transaction() as conn:
        await set_balance(conn, db, "staging", paying.payer.merchant_id, 0)
    refused = await client.post("/charges", json=FEE, headers=paying.headers("seat-9"))
    assert (refused.status_code, refused.json()["code"]) == (402, 4001)
    challenge = Challenge.from_www_authenticate(refused.headers["www-authenticate"])
    assert challenge.request["amount"] == "500"  # 100 short, at least the smallest top-up

    async def create_token(params: OnChallengeParameters) -> str:
        minted = await client.post(
            "/billing/sandbox/shared-payment-tokens",
            json={"amount_cents": int(params.amount), "currency": params.currency},
            headers=paying.payer.headers,
        )
        token: str = minted.json()["data"]["id"]
        return token

    method = StripeMethod(create_token=create_token, payment_method="pm_card_visa")
    credential = (await method.create_credential(challenge)).to_authorization()
    headers = {**paying.headers("seat-9"), "Payment-Authorization": credential}
    made = await client.post("/charges", json=FEE, headers=headers)
    assert made.status_code == 201, made.text
    assert made.json()["data"]["payment"]["amount_cents"] == 500
    assert Receipt.from_payment_receipt(made.headers["payment-receipt"]).status == "success"
    again = await client.post("/charges", json=FEE, headers=headers)
    assert again.json()["data"]["id"] == made.json()["data"]["id"]
    plain = await client.post("/charges", json=FEE, headers=paying.headers("seat-9"))
    assert (plain.json()["code"], plain.headers["idempotent-replayed"]) == (1004, "true")
    assert await merchant_balance(db, paying.payer) == 500 - 100
