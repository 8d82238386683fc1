"""The OAuth endpoints anyone may call: ``/oauth/authorize``, ``/oauth/token`` and
``/oauth/revoke`` are counted per client address, in one bucket for the three, and refuse in the
OAuth error shape past it; with Redis down they refuse (each may make the gateway read a
document for whoever asks). A ``client_id`` that is no URL at all is an unknown client, never a
500."""

import httpx
import pytest
from redis.asyncio import Redis
from starlette.types import ASGIApp

from gateway.values.settings import Settings
from tests.fixtures.core import running_app
from tests.fixtures.limiters import client_at, limits, unique_address

__all__ = ["limits"]  # a fixture, used by name

ROOT = "http://gateway.test"
# A PKCE S256 challenge's shape, so only the client is in question.
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


async def _knock(http: httpx.AsyncClient, client_id: str) -> list[httpx.Response]:
    """One request to each of the three endpoints, naming ``client_id``."""
    authorize = await http.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": "https://app.example/callback",
            "code_challenge": CHALLENGE,
            "code_challenge_method": "S256",
            "state": "s",
        },
    )
    token = await http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "rt", "client_id": client_id},
    )
    revoke = await http.post("/oauth/revoke", data={"token": "at", "client_id": client_id})
    return [authorize, token, revoke]


async def test_the_three_endpoints_count_each_client_address_together(
    settings: Settings, limits: Redis
) -> None:
    limited = settings.model_copy(update={"oauth_requests_per_client_per_minute": 3})
    async with running_app(limited) as app:
        async with client_at(app, unique_address(), ROOT) as http:
            within = await _knock(http, "app_nobody")
            past = await _knock(http, "app_nobody")
        async with client_at(app, unique_address(), ROOT) as http:
            elsewhere = await _knock(http, "app_nobody")
    assert [r.status_code for r in within] == [400, 401, 401], [r.text for r in within]
    assert [r.status_code for r in past] == [429, 429, 429]
    for refused in past:
        assert refused.json() == {
            "error": "invalid_request",
            "error_description": "too many requests",
        }
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert refused.headers["cache-control"] == "no-store"
    assert [r.status_code for r in elsewhere] == [400, 401, 401]


async def test_with_redis_down_the_endpoints_refuse(settings: Settings) -> None:
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1"})
    async with running_app(down) as app, client_at(app, unique_address(), ROOT) as http:
        answers = await _knock(http, "app_nobody")
    assert [r.status_code for r in answers] == [503, 503, 503]
    assert {r.json()["error"] for r in answers} == {"temporarily_unavailable"}


# With a NUL too, every endpoint refuses the request as it is parsed (invalid_request, 400):
# tests/gateway/apps/test_registration.py sweeps that.
@pytest.mark.parametrize("client_id", ["https://[::1/x", "https://[::1]:99999/x", "http://[/x"])
async def test_a_client_id_that_is_no_url_is_an_unknown_client(
    app: ASGIApp, client_id: str
) -> None:
    async with client_at(app, unique_address(), ROOT) as http:
        answers = await _knock(http, client_id)
    assert [r.status_code for r in answers] == [400, 401, 401], [r.text for r in answers]
    assert answers[0].json()["error"] == "invalid_request"
    assert [r.json()["error"] for r in answers[1:]] == ["invalid_client", "unauthorized_client"]


async def test_an_unverified_client_is_never_sent_an_error_before_a_person_acts(
    app: ASGIApp,
) -> None:
    """A client anyone registered, with any https URI: an authorization request it gets wrong
    (a scope beyond any app's, no PKCE, a wrong response type) shows the error on the gateway's
    own page and sends the browser nowhere (RFC 9700 4.11.2)."""
    evil = "https://evil.example/landing"
    async with client_at(app, unique_address(), ROOT) as http:
        made = await http.post(
            "/oauth/register", json={"redirect_uris": [evil], "token_endpoint_auth_method": "none"}
        )
        assert made.status_code == 201, made.text
        client_id = made.json()["client_id"]
        asked = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": evil,
            "code_challenge": CHALLENGE,
            "code_challenge_method": "S256",
            "state": "s",
        }
        wrong = [
            await http.get("/oauth/authorize", params={**asked, "scope": "keys everything"}),
            await http.get("/oauth/authorize", params={**asked, "code_challenge": ""}),
            await http.get("/oauth/authorize", params={**asked, "response_type": "token"}),
            await http.post("/oauth/authorize", data={**asked, "resource": "https://else.example"}),
        ]
        right = await http.get("/oauth/authorize", params={**asked, "scope": "topup:read"})
    for refused in wrong:
        assert refused.status_code == 400, refused.headers.get("location")
        assert "location" not in refused.headers
        assert refused.headers["content-type"].startswith("text/html")
        assert "evil.example" not in refused.text
    assert "invalid_scope" in wrong[0].text
    # A request that is right goes on to the consent page, on the gateway.
    assert right.status_code == 302
    assert "/dashboard/oauth/consent?request=" in right.headers["location"]


async def test_the_resources_list_the_least_to_ask_for_and_the_server_every_scope(
    app: ASGIApp,
) -> None:
    """RFC 9728's ``scopes_supported`` is the least a client should ask for (reading), as MCP
    has it, more coming by step-up; the authorization server's metadata lists every scope an
    app may hold."""
    async with client_at(app, unique_address(), ROOT) as http:
        server = (await http.get("/.well-known/oauth-authorization-server")).json()
        resources = [
            (await http.get(f"/.well-known/oauth-protected-resource{path}")).json()
            for path in ("/mcp", "/api/public/v1")
        ]
    assert server["scopes_supported"] == [
        "topup:send",
        "topup:read",
        "billing",
        "approvals",
        "keys:manage",
        "payments:send",
    ]
    for described in resources:
        assert described["scopes_supported"] == ["topup:read"], described
        assert described["authorization_servers"] == [server["issuer"]]
