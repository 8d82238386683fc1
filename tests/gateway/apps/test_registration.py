"""Clients that register themselves (RFC 7591): bounded per client address an hour, held to the
redirect URI rule of every app, unverified, and unable to charge anyone."""

import uuid

import httpx

from gateway.values.settings import Settings
from tests.fixtures.core import running_app

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
