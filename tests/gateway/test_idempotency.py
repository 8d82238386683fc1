"""Stripe's idempotency rules, under real concurrent HTTP requests. An idempotency key belongs
to the API key that used it: no other key reads its reply or plants one under it."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from gateway.callers import authenticate
from gateway.merchants import service as merchants
from gateway.store.engine import Database
from gateway.topup import service
from gateway.topup.schemas import SendRequest
from gateway.values.clock import rfc3339, utcnow
from keys import Sealer
from tests.fixtures.core import TEST_PEPPER, TEST_SECRET, local_client
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    merchant_balance,
    unbalanced_wallets,
)
from tests.fixtures.policies import set_policy

SEND = {"platform": "chatgpt", "amount_cents": 250, "recipient_email": "idem@example.com"}


async def test_concurrent_duplicates_debit_once_and_reply_identically(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    headers = {**merchant.headers, "Idempotency-Key": "order-42"}
    limits = httpx.Limits(max_connections=200)
    async with local_client(base_url=live_url, limits=limits, timeout=60) as http:
        replies = await asyncio.gather(
            *(http.post("/topup/send", json=SEND, headers=headers) for _ in range(200))
        )
    assert {r.status_code for r in replies} == {200}
    assert len({r.content for r in replies}) == 1  # byte-identical, timestamp included
    assert replies[0].json()["code"] == 1001
    assert await merchant_balance(db, merchant) == 100_000 - 250
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in replies) == 199
    assert await unbalanced_wallets(db) == []


async def test_same_key_with_another_body_is_refused(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    headers = {**merchant.headers, "Idempotency-Key": "k-1"}
    first = await client.post("/topup/send", json=SEND, headers=headers)
    assert first.json()["code"] == 1001
    other = await client.post("/topup/send", json={**SEND, "amount_cents": 251}, headers=headers)
    assert (other.status_code, other.json()["code"]) == (409, 4003)
    assert await merchant_balance(db, merchant) == 100_000 - 250
    # The same body is still answered with the first reply; key order does not matter.
    reordered = {k: SEND[k] for k in reversed(list(SEND))}
    again = await client.post("/topup/send", json=reordered, headers=headers)
    assert again.content == first.content


async def test_keys_are_per_merchant_and_env(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    a, b = await make_merchant(), await make_merchant()
    one = await client.post(
        "/topup/send", json=SEND, headers={**a.headers, "Idempotency-Key": "shared"}
    )
    two = await client.post(
        "/topup/send", json=SEND, headers={**b.headers, "Idempotency-Key": "shared"}
    )
    assert one.json()["transaction_id"] != two.json()["transaction_id"]


async def test_a_refusal_is_replayed_too(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant(balance_cents=100)
    headers = {**merchant.headers, "Idempotency-Key": "poor"}
    first = await client.post("/topup/send", json=SEND, headers=headers)
    assert first.json()["code"] == 4001
    await client.post("/sandbox/fund", json={"amount_cents": 1_000}, headers=merchant.headers)
    again = await client.post("/topup/send", json=SEND, headers=headers)
    assert again.content == first.content
    assert await merchant_balance(db, merchant) == 1_100


async def test_invalid_idempotency_key_is_refused(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    headers = {**merchant.headers, "Idempotency-Key": "x" * 256}
    reply = await client.post("/topup/send", json=SEND, headers=headers)
    assert (reply.status_code, reply.json()["code"]) == (422, 4006)
    assert await merchant_balance(db, merchant) == 100_000


def _keyed(key: MerchantKey, idempotency_key: str) -> dict[str, str]:
    return {**key.headers, "Idempotency-Key": idempotency_key}


async def test_a_key_without_the_send_scope_gets_its_own_refusal_not_another_keys_reply(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    sender = await make_merchant()
    hooks = await make_merchant(merchant_id=sender.merchant_id)
    await set_policy(db, hooks.key_id, {"scopes": ["webhooks"]})
    first = await client.post("/topup/send", json=SEND, headers=_keyed(sender, "order-7"))
    assert first.json()["code"] == 1001
    voucher = first.json()["data"]["voucher_code"]

    other = await client.post("/topup/send", json=SEND, headers=_keyed(hooks, "order-7"))
    assert (other.status_code, other.json()["code"]) == (403, 2301)
    assert other.json()["data"] == {"scope": "topup:send"}
    assert voucher not in other.text
    assert "idempotent-replayed" not in other.headers
    assert await merchant_balance(db, sender) == 100_000 - 250


async def test_a_key_that_lost_the_send_scope_cannot_replay_its_own_reply(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    sender = await make_merchant()
    first = await client.post("/topup/send", json=SEND, headers=_keyed(sender, "order-8"))
    assert first.json()["code"] == 1001
    await set_policy(db, sender.key_id, {"scopes": ["topup:read"]})
    again = await client.post("/topup/send", json=SEND, headers=_keyed(sender, "order-8"))
    assert (again.status_code, again.json()["code"]) == (403, 2301)
    assert first.json()["data"]["voucher_code"] not in again.text
    assert await merchant_balance(db, sender) == 100_000 - 250


@pytest.mark.parametrize(
    ("policy", "code"),
    [({"max_per_send_cents": 100}, 2305), ({"allowed_platforms": ["claude"]}, 2307)],
    ids=["over its cap", "platform not allowed"],
)
async def test_another_keys_refusal_does_not_block_a_send_under_the_same_idempotency_key(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    policy: dict[str, Any],
    code: int,
) -> None:
    sender = await make_merchant()
    capped = await make_merchant(merchant_id=sender.merchant_id)
    await set_policy(db, capped.key_id, {"scopes": ["topup:send", "topup:read"], **policy})
    refused = await client.post("/topup/send", json=SEND, headers=_keyed(capped, "shared-k"))
    assert refused.json()["code"] == code

    sent = await client.post("/topup/send", json=SEND, headers=_keyed(sender, "shared-k"))
    assert (sent.status_code, sent.json()["code"]) == (200, 1001)
    assert "idempotent-replayed" not in sent.headers
    again = await client.post("/topup/send", json=SEND, headers=_keyed(sender, "shared-k"))
    assert again.content == sent.content
    assert again.headers["idempotent-replayed"] == "true"
    assert await merchant_balance(db, sender) == 100_000 - 250
    assert await unbalanced_wallets(db) == []


async def test_a_revoked_or_expired_key_cannot_replay_and_its_successor_sends_its_own(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    old = await make_merchant()
    first = await client.post("/topup/send", json=SEND, headers=_keyed(old, "nightly"))
    assert first.json()["code"] == 1001
    async with db.transaction() as conn:
        assert await merchants.revoke_key(conn, old.key_id, utcnow())
    revoked = await client.post("/topup/send", json=SEND, headers=_keyed(old, "nightly"))
    assert (revoked.status_code, revoked.json()["code"]) == (401, 2004)

    expiring = await make_merchant(merchant_id=old.merchant_id)
    sent = await client.post("/topup/send", json=SEND, headers=_keyed(expiring, "nightly"))
    assert sent.json()["code"] == 1001  # the successor's own send, not the old key's reply
    assert sent.json()["transaction_id"] != first.json()["transaction_id"]
    past = rfc3339(utcnow() - timedelta(minutes=1))
    await set_policy(db, expiring.key_id, {"scopes": ["topup:send"], "expires_at": past})
    expired = await client.post("/topup/send", json=SEND, headers=_keyed(expiring, "nightly"))
    assert (expired.status_code, expired.json()["code"]) == (401, 2302)
    for reply in (revoked, expired):
        assert first.json()["data"]["voucher_code"] not in reply.text
        assert sent.json()["data"]["voucher_code"] not in reply.text
    assert await merchant_balance(db, old) == 100_000 - 2 * 250


async def test_concurrent_duplicates_of_two_keys_debit_once_per_key(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    one = await make_merchant()
    two = await make_merchant(merchant_id=one.merchant_id)
    limits = httpx.Limits(max_connections=100)
    async with local_client(base_url=live_url, limits=limits, timeout=60) as http:
        replies = await asyncio.gather(
            *(
                http.post("/topup/send", json=SEND, headers=_keyed(key, "batch-9"))
                for _ in range(40)
                for key in (one, two)
            )
        )
    assert {r.status_code for r in replies} == {200}
    by_key = [{r.content for r in replies[i::2]} for i in (0, 1)]
    assert [len(contents) for contents in by_key] == [1, 1]  # each key: one reply, replayed
    assert by_key[0] != by_key[1]
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in replies) == 78
    assert await merchant_balance(db, one) == 100_000 - 2 * 250
    assert await unbalanced_wallets(db) == []


async def test_a_key_past_its_ttl_claims_again_and_its_send_debits_once_more(
    make_merchant: MakeMerchant, db: Database
) -> None:
    """A replay within the TTL answers the first send; past it the key is free again: the
    send's plan finds the old row under the key (its statement undone whole), which is
    forgotten, and the send runs again and is kept under the key, its replay answering the
    second send."""
    merchant = await make_merchant()
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    body = SendRequest.model_validate(SEND, context={"max_topup_cents": 100_000})
    sealer, ttl, first_at = Sealer(TEST_SECRET.encode()), 60, utcnow()

    async def sent(at: Any) -> Any:
        return await service.send(
            db, sealer, caller, body, idempotency_key="nightly", idempotency_ttl_seconds=ttl,
            now=at,
        )  # fmt: skip

    first = await sent(first_at)
    again = await sent(first_at + timedelta(seconds=ttl - 1))
    assert again.transaction_id == first.transaction_id
    assert await merchant_balance(db, merchant) == 100_000 - 250
    later = first_at + timedelta(seconds=ttl + 1)
    second = await sent(later)
    assert second.code == 1001 and second.transaction_id != first.transaction_id
    assert await merchant_balance(db, merchant) == 100_000 - 500
    replayed = await sent(later + timedelta(seconds=1))
    assert replayed.transaction_id == second.transaction_id
    assert await merchant_balance(db, merchant) == 100_000 - 500
    assert await unbalanced_wallets(db) == []
