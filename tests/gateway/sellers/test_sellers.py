"""An agent's wallet pays a seller's 402 (``POST /payments``), on each store: authorized, the
credential shown once and again on its idempotent replays, one debit; read without it; and a
provider that fails leaves the payment failed and its money back."""

import json
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import httpx
import pytest
from sqlalchemy import select

from gateway.protocols import registry
from gateway.sellers import service as sellers
from gateway.sellers.schemas import PaymentCreate
from gateway.store.engine import Database
from gateway.store.models import IdempotencyRecord, table_of
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from gateway.webhooks.event_types import validate_body
from keys import Sealer
from tests.fixtures.core import TEST_PEPPER, TEST_SECRET
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced, merchant_balance
from tests.fixtures.policies import set_policy, spend_rows
from tests.fixtures.seller_payments import (
    SELLER,
    events_of,
    ledger_kinds,
    pay,
    payment_rows,
    work_of,
)
from tests.fixtures.tally_payer import HEADER, HangingPayer, RefusingPayer, TallyPayer, challenge

AUTHORIZED, PROVIDER_ERROR, PROVIDER_TIMEOUT = 1170, 4107, 4108


async def test_a_challenge_paid_is_debited_once_and_its_credential_shown_once(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    await set_policy(db, merchant.key_id, {"scopes": ["payments:send"]})
    made = await pay(client, merchant, "k-1", description="one report")
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["code"], body["status"]) == (AUTHORIZED, "authorized")
    data = body["data"]
    payment_id = data["id"]
    assert payment_id.startswith("pay_") and body["transaction_id"] == payment_id
    assert data["value"] == tally.made[payment_id].value
    assert (data["amount_cents"], data["currency"], data["payee"]) == (25, "usd", "acct_seller")
    assert (data["protocol"], data["header"], data["url"]) == ("tally", HEADER, SELLER)
    assert made.headers["cache-control"] == "no-store"
    assert await merchant_balance(db, merchant) == 975

    # The same key and body: the same credential, no second debit, no second credential.
    again = await pay(client, merchant, "k-1", description="one report")
    assert again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["data"] == data
    assert tally.makes == [payment_id]
    assert await merchant_balance(db, merchant) == 975
    # Another body under the key is refused.
    other = await pay(client, merchant, "k-1", description="another")
    assert (other.status_code, other.json()["code"]) == (409, 4003)

    # Read back: never the credential.
    one = await client.get(f"/payments/{payment_id}", headers=merchant.headers)
    assert one.status_code == 200
    shown = one.json()["data"]
    assert "value" not in shown and shown["status"] == "authorized"
    assert shown["description"] == "one report"
    listed = await client.get("/payments", headers=merchant.headers)
    assert [p["id"] for p in listed.json()["data"]] == [payment_id]
    assert listed.json()["meta"] == {"limit": 20, "has_more": False, "next_cursor": None}
    assert data["value"] not in one.text + listed.text

    # At rest: sealed, the reply under its key as well.
    [row] = await payment_rows(db, merchant.merchant_id)
    assert (row.status, row.amount_cents, row.payee_origin) == (
        "authorized",
        25,
        "https://api.seller.example",
    )
    assert row.made_sealed is not None and data["value"] not in row.made_sealed
    async with db.read() as conn:
        kept = table_of(IdempotencyRecord)
        stored = (
            await conn.execute(
                # The key is this key's: other tests on the session's store use "k-1" too.
                select(kept.c.response_body).where(
                    kept.c.key == "k-1", kept.c.api_key_id == merchant.key_id
                )
            )
        ).scalar_one()
    assert data["value"] not in stored
    work = await work_of(db, payment_id)
    assert work.status == "due" and work.next_attempt_at > row.created_at
    assert await ledger_kinds(db, merchant.merchant_id) == [("payment_debit", -25)]
    [(kind, payload)] = await events_of(db, merchant.merchant_id)
    assert kind == "payment.authorized"
    assert validate_body(kind, payload).model_dump()["data"]["id"] == payment_id
    assert data["value"] not in payload
    await assert_ledger_balanced(db)


