"""One meaning per request: the same Idempotency-Key however it is padded, no repeated JSON keys,
no redirect on a trailing slash, instants the gateway can hold, no null for a value that cannot
be empty."""

import uuid
from typing import Any

import httpx
import pytest

from gateway.store.engine import Database
from tests.fixtures.merchants import MakeMerchant, merchant_balance

SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "parse@example.com"}


@pytest.mark.parametrize("padded", ["k-{n} ", " k-{n}", "\tk-{n}\t", "  k-{n}  "])
async def test_spaces_around_an_idempotency_key_are_not_part_of_it(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, padded: str
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    key = f"k-{uuid.uuid4().hex}"
    first = await client.post(
        "/topup/send", json=SEND, headers={**merchant.headers, "Idempotency-Key": key}
    )
    assert first.status_code == 200
    again = await client.post(
        "/topup/send",
        json=SEND,
        headers={**merchant.headers, "Idempotency-Key": padded.format(n=key[2:])},
    )
    assert again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.content == first.content
    assert await merchant_balance(db, merchant) == 900  # one debit


async def test_an_idempotency_key_of_spaces_only_is_refused(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    refused = await client.post(
        "/topup/send", json=SEND, headers={**merchant.headers, "Idempotency-Key": "   "}
    )
    assert (refused.status_code, refused.json()["code"]) == (422, 4006)
    assert await merchant_balance(db, merchant) == 1_000


@pytest.mark.parametrize(
    "body",
    [
        b'{"platform": "claude", "amount_cents": 1, "amount_cents": 900,'
        b' "recipient_email": "parse@example.com"}',
        b'{"platform": "claude", "amount_cents": 100, "recipient_email": "a@example.com",'
        b' "recipient_email": "b@example.com"}',
        b'{"platform": "claude", "amount_cents": 100, "recipient_email": "parse@example.com",'
        b' "metadata": {"order": "1", "order": "2"}}',
        b'{"platform": "claude", "\\u0070latform": "gemini", "amount_cents": 100,'
        b' "recipient_email": "parse@example.com"}',
    ],
)
async def test_a_body_that_repeats_a_key_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, body: bytes
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    refused = await client.post(
        "/topup/send",
        content=body,
        headers={**merchant.headers, "Content-Type": "application/json"},
    )
    assert (refused.status_code, refused.json()["code"]) == (400, 3101)
    assert await merchant_balance(db, merchant) == 1_000


async def test_repeated_keys_are_refused_on_every_json_route(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    refused = await client.post(
        "/webhooks/endpoints",
        content=b'{"url": "http://93.184.215.14/a", "url": "http://127.0.0.1/b"}',
        headers={**merchant.headers, "Content-Type": "application/json"},
    )
    assert (refused.status_code, refused.json()["code"]) == (400, 3101)


@pytest.mark.parametrize(
    "path",
    [
        "/api/public/v1/balance/",
        "/api/public/v1/topup/",
        "/api/public/v1/",
        "/api/public/v1",
        "/api/admin/v1/merchants/",
        "/healthz/",
    ],
)
async def test_a_trailing_slash_gets_the_404_envelope_never_a_redirect(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, path: str
) -> None:
    merchant = await make_merchant()
    reply = await client.get(
        f"http://gateway.test{path}", headers={**merchant.headers, "Host": "evil.example"}
    )
    assert reply.status_code == 404
    assert reply.json()["code"] == 3007
    assert "location" not in reply.headers


_OUT_OF_RANGE = [
    "9999-12-31T23:59:59-01:00",  # no UTC form: past the last datetime
    "9999-12-31T23:59:59Z",  # representable, but with no room left to add to it
    "0001-01-01T00:00:00+01:00",  # no UTC form: before the first datetime
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
]


@pytest.mark.parametrize("instant", _OUT_OF_RANGE)
async def test_instants_out_of_range_are_refused_not_failed(
    admin_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    instant: str,
) -> None:
    coupon = {"code": f"c{uuid.uuid4().hex[:20]}", "percent_off": 10, "expires_at": instant}
    created = await admin_client.post("/coupons", json=coupon)
    assert (created.status_code, created.json()["code"]) == (422, 3001)
    batch = {"count": 1, "amount_cents": 100, "env": "live", "expires_at": instant}
    minted = await admin_client.post("/redemption-codes", json=batch)
    assert (minted.status_code, minted.json()["code"]) == (422, 3001)

    merchant = await make_merchant()
    for name in ("created_after", "created_before"):
        listed = await client.get(
            "/webhooks/deliveries", params={name: instant}, headers=merchant.headers
        )
        assert (listed.status_code, listed.json()["code"]) == (422, 3006)
    endpoint = await client.post(
        "/webhooks/endpoints", json={"url": "http://93.184.215.14/h"}, headers=merchant.headers
    )
    endpoint_id = endpoint.json()["data"]["id"]
    recovered = await client.post(
        f"/webhooks/endpoints/{endpoint_id}/replay-failed",
        json={"since": instant},
        headers=merchant.headers,
    )
    assert (recovered.status_code, recovered.json()["code"]) == (422, 3001)


async def test_instants_at_the_edges_of_the_range_are_kept(
    admin_client: httpx.AsyncClient,
) -> None:
    late = "9998-12-31T23:59:59+14:00"
    coupon = {"code": f"c{uuid.uuid4().hex[:20]}", "percent_off": 10, "expires_at": late}
    created = await admin_client.post("/coupons", json=coupon)
    assert created.status_code == 201, created.text
    assert created.json()["data"]["expires_at"].startswith("9998-12-31T09:59:59")
    coupon_id = created.json()["data"]["id"]
    early = await admin_client.patch(
        f"/coupons/{coupon_id}", json={"expires_at": "1970-01-01T00:00:00Z"}
    )
    assert early.status_code == 200, early.text


async def _pack(admin: httpx.AsyncClient) -> str:
    pack_id = f"pack_{uuid.uuid4().hex[:12]}"
    body = {"id": pack_id, "name": "Null test", "price_cents": 500, "credits": 5_000}
    assert (await admin.post("/packs", json=body)).status_code == 201
    return pack_id


@pytest.mark.parametrize(
    "field", ["name", "price_cents", "credits", "popular", "active", "sort_order"]
)
async def test_admin_patch_with_null_for_a_required_field_is_refused(
    admin_client: httpx.AsyncClient, field: str
) -> None:
    pack_id = await _pack(admin_client)
    refused = await admin_client.patch(f"/packs/{pack_id}", json={field: None})
    assert (refused.status_code, refused.json()["code"]) == (422, 3001)
    assert refused.json()["data"]["errors"][0]["loc"] == [field]
    kept = [p for p in (await admin_client.get("/packs")).json()["data"] if p["id"] == pack_id]
    assert kept[0]["name"] == "Null test" and kept[0]["price_cents"] == 500


async def test_coupon_patch_null_clears_what_may_be_empty_and_refuses_the_rest(
    admin_client: httpx.AsyncClient,
) -> None:
    body: dict[str, Any] = {
        "code": f"c{uuid.uuid4().hex[:20]}",
        "percent_off": 10,
        "expires_at": "2999-01-01T00:00:00Z",
        "max_uses": 5,
    }
    coupon_id = (await admin_client.post("/coupons", json=body)).json()["data"]["id"]
    refused = await admin_client.patch(f"/coupons/{coupon_id}", json={"active": None})
    assert (refused.status_code, refused.json()["code"]) == (422, 3001)
    cleared = await admin_client.patch(
        f"/coupons/{coupon_id}", json={"expires_at": None, "max_uses": None}
    )
    assert cleared.status_code == 200
    assert cleared.json()["data"]["expires_at"] is None
    assert cleared.json()["data"]["max_uses"] is None
    assert cleared.json()["data"]["active"] is True
