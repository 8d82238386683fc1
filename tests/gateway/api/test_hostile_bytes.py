"""Every parser of an outsider's bytes, fed the same hostile values: an IPv6 bracket never closed
or closed twice, a port past 65535, 5,000 nested brackets, a NUL, a lone surrogate, a number of
5,000 digits, bytes that are not UTF-8. Each door answers in its own words with a 4xx (the
envelope on the API, OAuth's error or a page on its own doors), never a 500 or a trace, and
writes nothing."""

import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures.billing import stripe_headers
from tests.fixtures.core import asgi_client, running_app
from tests.fixtures.dashboard import csrf_of, dashboard_client
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.rows import row_counts

DEEP = "[" * 5000 + "]" * 5000
# Text an outsider may put anywhere a string goes.
HOSTILE_TEXT = {
    "bracket closed twice": "https://[::1]]/x",
    "bracket never closed": "https://[::1/x",
    "port past range": "https://[::1]:99999/x",
    "5,000 nested brackets": DEEP,
    "NUL": "a\x00b",
    "lone surrogate": "\ud800",
    "5,000 digits": "9" * 5000,
}
# Bodies an outsider may send where JSON is read.
HOSTILE_JSON = {
    "5,000 nested brackets": DEEP.encode(),
    "5,000 nested objects": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "5,000 digits": b'{"a":' + b"9" * 5000 + b"}",
    "not UTF-8": b'{"a":"\xff\xfe"}',
    "lone surrogate": b'{"a":"\\ud800"}',
    "NUL": b'{"a":"\\u0000"}',
    "past a float": b'{"a":1e999}',
}
TELEGRAM_SECRET = "telegram-secret-0123456789"
STRIPE_SECRET = "whsec_hostile"


def _form(fields: dict[str, str], *, cap: int | None = None) -> str:
    """A query or form body carrying ``fields`` byte for byte (a surrogate as its UTF-8 bytes,
    which no decoder takes), each value cut to ``cap`` bytes where a URL must stay short."""
    return urlencode({k: v.encode("utf-8", "surrogatepass")[:cap] for k, v in fields.items()})


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()  # ASCII, a surrogate escaped as JSON allows


@pytest.fixture
async def door_app(settings: Settings) -> AsyncIterator[ASGIApp]:
    """The app with its Telegram bot and Stripe's notifications configured, so that their
    parsers are reached."""
    configured = settings.model_copy(
        update={
            "telegram_webhook_secret": SecretStr(TELEGRAM_SECRET),
            "telegram_bot_token": SecretStr("123456:hostile"),
            "stripe_webhook_secret": SecretStr(STRIPE_SECRET),
        }
    )
    async with running_app(configured) as app:
        yield app


class Answers:
    """Every reply that was not a 4xx in the door's own words."""

    def __init__(self) -> None:
        self.wrong: list[tuple[str, int, str]] = []
        self.seen = 0

    def check(
        self, what: str, reply: httpx.Response, *, envelope: bool = True, **extra: Any
    ) -> None:
        self.seen += 1
        fine = 400 <= reply.status_code < 500 and "Traceback" not in reply.text
        if fine and envelope:
            body = reply.json()
            fine = body.get("success") is False and 2000 <= body.get("code", 0) < 9000
        if not fine:
            self.wrong.append((what, reply.status_code, reply.text[:160]))


