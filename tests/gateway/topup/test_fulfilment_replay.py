"""A send through an upstream replayed under its idempotency key answers what the first request
got once the inline try settled it: ``1001`` with the same code, or the failure, never the
``1002 pending`` stored with the debit. On SQLite and PostgreSQL."""

import httpx

from tests.fixtures.upstreams import MakeUpstreamMerchant, NewApiStandIn, send_body


async def test_a_replay_answers_the_delivery_the_inline_try_made(
    fulfil_client: httpx.AsyncClient,
    newapi_merchant: MakeUpstreamMerchant,
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    newapi, _ = newapi_standin
    merchant = await newapi_merchant(balance_cents=10_000)
    headers = {**merchant.headers, "Idempotency-Key": "replay-delivered-1"}
    first = await fulfil_client.post("/topup/send", json=send_body(300), headers=headers)
    assert (first.status_code, first.json()["code"]) == (200, 1001), first.text
    again = await fulfil_client.post("/topup/send", json=send_body(300), headers=headers)
    assert again.headers.get("idempotent-replayed") == "true"
    assert (again.status_code, again.json()["code"], again.json()["status"]) == (
        200,
        1001,
        "delivered",
    )
    assert again.json()["transaction_id"] == first.json()["transaction_id"]
    assert again.json()["data"] == first.json()["data"]
    assert len(newapi.redemptions) == 1
    balance = (await fulfil_client.get("/balance", headers=merchant.headers)).json()["data"]
    assert balance["balance_cents"] == 9_700


async def test_a_replay_answers_the_failure_the_inline_try_met(
    fulfil_client: httpx.AsyncClient,
    newapi_merchant: MakeUpstreamMerchant,
) -> None:
    merchant = await newapi_merchant(balance_cents=10_000, token="revoked-token")
    headers = {**merchant.headers, "Idempotency-Key": "replay-failed-1"}
    first = await fulfil_client.post("/topup/send", json=send_body(400), headers=headers)
    assert (first.status_code, first.json()["code"]) == (402, 4004), first.text
    again = await fulfil_client.post("/topup/send", json=send_body(400), headers=headers)
    assert (again.status_code, again.json()["code"], again.json()["status"]) == (
        402,
        4004,
        "failed",
    )
    assert again.json()["message"] == first.json()["message"]
    balance = (await fulfil_client.get("/balance", headers=merchant.headers)).json()["data"]
    assert (balance["balance_cents"], balance["held_cents"]) == (10_000, 0)


async def test_a_replay_while_the_upstream_has_not_answered_is_still_pending(
    fulfil_client: httpx.AsyncClient,
    newapi_merchant: MakeUpstreamMerchant,
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    newapi, _ = newapi_standin
    merchant = await newapi_merchant(balance_cents=10_000)
    newapi.faults.fail_next = 1
    headers = {**merchant.headers, "Idempotency-Key": "replay-pending-1"}
    first = await fulfil_client.post("/topup/send", json=send_body(500), headers=headers)
    assert first.json()["code"] == 1002, first.text
    again = await fulfil_client.post("/topup/send", json=send_body(500), headers=headers)
    assert (again.json()["code"], again.json()["status"]) == (1002, "pending")
    assert newapi.redemptions == []  # a replay runs no try of its own
