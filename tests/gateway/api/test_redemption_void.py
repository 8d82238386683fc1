"""Redemption codes can be voided by an operator, and a batch taken as CSV when it is made."""

import csv
import io

import httpx

from tests.fixtures.merchants import MakeMerchant


async def _batch(admin_client: httpx.AsyncClient, **extra: str) -> httpx.Response:
    return await admin_client.post(
        "/redemption-codes",
        json={"count": 3, "amount_cents": 700, "env": "staging", "name": "fair"},
        headers=extra,
    )


async def test_a_voided_code_cannot_be_redeemed_and_a_redeemed_one_cannot_be_voided(
    admin_client: httpx.AsyncClient,
    billing_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    made = (await _batch(admin_client)).json()["data"]
    first, second, _ = made["codes"]
    listed = await admin_client.get("/redemption-codes", params={"batch_id": made["batch_id"]})
    by_hint = {c["hint"]: c["id"] for c in listed.json()["data"]}

    voided = await admin_client.post(f"/redemption-codes/{by_hint[first[-4:]]}/void")
    assert voided.status_code == 200, voided.text
    assert voided.json()["data"]["status"] == "voided"
    refused = await billing_client.post(
        "/billing/redeem", json={"code": first}, headers=merchant.headers
    )
    assert (refused.status_code, refused.json()["code"]) == (410, 4155)
    again = await admin_client.post(f"/redemption-codes/{by_hint[first[-4:]]}/void")
    assert (again.status_code, again.json()["code"]) == (410, 4155)

    redeemed = await billing_client.post(
        "/billing/redeem", json={"code": second}, headers=merchant.headers
    )
    assert redeemed.status_code == 200, redeemed.text
    late = await admin_client.post(f"/redemption-codes/{by_hint[second[-4:]]}/void")
    assert (late.status_code, late.json()["code"]) == (409, 4111)
    missing = await admin_client.post("/redemption-codes/rdc_nope/void")
    assert (missing.status_code, missing.json()["code"]) == (404, 4156)

    statuses = await admin_client.get(
        "/redemption-codes", params={"batch_id": made["batch_id"], "status": "voided"}
    )
    assert [c["hint"] for c in statuses.json()["data"]] == [first[-4:]]
    balance = await billing_client.get("/balance", headers=merchant.headers)
    assert balance.json()["data"]["balance_cents"] == 700


async def test_a_batch_is_exported_as_csv_when_it_is_made(
    admin_client: httpx.AsyncClient, billing_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    reply = await _batch(admin_client, Accept="text/csv")
    assert reply.status_code == 201
    assert reply.headers["content-type"].startswith("text/csv")
    assert reply.headers["cache-control"] == "no-store"
    [header, *rows] = list(csv.reader(io.StringIO(reply.text)))
    assert header == ["code", "amount_cents", "env", "batch_id", "name", "expires_at"]
    assert len(rows) == 3 and all(r[1:3] == ["700", "staging"] for r in rows)
    merchant = await make_merchant("staging", balance_cents=0)
    redeemed = await billing_client.post(
        "/billing/redeem", json={"code": rows[0][0]}, headers=merchant.headers
    )
    assert redeemed.status_code == 200, redeemed.text
