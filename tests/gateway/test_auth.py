import httpx
import pytest

from gateway.merchants import service as merchants
from gateway.store.engine import Database
from gateway.values.clock import utcnow
from tests.fixtures.merchants import MakeMerchant, merchant_balance
from tests.fixtures.policies import set_policy

SEND = {"platform": "gemini", "amount_cents": 100, "recipient_email": "a@example.com"}


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 2001),
        ({"Authorization": "Basic abc"}, 2002),
        ({"Authorization": "Bearer "}, 2002),
        ({"Authorization": "Bearer ak_staging_short"}, 2002),
        ({"Authorization": "Bearer ak_prod_" + "a" * 32}, 2002),
        ({"Authorization": "Bearer ak_live_" + "a" * 32}, 2003),
    ],
)
async def test_bad_credentials_each_get_their_own_code(
    client: httpx.AsyncClient, headers: dict[str, str], code: int
) -> None:
    reply = await client.post("/topup/send", json=SEND, headers=headers)
    assert reply.status_code == 401
    body = reply.json()
    assert body["success"] is False
    assert body["code"] == code
    assert body["data"] is None
    # Every 401 carries the Bearer challenge, on REST as on MCP: where the API is described
    # (RFC 9728 5.1), and invalid_token when a credential was given (RFC 6750 3.1), else none.
    metadata = 'Bearer resource_metadata="http://127.0.0.1:8000/.well-known/oauth-protected-resource/api/public/v1"'
    invalid = ', error="invalid_token"' if code != 2001 else ""
    assert reply.headers["www-authenticate"] == metadata + invalid


API_METADATA = "http://127.0.0.1:8000/.well-known/oauth-protected-resource/api/public/v1"


def _insufficient(scope: str) -> str:
    return f'Bearer error="insufficient_scope", scope="{scope}", resource_metadata="{API_METADATA}"'


async def test_a_key_without_the_calls_scope_is_challenged_with_the_envelope(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    """A valid key that lacks the scope: 403 with the insufficient_scope challenge (RFC 6750
    3.1) naming the scope the call needs, then those the key holds, whichever check refused it
    (the send's policy, a route's own check); the body is the envelope, and nothing moves."""
    merchant = await make_merchant(balance_cents=5_000)
    await set_policy(db, merchant.key_id, {"scopes": ["webhooks", "topup:read"]})
    keyed = {**merchant.headers, "Idempotency-Key": "step-1"}
    sent = await client.post("/topup/send", json=SEND, headers=keyed)
    assert sent.status_code == 403
    assert sent.headers["www-authenticate"] == _insufficient("topup:send topup:read webhooks")
    body = sent.json()
    assert (body["success"], body["code"], body["data"]) == (False, 2301, {"scope": "topup:send"})
    keys = await client.get("/keys", headers=merchant.headers)
    assert (keys.status_code, keys.json()["code"]) == (403, 2301)
    assert keys.headers["www-authenticate"] == _insufficient("keys topup:read webhooks")
    assert await merchant_balance(db, merchant) == 5_000
    # Any other answer carries no such challenge.
    balance = await client.get("/balance", headers=merchant.headers)
    assert balance.status_code == 200 and "www-authenticate" not in balance.headers
    # Given the scope, the same request (the same idempotency key) is sent: the refusal kept
    # nothing under the key.
    await set_policy(db, merchant.key_id, {"scopes": ["topup:send", "topup:read"]})
    again = await client.post("/topup/send", json=SEND, headers=keyed)
    assert again.json()["code"] == 1001, again.text
    assert await merchant_balance(db, merchant) == 5_000 - 100


async def test_two_authorization_headers_are_refused_whatever_they_hold(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    good = merchant.headers["Authorization"]
    reply = await client.get("/balance", headers=[("Authorization", good), ("Authorization", good)])
    assert (reply.status_code, reply.json()["code"]) == (400, 2203)


async def test_revoked_key_is_refused_on_its_next_request(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    assert (await client.get("/balance", headers=merchant.headers)).status_code == 200
    async with db.transaction() as conn:
        assert await merchants.revoke_key(conn, merchant.key_id, utcnow())
    reply = await client.get("/balance", headers=merchant.headers)
    assert reply.status_code == 401
    assert reply.json()["code"] == 2004


async def test_staging_and_live_never_see_each_other(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    live = await make_merchant("live", balance_cents=5_000)
    staging = await make_merchant("staging", merchant_id=live.merchant_id)
    send = {**SEND, "recipient_email": f"iso-{live.merchant_id}@example.com"}

    sent = await client.post("/topup/send", json=send, headers=live.headers)
    assert sent.json()["code"] == 1001
    txn = sent.json()["transaction_id"]

    # Same merchant, staging key: the live transaction does not exist, live balance untouched.
    assert (await client.get(f"/topup/{txn}", headers=staging.headers)).json()["code"] == 4002
    assert (await client.post(f"/topup/{txn}/cancel", headers=staging.headers)).status_code == 404
    listed = await client.get("/topup", headers=staging.headers)
    assert txn not in [t["id"] for t in listed.json()["data"]]
    await client.post("/sandbox/fund", json={"amount_cents": 500}, headers=staging.headers)
    staging_send = await client.post("/topup/send", json=send, headers=staging.headers)
    assert staging_send.json()["code"] == 1001
    live_balance = (await client.get("/balance", headers=live.headers)).json()["data"]
    assert live_balance == {
        "env": "live",
        "balance_cents": 4_900,
        "held_cents": 0,
        "currency": "USD",
        "low_balance_threshold_cents": 0,
        "subscription": None,
        "balance": 49.0,
    }
    # The recipient's staging wallet is not the live one either: both hold one credit.
    assert sent.json()["data"]["new_balance_cents"] == 100
    assert staging_send.json()["data"]["new_balance_cents"] == 100
    assert (await client.get(f"/topup/{txn}", headers=live.headers)).json()["status"] == (
        "delivered"
    )


async def test_other_merchants_transactions_are_not_found(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner, other = await make_merchant(), await make_merchant()
    txn = (await client.post("/topup/send", json=SEND, headers=owner.headers)).json()[
        "transaction_id"
    ]
    reply = await client.get(f"/topup/{txn}", headers=other.headers)
    assert reply.status_code == 404
    assert reply.json()["code"] == 4002


async def test_sandbox_fund_is_staging_only(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    live = await make_merchant("live")
    reply = await client.post("/sandbox/fund", json={"amount_cents": 500}, headers=live.headers)
    assert reply.status_code == 403
    assert reply.json()["code"] == 2005
    assert (await client.get("/balance", headers=live.headers)).json()["data"]["balance_cents"] == 0
