"""Every malformed request gets the envelope with a 3xxx code, never a 500, and changes nothing."""

import json
from typing import Any

import httpx
import pytest

from gateway.store.db import Database
from tests.fixtures.merchants import MakeMerchant, merchant_balance

GOOD = {"platform": "claude", "amount_cents": 1000, "recipient_email": "user@example.com"}
JSON = {"Content-Type": "application/json"}


def body(**changes: Any) -> bytes:
    merged = {**GOOD, **changes}
    return json.dumps({k: v for k, v in merged.items() if v is not ...}).encode()


SEND_CASES: list[tuple[str, bytes, dict[str, str], int, int]] = [
    ("missing platform", body(platform=...), JSON, 422, 3001),
    ("missing amount", body(amount_cents=...), JSON, 422, 3001),
    ("missing email", body(recipient_email=...), JSON, 422, 3001),
    ("extra field", body(note="hi"), JSON, 422, 3001),
    ("amount as string", body(amount_cents="1000"), JSON, 422, 3001),
    ("amount as float", body(amount_cents=10.0), JSON, 422, 3001),
    ("amount fractional", body(amount_cents=10.5), JSON, 422, 3001),
    ("amount as bool", body(amount_cents=True), JSON, 422, 3001),
    ("amount null", body(amount_cents=None), JSON, 422, 3001),
    ("amount zero", body(amount_cents=0), JSON, 422, 3001),
    ("amount negative", body(amount_cents=-5), JSON, 422, 3001),
    ("amount over max", body(amount_cents=100_001), JSON, 422, 3001),
    ("amount huge", body(amount_cents=10**30), JSON, 422, 3001),
    ("unknown platform", body(platform="llama"), JSON, 422, 3001),
    ("platform wrong case", body(platform="Claude"), JSON, 422, 3001),
    ("bad email", body(recipient_email="not-an-email"), JSON, 422, 3001),
    ("email no domain", body(recipient_email="a@"), JSON, 422, 3001),
    ("email too long", body(recipient_email="a" * 250 + "@example.com"), JSON, 422, 3001),
    ("email as number", body(recipient_email=5), JSON, 422, 3001),
    ("metadata not object", body(metadata=["a"]), JSON, 422, 3001),
    ("metadata non-string value", body(metadata={"a": 1}), JSON, 422, 3001),
    ("metadata key too long", body(metadata={"k" * 41: "v"}), JSON, 422, 3001),
    ("metadata value too long", body(metadata={"k": "v" * 501}), JSON, 422, 3001),
    ("metadata too many keys", body(metadata={f"k{i}": "v" for i in range(51)}), JSON, 422, 3001),
    ("not json", b"{platform: claude", JSON, 400, 3002),
    ("empty body", b"", JSON, 400, 3002),
    ("json array", b"[1, 2]", JSON, 400, 3002),
    ("json string", b'"hello"', JSON, 400, 3002),
    (
        "NaN amount",
        b'{"platform":"claude","amount_cents":NaN,"recipient_email":"a@b.co"}',
        JSON,
        422,
        3001,
    ),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, JSON, 413, 3004),
    ("deep nesting within the limit", b"[" * 30_000 + b"]" * 30_000, JSON, 400, 3102),
    ("nesting past 32 levels", b'{"metadata":' + b"[" * 32 + b"]" * 32 + b"}", JSON, 400, 3102),
    ("invalid utf-8", b'{"platform":"\xff\xfe"}', JSON, 400, 3002),
    ("no content type", body(), {}, 415, 3003),
    ("form content type", body(), {"Content-Type": "application/x-www-form-urlencoded"}, 415, 3003),
    ("text content type", body(), {"Content-Type": "text/plain"}, 415, 3003),
    ("oversized body", body(metadata={"k": "v" * 500}) + b" " * 70_000, JSON, 413, 3004),
]


@pytest.mark.parametrize(
    ("raw", "headers", "status", "code"),
    [case[1:] for case in SEND_CASES],
    ids=[case[0] for case in SEND_CASES],
)
async def test_bad_send_is_refused_with_the_envelope(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    raw: bytes,
    headers: dict[str, str],
    status: int,
    code: int,
) -> None:
    merchant = await make_merchant()
    reply = await client.post("/topup/send", content=raw, headers={**merchant.headers, **headers})
    assert reply.status_code == status, reply.text
    envelope = reply.json()
    assert set(envelope) >= {
        "success",
        "code",
        "message",
        "transaction_id",
        "status",
        "timestamp",
        "data",
    }
    assert envelope["success"] is False
    assert envelope["code"] == code
    assert "Traceback" not in reply.text
    assert await merchant_balance(db, merchant) == 100_000
    listed = await client.get("/topup", headers=merchant.headers)
    assert listed.json()["data"] == []


