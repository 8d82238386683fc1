"""Every malformed request gets the envelope with a 3xxx code, never a 500, and changes nothing."""

import json
import re
from typing import Any

import httpx
import pytest
from starlette.routing import Mount

from gateway.api import PREFIX
from gateway.app import create_app
from gateway.ops.routing import ApiRoute
from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures.merchants import MakeMerchant, merchant_balance
from tests.fixtures.rows import row_counts

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


# A NUL in any text from outside is refused where the request is parsed (3103), before a route
# reads it: PostgreSQL cannot store one (it answered 500 there) where SQLite did.
NUL_BODIES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("send metadata", "POST", "/topup/send", {**GOOD, "metadata": {"note": "a\x00b"}}),
    ("metadata key", "POST", "/topup/send", {**GOOD, "metadata": {"n\x00": "b"}}),
    ("recipient e-mail", "POST", "/topup/send", {**GOOD, "recipient_email": "a\x00b@example.com"}),
    ("app name", "POST", "/apps", {"name": "Bot\x00", "redirect_uris": ["https://app.example/cb"]}),
    (
        "endpoint description",
        "POST",
        "/webhooks/endpoints",
        {"url": "https://hooks.example/in", "description": "main\x00"},
    ),
    (
        "custom header value",
        "POST",
        "/webhooks/endpoints",
        {"url": "https://hooks.example/in", "headers": [{"name": "X-Tag", "value": "a\x00"}]},
    ),
    ("checkout coupon", "POST", "/billing/checkout", {"pack_id": "starter", "coupon": "OFF\x00"}),
    (
        "profile field",
        "PUT",
        "/billing/profile",
        {"legal_name": "Acme\x00", "address_line1": "1 Road", "city": "Ulm", "country": "DE"},
    ),
]


@pytest.mark.both_stores
@pytest.mark.parametrize(
    ("method", "path", "sent"),
    [case[1:] for case in NUL_BODIES],
    ids=[case[0] for case in NUL_BODIES],
)
async def test_a_nul_in_a_json_body_is_refused_and_changes_nothing(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    method: str,
    path: str,
    sent: Any,
) -> None:
    merchant = await make_merchant("live")
    before = await row_counts(db)
    reply = await client.request(method, path, json=sent, headers=merchant.headers)
    assert (reply.status_code, reply.json()["code"]) == (400, 3103), reply.text
    assert reply.json()["success"] is False
    assert await row_counts(db) == before


@pytest.mark.both_stores
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/topup", {"cursor": "txn_\x00"}),
        ("/topup", {"status\x00": "delivered"}),
        ("/webhooks/deliveries", {"event_type": "topup.delivered\x00"}),
        ("/topup/txn_%00aaaaaaaaaaaaaaaaaaaaaaa", {}),
        ("/apps/app_%00", {}),
    ],
    ids=["cursor", "query name", "delivery filter", "path id", "app id"],
)
async def test_a_nul_in_the_url_is_refused(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    path: str,
    params: dict[str, str],
) -> None:
    merchant = await make_merchant()
    before = await row_counts(db)
    reply = await client.get(path, params=params, headers=merchant.headers)
    assert (reply.status_code, reply.json()["code"]) == (400, 3103), reply.text
    assert await row_counts(db) == before


def _body_routes(settings: Settings) -> list[tuple[str, str]]:
    """Every (method, path) under the public API documented as taking a body, ids filled in."""
    found: list[tuple[str, str]] = []
    for mount in create_app(settings).routes:
        if not isinstance(mount, Mount) or mount.path != PREFIX:
            continue
        for route in mount.routes:
            if not isinstance(route, ApiRoute) or route.doc.body is None:
                continue
            for method in sorted((route.methods or set()) & {"POST", "PUT", "PATCH"}):
                found.append((method, re.sub(r"\{[^}]+\}", "x_1", route.path)))
    return found


@pytest.mark.both_stores
async def test_every_body_route_refuses_a_nul_before_reading_the_body(
    settings: Settings, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    routes = _body_routes(settings)
    assert len(routes) > 20
    before = await row_counts(db)
    refused = []
    for method, path in routes:
        reply = await client.request(
            method,
            path,
            json={"name": "a\x00", "description": "\x00"},
            headers={**merchant.headers, "Idempotency-Key": "nul-1"},
        )
        code = reply.json().get("code")
        # A channel not configured answers 503 with its own code; an internal error is 9xxx.
        assert reply.status_code != 500 and code < 9000, (method, path, reply.text)
        # The body was read by a model (3001) only if the NUL got past the parser.
        assert code != 3001, (method, path, reply.text)
        refused.append(code == 3103)
    assert await row_counts(db) == before
    # The rest look their resource up first (an id that is not there: 404).
    assert sum(refused) >= 16


@pytest.mark.both_stores
@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("/apps", {"name": "Bot\nAdmin: yes", "redirect_uris": ["https://app.example/cb"]}),
        ("/apps", {"name": "Bot", "redirect_uris": ["https://app.example/cb\r\nx"]}),
    ],
    ids=["app name", "redirect URI"],
)
async def test_a_control_character_in_a_name_or_line_is_refused(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, path: str, sent: Any
) -> None:
    merchant = await make_merchant()
    before = await row_counts(db)
    reply = await client.post(path, json=sent, headers=merchant.headers)
    assert (reply.status_code, reply.json()["code"]) == (422, 3001), reply.text
    assert "control characters" in reply.text
    assert await row_counts(db) == before


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


@pytest.mark.both_stores
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
