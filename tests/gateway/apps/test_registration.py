"""Clients that register themselves (RFC 7591): bounded per client address an hour, held to the
redirect URI rule of every app, unverified, and unable to charge anyone."""

import uuid

import httpx
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures.core import running_app
from tests.fixtures.rows import row_counts

CLIENT = {
    "redirect_uris": ["http://127.0.0.1:7/cb"],
    "client_name": "Self-made",
    "scope": "topup:read",
}


async def test_registrations_from_one_address_are_bounded(settings: Settings) -> None:
    limited = settings.model_copy(update={"oauth_registrations_per_client_per_hour": 2})
    address = f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::2"
    async with running_app(limited) as app:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            made = [await http.post("/oauth/register", json=CLIENT) for _ in range(3)]
    assert [r.status_code for r in made] == [201, 201, 429]
    first = made[0].json()
    assert first["client_secret"] and first["token_endpoint_auth_method"] == "client_secret_post"
    assert made[2].json()["error"] == "invalid_request"
    assert int(made[2].headers["retry-after"]) > 0


async def test_a_registration_asking_beyond_what_apps_may_hold_is_refused(
    settings: Settings,
) -> None:
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            keys = await http.post("/oauth/register", json={**CLIENT, "scope": "topup:read keys"})
            fragment = await http.post(
                "/oauth/register", json={**CLIENT, "redirect_uris": ["https://a.example/cb#x"]}
            )
            metadata = await http.get("/.well-known/oauth-authorization-server")
    assert keys.status_code == 400 and keys.json()["error"] == "invalid_client_metadata"
    assert fragment.status_code == 400 and fragment.json()["error"] == "invalid_redirect_uri"
    assert metadata.json()["registration_endpoint"].endswith("/oauth/register")
    # The issuer is the very base a client derived the metadata's URL from (RFC 8414 3.3).
    assert metadata.json()["issuer"] == (settings.public_base_url or "http://127.0.0.1:8000")
    assert not metadata.json()["issuer"].endswith("/")


async def test_a_nul_in_any_oauth_request_is_refused_and_stores_nothing(
    app: ASGIApp, db: Database
) -> None:
    """PostgreSQL cannot store a NUL (a registration with one answered 500 there): refused in
    OAuth's error shape on every OAuth endpoint, the body's fields and the query's alike."""
    address = f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::3"
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    before = await row_counts(db)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        named = await http.post("/oauth/register", json={**CLIENT, "client_name": "Self\x00"})
        lined = await http.post("/oauth/register", json={**CLIENT, "client_name": "A\nB"})
        redirect = await http.post(
            "/oauth/register", json={**CLIENT, "redirect_uris": ["http://127.0.0.1:7/\x00"]}
        )
        token = await http.post(
            "/oauth/token", data={"grant_type": "authorization_code", "client_id": "app_\x00"}
        )
        revoked = await http.post("/oauth/revoke", data={"token": "t\x00", "client_id": "a"})
        authorize = await http.get(
            "/oauth/authorize", params={"client_id": "app_\x00", "response_type": "code"}
        )
        posted = await http.post(
            "/oauth/authorize", data={"client_id": "app_\x00", "response_type": "code"}
        )
    assert [r.status_code for r in (named, redirect, lined)] == [400, 400, 400]
    assert {r.json()["error"] for r in (named, redirect, lined)} == {"invalid_client_metadata"}
    assert "control characters" in lined.json()["error_description"]
    for refused in (token, revoked, authorize, posted):
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request")
        assert "NUL" in refused.json()["error_description"]
    assert await row_counts(db) == before
