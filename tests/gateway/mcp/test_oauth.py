"""An MCP client connects by OAuth from nothing, with the `mcp` SDK's own OAuth client: the 401
points it at the resource's metadata, the metadata at the authorization server, the person
consents on the dashboard (over HTTP here), and the client's token calls tools within the
consented budget, and no further; a revoked grant is refused from the next call."""

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
)
from pydantic import AnyUrl

from tests.fixtures.core import local_client
from tests.fixtures.dashboard import csrf_of, sign_up_on
from tests.fixtures.mcp import McpCall, envelope_of, mcp_http, send_args
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.oauth import Kept, as_a_browser_sends, pkce

CALLBACK = "http://127.0.0.1:9/callback"


class Person:
    """Someone at a browser: follows the authorization link, allows on the consent page with
    ``form``, and with each of ``later`` in turn when asked again."""

    def __init__(
        self, dashboard: httpx.AsyncClient, form: dict[str, Any], *later: dict[str, Any]
    ) -> None:
        self.dashboard = dashboard
        self.form = form
        self.later = list(later)
        self.link = ""
        self.links: list[str] = []

    async def open(self, url: str) -> None:
        self.link = url
        self.links.append(url)

    async def allow(self) -> AuthorizationCodeResult:
        async with local_client() as http:
            sent = await http.get(self.link)
        assert sent.status_code == 302, sent.text
        consent = urlsplit(sent.headers["location"])
        page = await self.dashboard.get(f"/oauth/consent?{consent.query}")
        assert page.status_code == 200, page.text
        sealed = re.search(r'name="request" value="([^"]+)"', page.text)
        merchant = re.search(r'<option value="(mer_[0-9a-z]+)" selected', page.text)
        assert sealed is not None and merchant is not None
        allowed = await self.dashboard.post(
            "/oauth/consent",
            data={
                "csrf_token": csrf_of(page.text),
                "request": unescape(sealed.group(1)),
                "merchant_id": merchant.group(1),
                "env": "staging",
                "decision": "approve",
                **self.form,
            },
        )
        assert allowed.status_code == 303, allowed.text
        if self.later:
            self.form = self.later.pop(0)
        back = parse_qs(urlsplit(allowed.headers["location"]).query)
        return AuthorizationCodeResult(
            code=back["code"][0], state=back["state"][0], iss=back["iss"][0]
        )