async def test_pages_of_payments_follow_the_cursor(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, tally: TallyPayer
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    made = [(await pay(client, merchant, f"p-{n}")).json()["data"]["id"] for n in range(3)]
    first = (await client.get("/payments?limit=2", headers=merchant.headers)).json()
    assert [p["id"] for p in first["data"]] == made[::-1][:2]
    assert first["meta"]["has_more"] is True
    cursor = first["meta"]["next_cursor"]
    rest = (await client.get(f"/payments?limit=2&cursor={cursor}", headers=merchant.headers)).json()
    assert [p["id"] for p in rest["data"]] == [made[0]]
    # Another merchant sees none of them.
    stranger = await make_merchant()
    assert (await client.get("/payments", headers=stranger.headers)).json()["data"] == []
    missing = await client.get(f"/payments/{made[0]}", headers=stranger.headers)
    assert (missing.status_code, missing.json()["code"]) == (404, 4640)
    bad = await client.get("/payments?cursor=txn_x", headers=merchant.headers)
    assert bad.json()["code"] == 3005


async def test_a_provider_that_refuses_leaves_the_payment_failed_and_released(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    with registry.paying(RefusingPayer()):
        merchant = await make_merchant(balance_cents=1_000)
        limits = {"limits": [{"amount_cents": 500, "interval": "daily"}]}
        await set_policy(db, merchant.key_id, {"scopes": ["payments:send"], **limits})
        refused = await pay(client, merchant, "f-1")
        assert refused.status_code == 502, refused.text
        body = refused.json()
        assert (body["code"], body["status"], body["success"]) == (PROVIDER_ERROR, "failed", False)
        payment_id = body["data"]["id"]
        assert body["data"] == {"id": payment_id, "status": "failed", "released_cents": 25}
        assert await merchant_balance(db, merchant) == 1_000
        [row] = await payment_rows(db, merchant.merchant_id)
        assert (row.status, row.made_sealed) == ("failed", None)
        assert row.failure_reason.startswith("4107")
        assert (await work_of(db, payment_id)).status == "done"
        assert await ledger_kinds(db, merchant.merchant_id) == [
            ("payment_debit", -25),
            ("payment_release", 25),
        ]
        assert [kind for kind, _ in await events_of(db, merchant.merchant_id)] == ["payment.failed"]
        # The window it counted in is given back.
        assert [spent for spent, _ in (await spend_rows(db, merchant.key_id)).values()] == [0]
        # Its key answers the refusal again, and nothing moves twice.
        again = await pay(client, merchant, "f-1")
        assert again.json() == body
        assert again.headers.get("idempotent-replayed") == "true"
        assert len(await payment_rows(db, merchant.merchant_id)) == 1
    await assert_ledger_balanced(db)


async def test_a_provider_that_never_answers_is_bounded_then_released(
    make_merchant: MakeMerchant, db: Database, settings: Settings
) -> None:
    from gateway.callers import authenticate

    hanging = HangingPayer()
    merchant = await make_merchant(balance_cents=1_000)
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    quick = settings.model_copy(update={"payment_timeout_seconds": 0.2})
    body = PaymentCreate.model_validate({"url": SELLER, "challenge": challenge(40)})
    with registry.paying(hanging):
        outcome = await sellers.pay(
            db, Sealer(TEST_SECRET.encode()), quick, caller, body, idempotency_key="h-1"
        )
    assert (int(outcome.code), outcome.status) == (PROVIDER_TIMEOUT, "failed")
    assert hanging.makes == [outcome.data["id"]]
    assert await merchant_balance(db, merchant) == 1_000
    [row] = await payment_rows(db, merchant.merchant_id)
    assert row.status == "failed"
    await assert_ledger_balanced(db)


async def test_the_credential_is_made_after_the_debit(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    """When ``make`` runs, the payment is written and the wallet debited: a credential never
    exists without its money."""
    seen: list[tuple[str, int]] = []

    class Watching(TallyPayer):
        async def make(self, wallet, demand, *, payment_id):  # type: ignore[no-untyped-def]
            [row] = await payment_rows(db, merchant.merchant_id)
            seen.append((row.status, await merchant_balance(db, merchant)))
            return await super().make(wallet, demand, payment_id=payment_id)

    merchant = await make_merchant(balance_cents=100)
    with registry.paying(Watching()):
        made = await pay(client, merchant, "d-1", said=challenge(60))
    assert made.status_code == 201, made.text
    assert seen == [("pending", 40)]


async def test_a_challenge_that_expires_soon_is_released_after_its_expiry(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    merchant = await make_merchant(balance_cents=100)
    made = await pay(client, merchant, "e-1")
    data = made.json()["data"]
    [row] = await payment_rows(db, merchant.merchant_id)
    assert data["expires_at"] == row.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    work = await work_of(db, data["id"])
    # The first look at its use comes before its release, which is past its expiry.
    assert work.next_attempt_at <= row.expires_at + timedelta(seconds=60)
    assert json.loads(json.dumps(data))["status"] == "authorized"


async def test_a_replay_after_its_challenge_expired_answers_what_its_key_keeps(
    make_merchant: MakeMerchant, db: Database, settings: Settings, tally: TallyPayer
) -> None:
    """The seller's challenge is read against the time of each request; a replay of a paid one
    past its expiry answers the first reply (its credential), as Stripe replays a key."""
    from gateway.callers import authenticate

    merchant = await make_merchant(balance_cents=1_000)
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    soon = datetime.now(UTC) + timedelta(seconds=2)
    body = PaymentCreate.model_validate({"url": SELLER, "challenge": challenge(expires=soon)})
    sealer = Sealer(TEST_SECRET.encode())
    first = await sellers.pay(db, sealer, settings, caller, body, idempotency_key="x-1")
    assert int(first.code) == AUTHORIZED
    # The same request once the challenge has expired: the service reads a later clock.
    with patch.object(sellers, "utcnow", lambda: soon + timedelta(seconds=1)):
        again = await sellers.pay(db, sealer, settings, caller, body, idempotency_key="x-1")
        assert again.replayed and again.data["value"] == first.data.value
        fresh = PaymentCreate.model_validate({**body.model_dump(), "description": "other"})
        with pytest.raises(ApiError) as refused:
            await sellers.pay(db, sealer, settings, caller, fresh, idempotency_key="x-2")
    assert int(refused.value.code) == 4502
    assert await merchant_balance(db, merchant) == 975
