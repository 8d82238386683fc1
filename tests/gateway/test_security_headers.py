"""Every HTML page the gateway serves carries the security headers (``security_headers.py``),
whichever part of the gateway renders it: the dashboard, the API explorer at ``/docs``, and the
staging sandbox checkout page under the API's prefix."""

import html
import re
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from gateway.security_headers import SecurityHeaders
from gateway.values.settings import Settings
from tests.fixtures.core import asgi_client, running_app
from tests.fixtures.merchants import MakeMerchant

CHECKOUT = {
    "pack_id": "pack_pro",
    "success_url": "https://merchant.example/paid?session={CHECKOUT_SESSION_ID}",
    "cancel_url": "https://merchant.example/cancelled",
}


def _directives(reply: httpx.Response) -> dict[str, str]:
    policy = reply.headers["content-security-policy"]
    pairs = (part.strip().partition(" ") for part in policy.split(";") if part.strip())
    return {name: value for name, _, value in pairs}


def _assert_guarded(reply: httpx.Response) -> dict[str, str]:
    assert reply.headers["content-type"].startswith("text/html")
    directives = _directives(reply)
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers.get("referrer-policy") in {"same-origin", "no-referrer"}
    return directives


async def test_the_sandbox_checkout_page_carries_the_headers(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    made = await client.post("/billing/checkout", json=CHECKOUT, headers=merchant.headers)
    assert made.status_code == 201, made.text
    page = await client.get(made.json()["data"]["checkout_url"])
    assert page.status_code == 200
    directives = _assert_guarded(page)
    # Its token is in the URL: no page it leads to learns it.
    assert page.headers["referrer-policy"] == "no-referrer"
    # It wears the dashboard's stylesheet, from this origin; nothing inline is allowed.
    assert '<link rel="stylesheet" href="/dashboard/static/dashboard.css">' in page.text
    assert "<style" not in page.text and " style=" not in page.text
    assert directives["style-src"] == "'self'"
    # Pay and Cancel post here and are then sent on to the merchant's pages.
    action = html.unescape(re.findall(r'action="([^"]+)"', page.text)[0])
    assert urlsplit(action).netloc in {"", "gateway.test"}
    assert "https:" in directives["form-action"]


async def test_the_docs_page_carries_the_headers(settings: Settings) -> None:
    async with (
        running_app(settings) as running,
        asgi_client(running, "http://gateway.test") as http,
    ):
        page = await http.get("/docs")
    assert page.status_code == 200
    directives = _assert_guarded(page)
    assert directives["style-src"] == "'self'"


async def test_an_html_page_anywhere_carries_the_headers_and_json_is_never_sniffed() -> None:
    """Keyed on what the reply is, not where it is: a new HTML page is covered unasked."""

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse("<p>hello</p>")

    async def data(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = SecurityHeaders(Starlette(routes=[Route("/any/page", page), Route("/any/data", data)]))
    async with asgi_client(app, "http://gateway.test") as http:
        _assert_guarded(await http.get("/any/page"))
        plain = await http.get("/any/data")
        assert plain.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" not in plain.headers