@pytest.mark.parametrize(
    ("method", "path", "params", "status", "code"),
    [
        ("GET", "/topup", {"cursor": "nope"}, 422, 3005),
        ("GET", "/topup", {"cursor": "txn_' OR 1=1 --"}, 422, 3005),
        ("GET", "/topup", {"limit": "0"}, 422, 3006),
        ("GET", "/topup", {"limit": "101"}, 422, 3006),
        ("GET", "/topup", {"limit": "ten"}, 422, 3006),
        ("GET", "/topup", {"page": "2"}, 422, 3006),
        ("GET", "/topup/not-a-txn", {}, 404, 4002),
        ("GET", "/topup/txn_" + "a" * 24, {}, 404, 4002),
        ("POST", "/topup/txn_" + "a" * 24 + "/cancel", {}, 404, 4002),
        ("GET", "/no/such/route", {}, 404, 3007),
        ("DELETE", "/topup/send", {}, 405, 3008),
    ],
)
async def test_bad_reads_are_refused_with_the_envelope(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    method: str,
    path: str,
    params: dict[str, str],
    status: int,
    code: int,
) -> None:
    merchant = await make_merchant()
    reply = await client.request(method, path, params=params, headers=merchant.headers)
    assert (reply.status_code, reply.json()["code"]) == (status, code)
    assert reply.json()["success"] is False


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b'{"amount_cents": 0}', 422, 3001),
        (b'{"amount_cents": "5"}', 422, 3001),
        (b'{"amount_cents": 10000001}', 422, 3001),
        (b'{"amount_cents": 5, "x": 1}', 422, 3001),
        (b"nope", 400, 3002),
    ],
)
async def test_bad_sandbox_fund_changes_nothing(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    raw: bytes,
    status: int,
    code: int,
) -> None:
    merchant = await make_merchant()
    reply = await client.post("/sandbox/fund", content=raw, headers={**merchant.headers, **JSON})
    assert (reply.status_code, reply.json()["code"]) == (status, code)
    assert await merchant_balance(db, merchant) == 100_000


# A URL that is no URL: an IPv6 bracket never closed, or a port past 65535. Every URL field a
# caller sets is parsed, and such a value is refused in the envelope, never a 500.
NOT_URLS = ["https://[::1/x", "https://[::1]:99999/x"]
URL_FIELDS: list[tuple[str, str, Any]] = [
    ("webhook url", "/webhooks/endpoints", lambda u: {"url": u, "events": ["topup.delivered"]}),
    (
        "app redirect",
        "/apps",
        lambda u: {"name": "A", "redirect_uris": [u], "scopes": ["topup:read"]},
    ),
    (
        "app homepage",
        "/apps",
        lambda u: {
            "name": "A",
            "redirect_uris": ["https://a.example/cb"],
            "scopes": ["topup:read"],
            "homepage_url": u,
        },
    ),
    (
        "checkout success",
        "/billing/checkout",
        lambda u: {"pack_id": "pack_pro", "success_url": u, "cancel_url": "https://m.example/no"},
    ),
    (
        "upstream root",
        "/fulfilment/claude",
        lambda u: {"provider": "newapi", "base_url": u, "access_token": "t" * 20, "user_id": 1},
    ),
]


@pytest.mark.parametrize("url", NOT_URLS)
@pytest.mark.parametrize(("name", "path", "make"), URL_FIELDS, ids=[f[0] for f in URL_FIELDS])
async def test_a_url_that_is_no_url_is_refused_in_the_envelope(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    name: str,
    path: str,
    make: Any,
    url: str,
) -> None:
    merchant = await make_merchant()
    method = client.put if path.startswith("/fulfilment") else client.post
    reply = await method(path, json=make(url), headers=merchant.headers)
    assert 400 <= reply.status_code < 500, (name, reply.status_code, reply.text)
    assert reply.json()["success"] is False