# PostgreSQL refuses what SQLite stores (a NUL, a surrogate): a 500 there alone.
@pytest.mark.both_stores
async def test_oauth_doors_refuse_hostile_text_in_their_own_words(
    door_app: ASGIApp, db: Database
) -> None:
    before = await row_counts(db)
    answers = Answers()
    async with asgi_client(door_app, base_url="http://gateway.test") as http:
        for name, value in HOSTILE_TEXT.items():
            asked = {
                "response_type": "code",
                "client_id": value,
                "redirect_uri": value,
                "state": value,
                "scope": value,
                "code_challenge": value,
                "code_challenge_method": "S256",
            }
            query = _form(asked, cap=2000)
            answers.check(
                f"authorize {name}", await http.get(f"/oauth/authorize?{query}"), envelope=False
            )
            for only in ("client_id", "redirect_uri"):  # each alone, the rest well formed
                alone = {**asked, "client_id": "app_x", "redirect_uri": "https://a.example/cb"}
                alone[only] = value
                reply = await http.get(f"/oauth/authorize?{_form(alone, cap=2000)}")
                answers.check(f"authorize {only} {name}", reply, envelope=False)
            form = {
                "grant_type": "authorization_code",
                "client_id": value,
                "code": value,
                "redirect_uri": value,
                "code_verifier": value,
                "token": value,
            }
            for path in ("/oauth/token", "/oauth/revoke"):
                reply = await http.post(
                    path,
                    content=_form(form),
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                answers.check(f"{path} {name}", reply, envelope=False)
            registered = {"redirect_uris": [value], "client_name": value, "client_uri": value}
            reply = await http.post(
                "/oauth/register",
                content=_json(registered),
                headers={"Content-Type": "application/json"},
            )
            answers.check(f"register {name}", reply, envelope=False)
        for name, raw in HOSTILE_JSON.items():
            reply = await http.post(
                "/oauth/register", content=raw, headers={"Content-Type": "application/json"}
            )
            answers.check(f"register body {name}", reply, envelope=False)
    assert not answers.wrong, answers.wrong
    assert answers.seen > 40
    assert await row_counts(db) == before


# Routes that read a JSON body, each with a field no hostile value is valid in.
JSON_DOORS: list[tuple[str, str, Callable[[str], Any]]] = [
    (
        "POST",
        "/topup/send",
        lambda v: {"platform": "claude", "amount_cents": 100, "recipient_email": v},
    ),
    ("POST", "/webhooks/endpoints", lambda v: {"url": v, "description": v}),
    ("POST", "/apps", lambda v: {"name": v, "redirect_uris": [v], "homepage_url": v}),
    ("POST", "/billing/checkout", lambda v: {"pack_id": v, "success_url": v, "cancel_url": v}),
    ("POST", "/keys", lambda v: {"name": v, "scopes": [v]}),
    ("POST", "/budgets", lambda v: {"name": v, "limit_cents": v}),
    ("PUT", "/fulfilment/claude", lambda v: {"provider": "newapi", "base_url": v}),
    ("POST", "/webhooks/pollers", lambda v: {"event_types": [v], "description": v}),
]
# Lists and the query parameters they parse.
QUERY_DOORS = {
    "/topup": ("cursor", "limit", "status", "created_after", "created_before"),
    "/webhooks/deliveries": ("cursor", "limit", "event_type", "endpoint_id"),
    "/billing/history": ("page", "per_page"),
    "/billing/transactions": ("page", "per_page", "start_timestamp", "end_timestamp"),
    "/charges": ("cursor", "limit"),
    "/emails": ("cursor", "limit"),
    "/orders": ("cursor", "limit"),
}


# PostgreSQL refuses what SQLite stores (a NUL, a surrogate): a 500 there alone.
@pytest.mark.both_stores
async def test_api_doors_refuse_hostile_bytes_with_the_envelope(
    door_app: ASGIApp, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("live")
    before = await row_counts(db)
    answers = Answers()
    typed = {**merchant.headers, "Content-Type": "application/json"}
    async with asgi_client(door_app) as api:
        for method, path, make in JSON_DOORS:
            for name, value in HOSTILE_TEXT.items():
                reply = await api.request(method, path, content=_json(make(value)), headers=typed)
                answers.check(f"{method} {path} {name}", reply)
            for name, raw in HOSTILE_JSON.items():
                reply = await api.request(method, path, content=raw, headers=typed)
                answers.check(f"{method} {path} body {name}", reply)
        for path, params in QUERY_DOORS.items():
            for param in params:
                for name, value in HOSTILE_TEXT.items():
                    query = _form({param: value}, cap=2000)
                    reply = await api.get(f"{path}?{query}", headers=merchant.headers)
                    if reply.status_code != 200:  # a free-text filter may match nothing
                        answers.check(f"{path}?{param} {name}", reply)
        send = _json({"platform": "claude", "amount_cents": 100, "recipient_email": "a@b.co"})
        keyed = {k.encode(): v.encode() for k, v in typed.items()}
        for name, value in {**HOSTILE_TEXT, "not UTF-8": "\udcff"}.items():
            raw = value.encode(
                "utf-8", "surrogateescape" if name == "not UTF-8" else "surrogatepass"
            )
            raw = raw.replace(b"\x00", b"%00")[:3000]  # a header holds no NUL on the wire
            reply = await api.post(
                "/topup/send",
                content=send,
                headers={b"Content-Type": b"application/json", b"Authorization": b"Bearer " + raw},
            )
            answers.check(f"Authorization {name}", reply)
            text = raw.decode("latin-1")
            if text.isascii() and text.isprintable() and len(text) <= 255:
                continue  # printable ASCII is a key (its outcome is kept), however it looks
            reply = await api.post(
                "/topup/send", content=send, headers={**keyed, b"Idempotency-Key": raw}
            )
            answers.check(f"Idempotency-Key {name}", reply)
        # A length of 5,000 digits: past every limit, never turned into a number.
        for path in ("/topup/send", "/telegram/webhook", "/payments/stripe/webhook"):
            reply = await api.post(
                path,
                content=send,
                headers={
                    **keyed,
                    b"Content-Length": b"9" * 5000,
                    b"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET.encode(),
                },
            )
            answers.check(f"{path} Content-Length of 5,000 digits", reply)
    assert not answers.wrong, answers.wrong
    assert answers.seen > 200
    assert await row_counts(db) == before


# PostgreSQL refuses what SQLite stores (a NUL, a surrogate): a 500 there alone.
@pytest.mark.both_stores
async def test_notification_doors_refuse_hostile_bodies(door_app: ASGIApp, db: Database) -> None:
    """Telegram's updates (with the secret, so the body is read) and Stripe's notifications
    (signed, so the body is parsed): a hostile body is malformed, a 4xx."""
    before = await row_counts(db)
    answers = Answers()
    async with asgi_client(door_app) as api:
        for name, raw in HOSTILE_JSON.items():
            reply = await api.post(
                "/telegram/webhook",
                content=raw,
                headers={
                    "Content-Type": "application/json",
                    "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
                },
            )
            answers.check(f"telegram {name}", reply)
            text = raw.decode("utf-8", "replace")
            for path in ("/payments/stripe/webhook", "/payment/webhook/stripe"):
                signed = stripe_headers(text, secret=STRIPE_SECRET)
                reply = await api.post(path, content=text.encode(), headers=signed)
                answers.check(f"{path} {name}", reply)
    assert not answers.wrong, answers.wrong
    assert await row_counts(db) == before


async def test_dashboard_forms_answer_hostile_text_with_a_page(
    door_app: ASGIApp, db: Database
) -> None:
    before = await row_counts(db)
    answers = Answers()
    async with dashboard_client(door_app) as page:
        token = csrf_of((await page.get("/sign-up")).text)
        for name, value in HOSTILE_TEXT.items():
            fields = {"email": value, "password": value, "merchant_name": value}
            for path in ("/sign-up", "/sign-in", "/forgot-password"):
                reply = await page.post(
                    path,
                    content=_form({"csrf_token": token, **fields}),
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                answers.check(f"{path} {name}", reply, envelope=False)
                assert "text/html" in reply.headers.get("content-type", ""), (path, name)
    assert not answers.wrong, answers.wrong
    assert await row_counts(db) == before