@pytest.mark.both_stores
async def test_an_mcp_client_connects_by_oauth_and_spends_only_what_was_consented(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant("live")
    async with local_client(base_url=f"{mcp_root}/api/public/v1") as api:
        made = await api.post(
            "/apps",
            headers=owner.headers,
            json={
                "name": "Desk Agent",
                "redirect_uris": [CALLBACK],
                "scopes": ["topup:send", "topup:read", "billing", "approvals"],
                "confidential": False,
            },
        )
    assert made.status_code == 201, made.text
    app_id = made.json()["data"]["id"]
    kept = Kept(
        OAuthClientInformationFull(
            client_id=app_id,
            redirect_uris=[AnyUrl(CALLBACK)],
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        )
    )
    async with local_client(base_url=f"{mcp_root}/dashboard", follow_redirects=False) as web:
        await sign_up_on(web)
        person = Person(web, {"scopes": ["topup:send", "topup:read"], "limit_daily": "15.00"})
        auth = OAuthClientProvider(
            server_url=f"{mcp_root}/mcp",
            client_metadata=OAuthClientMetadata(
                redirect_uris=[AnyUrl(CALLBACK)], token_endpoint_auth_method="none"
            ),
            storage=kept,
            redirect_handler=person.open,
            callback_handler=person.allow,
        )
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            streamable_http_client(f"{mcp_root}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            assert person.link.startswith(f"{mcp_root}/oauth/authorize?")
            assert kept.tokens is not None
            assert kept.tokens.access_token.startswith("oat_staging_")
            balance = McpCall(await session.call_tool("get_balance", {}))
            assert balance.code == 1000 and balance.envelope["data"]["env"] == "staging"
            sent = McpCall(await session.call_tool("send_topup", send_args("oauth-1")))
            assert sent.code == 1001, sent.envelope
            over = McpCall(await session.call_tool("send_topup", send_args("oauth-2")))
            assert over.code == 2304, over.envelope  # past the consent's $15 a day

    # The grant revoked: the token is refused at the door from the next call.
    async with local_client() as plain:
        revoked = await plain.post(
            f"{mcp_root}/oauth/revoke",
            data={"token": kept.tokens.refresh_token or "", "client_id": app_id},
        )
        assert revoked.status_code == 200, revoked.text
        refused = await plain.post(
            f"{mcp_root}/mcp",
            headers={
                "Authorization": f"Bearer {kept.tokens.access_token}",
                "Accept": "application/json, text/event-stream",
            },
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
    assert refused.status_code == 401
    assert refused.json()["code"] == 2405


@pytest.mark.both_stores
async def test_an_mcp_client_allowed_to_read_steps_up_to_send_when_a_call_needs_it(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    """The person first gives the agent reading alone. Its send is answered 403 with the scope
    challenge before the tool runs; the `mcp` SDK's client asks the person again for what the
    challenge names, on the consent page, and sends the same call once with the new token."""
    owner = await make_merchant("live")
    async with local_client(base_url=f"{mcp_root}/api/public/v1") as api:
        made = await api.post(
            "/apps",
            headers=owner.headers,
            json={
                "name": "Careful Agent",
                "redirect_uris": [CALLBACK],
                "scopes": ["topup:send", "topup:read"],
                "confidential": False,
            },
        )
    assert made.status_code == 201, made.text
    kept = Kept(
        OAuthClientInformationFull(
            client_id=made.json()["data"]["id"],
            redirect_uris=[AnyUrl(CALLBACK)],
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        )
    )
    async with local_client(base_url=f"{mcp_root}/dashboard", follow_redirects=False) as web:
        await sign_up_on(web)
        person = Person(web, {"scopes": ["topup:read"]}, {"scopes": ["topup:send", "topup:read"]})
        auth = OAuthClientProvider(
            server_url=f"{mcp_root}/mcp",
            client_metadata=OAuthClientMetadata(
                redirect_uris=[AnyUrl(CALLBACK)], token_endpoint_auth_method="none"
            ),
            storage=kept,
            redirect_handler=person.open,
            callback_handler=person.allow,
        )
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            streamable_http_client(f"{mcp_root}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            assert kept.tokens is not None and kept.tokens.scope == "topup:read"
            before = McpCall(await session.call_tool("get_balance", {}))
            assert before.code == 1000, before.envelope
            sent = McpCall(await session.call_tool("send_topup", send_args("step-up-1")))
            assert sent.code == 1001, sent.envelope
            assert set(kept.tokens.scope.split()) == {"topup:send", "topup:read"}
            after = McpCall(await session.call_tool("get_balance", {}))
            listed = McpCall(await session.call_tool("list_topups", {}))
    assert len(person.links) == 2
    again = parse_qs(urlsplit(person.links[1]).query)
    assert set(again["scope"][0].split()) == {"topup:send", "topup:read"}
    spent = before.data["balance_cents"] - after.data["balance_cents"]
    assert spent == send_args("step-up-1")["amount_cents"]
    assert len(listed.data) == 1  # the refused call sent nothing, the retried one sent once


async def test_a_token_for_the_rest_api_is_refused_on_mcp(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant("live")
    async with local_client(base_url=f"{mcp_root}/api/public/v1") as api:
        made = await api.post(
            "/apps",
            headers=owner.headers,
            json={"name": "REST only", "redirect_uris": [CALLBACK], "confidential": False},
        )
    app_id = made.json()["data"]["id"]
    async with local_client(base_url=f"{mcp_root}/dashboard", follow_redirects=False) as web:
        await sign_up_on(web)
        person = Person(web, {"scopes": ["topup:read"]})
        verifier, challenge = pkce()
        person.link = str(
            httpx.URL(
                f"{mcp_root}/oauth/authorize",
                params={
                    "response_type": "code",
                    "client_id": app_id,
                    "redirect_uri": CALLBACK,
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                    "state": "s",
                    "scope": "topup:read",
                },
            )
        )
        code = (await person.allow()).code
    async with local_client() as http:
        tokens = await http.post(
            f"{mcp_root}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": CALLBACK,
                "code_verifier": verifier,
                "client_id": app_id,
            },
        )
        access = tokens.json()["access_token"]
        on_mcp = await http.post(
            f"{mcp_root}/mcp",
            headers={
                "Authorization": f"Bearer {access}",
                "Accept": "application/json, text/event-stream",
            },
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
        on_rest = await http.get(
            f"{mcp_root}/api/public/v1/balance", headers={"Authorization": f"Bearer {access}"}
        )
    assert on_mcp.status_code == 401 and on_mcp.json()["code"] == 2406
    assert on_rest.status_code == 200


async def test_an_mcp_client_registers_itself_and_shows_as_unverified(
    mcp_root: str,
) -> None:
    kept = Kept(None)
    async with local_client(base_url=f"{mcp_root}/dashboard", follow_redirects=False) as web:
        await sign_up_on(web)
        person = Person(web, {"scopes": ["topup:read"]})
        shown: list[str] = []

        async def allow() -> AuthorizationCodeResult:
            async with local_client() as http:
                sent = await http.get(person.link)
            consent = urlsplit(sent.headers["location"])
            shown.append((await web.get(f"/oauth/consent?{consent.query}")).text)
            return await person.allow()

        auth = OAuthClientProvider(
            server_url=f"{mcp_root}/mcp",
            client_metadata=OAuthClientMetadata(
                redirect_uris=[AnyUrl(CALLBACK)],
                token_endpoint_auth_method="none",
                client_name="Desk Agent (self-registered)",
                scope="topup:read",
            ),
            storage=kept,
            redirect_handler=person.open,
            callback_handler=allow,
        )
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            streamable_http_client(f"{mcp_root}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            balance = McpCall(await session.call_tool("get_balance", {}))
            assert balance.code == 1000
    assert kept.client is not None and kept.client.client_id is not None
    assert "unverified" in shown[0] and "Desk Agent (self-registered)" in shown[0]
    async with local_client() as plain:
        bad = await plain.post(
            f"{mcp_root}/oauth/register",
            json={"redirect_uris": ["http://app.example/cb"], "client_name": "Leaky"},
        )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_redirect_uri"


@pytest.mark.both_stores
async def test_a_token_narrowed_at_its_refresh_cannot_send_over_mcp(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant("live")
    async with local_client(base_url=f"{mcp_root}/api/public/v1") as api:
        made = await api.post(
            "/apps",
            headers=owner.headers,
            json={
                "name": "Narrowed",
                "redirect_uris": [CALLBACK],
                "scopes": ["topup:send", "topup:read"],
                "confidential": False,
            },
        )
    app_id = made.json()["data"]["id"]
    verifier, challenge = pkce()
    async with local_client(base_url=f"{mcp_root}/dashboard", follow_redirects=False) as web:
        await sign_up_on(web)
        person = Person(web, {"scopes": ["topup:send", "topup:read"]})
        person.link = str(
            httpx.URL(
                f"{mcp_root}/oauth/authorize",
                params={
                    "response_type": "code",
                    "client_id": app_id,
                    "redirect_uri": CALLBACK,
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                    "state": "s",
                    "scope": "topup:send topup:read",
                    "resource": f"{mcp_root}/mcp",
                },
            )
        )
        code = (await person.allow()).code
    async with local_client() as http:
        first = await http.post(
            f"{mcp_root}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": CALLBACK,
                "code_verifier": verifier,
                "client_id": app_id,
            },
        )
        narrowed = await http.post(
            f"{mcp_root}/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": first.json()["refresh_token"],
                "client_id": app_id,
                "scope": "topup:read",
            },
        )
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "topup:read"
    async with mcp_http(mcp_root, narrowed.json()["access_token"]) as session:
        balance = McpCall(await session.call_tool("get_balance", {}))
        assert balance.code == 1000
        # Refused over HTTP before the tool runs (403, the scope challenge).
        sent = await envelope_of(session, "send_topup", send_args("narrow-1"))
        assert (sent.code, sent.door_error) == (2301, -32600), sent.envelope
        after = McpCall(await session.call_tool("get_balance", {}))
        assert after.data == balance.data


@pytest.mark.both_stores
async def test_an_mcp_client_asks_for_what_it_should_and_an_unverified_one_is_bounded(
    mcp_root: str,
) -> None:
    """The `mcp` SDK's own client, registering itself with no scope of its own: it asks for the
    401's scope, not every scope the metadata lists; the page ticks no more and fills in the
    merchant's default daily limit, which holds over `/mcp`."""
    kept = Kept(None)
    async with local_client(base_url=f"{mcp_root}/dashboard", follow_redirects=False) as web:
        await sign_up_on(web)
        person = Person(web, {})
        pages: list[str] = []

        async def allow() -> AuthorizationCodeResult:
            async with local_client() as http:
                sent = await http.get(person.link)
            consent = urlsplit(sent.headers["location"])
            page = (await web.get(f"/oauth/consent?{consent.query}")).text
            pages.append(page)
            allowed = await web.post("/oauth/consent", data=as_a_browser_sends(page))
            assert allowed.status_code == 303, allowed.text
            back = parse_qs(urlsplit(allowed.headers["location"]).query)
            return AuthorizationCodeResult(
                code=back["code"][0], state=back["state"][0], iss=back["iss"][0]
            )

        auth = OAuthClientProvider(
            server_url=f"{mcp_root}/mcp",
            client_metadata=OAuthClientMetadata(
                redirect_uris=[AnyUrl(CALLBACK)],
                token_endpoint_auth_method="none",
                client_name="Budgetless Agent",
            ),
            storage=kept,
            redirect_handler=person.open,
            callback_handler=allow,
        )
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            streamable_http_client(f"{mcp_root}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            asked = parse_qs(urlsplit(person.link).query)["scope"]
            assert asked == ["topup:send topup:read"]
            sent = McpCall(await session.call_tool("send_topup", send_args("bounded-1")))
            assert sent.code == 1001, sent.envelope
            over = McpCall(
                await session.call_tool("send_topup", send_args("bounded-2", amount_cents=1))
            )
            assert over.code == 2304, over.envelope  # the merchant's default, $10.00 a day
    [page] = pages
    ticked = set(re.findall(r'name="scopes" value="([^"]+)" checked', page))
    assert ticked == {"topup:send", "topup:read"}
    assert 'name="limit_daily" inputmode="decimal" value="10"' in page
    assert kept.tokens is not None and kept.tokens.scope == "topup:send topup:read"
