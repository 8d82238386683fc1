"""An MCP client connects by OAuth with the person's consent given in Chromium: the `mcp` SDK's
own OAuth client sends the browser to the authorization endpoint, the signed-in person allows on
the consent page, and the browser's redirect back to the client carries the code. The client
then calls a tool with its token, within the consented budget, and is refused past it."""

import asyncio

import httpx2
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
)
from playwright.async_api import Page, Route, expect
from pydantic import AnyUrl

from tests.fixtures.browser import Merchant
from tests.fixtures.mcp import McpCall, send_args
from tests.fixtures.oauth import Kept

CALLBACK = "http://127.0.0.1:8765/callback"  # never opened: the browser's request is caught


async def test_an_mcp_client_gets_its_token_through_the_consent_page_in_chromium(
    page: Page, signed_up: Merchant, gateway_url: str
) -> None:
    # The app, registered on the Apps page: public (PKCE alone), a loopback redirect.
    await page.goto("/dashboard/apps")
    await page.get_by_label("Name").fill("Desk Agent")
    await page.get_by_label("Redirect URIs").fill(CALLBACK)
    for scope in ("topup:send", "topup:read"):
        await page.get_by_role("checkbox", name=scope, exact=True).check()
    await page.get_by_label("Confidential").uncheck()
    await page.get_by_role("button", name="Register app").click()
    client_id = (await page.locator("#client-id").inner_text()).strip()

    redirected: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def caught(route: Route) -> None:
        if not redirected.done():
            redirected.set_result(route.request.url)
        await route.fulfill(status=200, body="You can close this window.")

    await page.route("http://127.0.0.1:8765/**", caught)

    async def consent(url: str) -> None:
        await page.goto(url)
        await expect(page.locator("h1")).to_have_text("Connect Desk Agent")
        await page.locator("#f-limit_daily").fill("15")
        await page.get_by_role("button", name="Allow").click()

    async def back() -> AuthorizationCodeResult:
        url = httpx2.URL(await asyncio.wait_for(redirected, 30))
        return AuthorizationCodeResult(
            code=url.params["code"], state=url.params.get("state"), iss=url.params.get("iss")
        )

    kept = Kept(
        OAuthClientInformationFull(
            client_id=client_id,
            redirect_uris=[AnyUrl(CALLBACK)],
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        )
    )
    auth = OAuthClientProvider(
        server_url=f"{gateway_url}/mcp",
        client_metadata=OAuthClientMetadata(
            redirect_uris=[AnyUrl(CALLBACK)], token_endpoint_auth_method="none"
        ),
        storage=kept,
        redirect_handler=consent,
        callback_handler=back,
    )
    async with (
        httpx2.AsyncClient(auth=auth, timeout=30) as http,
        streamable_http_client(f"{gateway_url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        assert kept.tokens is not None and kept.tokens.access_token.startswith("oat_staging_")
        sent = McpCall(await session.call_tool("send_topup", send_args("browser-1")))
        assert sent.code == 1001, sent.envelope
        over = McpCall(await session.call_tool("send_topup", send_args("browser-2")))
        assert over.code == 2304, over.envelope

    # The person sees the app under Connected apps, with what it spent.
    await page.goto("/dashboard/apps/connected")
    row = page.locator("#connections tbody tr").first
    await expect(row).to_contain_text("Desk Agent")
    await expect(row).to_contain_text("$10.00 of $15.00 daily")
