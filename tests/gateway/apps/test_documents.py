"""Clients known by a metadata document: the ``client_id`` is the document's URL, read through
the checked transport from a real server here, held to its own URL and to every app's redirect
rule, bounded in size, kept a while, and unverified on the consent page. Then the whole flow."""

import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from starlette.types import ASGIApp

from gateway.apps import documents
from tests.fixtures.core import asgi_client, free_port
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.oauth import Flow

CALLBACK = "http://127.0.0.1:7/callback"


class Documents:
    """A web server on 127.0.0.1 serving metadata documents, counting the reads of each."""

    def __init__(self, port: int) -> None:
        self.root = f"http://127.0.0.1:{port}"
        self.bodies: dict[str, bytes] = {}
        self.reads: dict[str, int] = {}

    def serve(self, path: str, document: object) -> str:
        url = self.root + path
        body = json.dumps(document).encode() if not isinstance(document, bytes) else document
        self.bodies[path] = body
        return url

    async def handle(self, request: web.Request) -> web.Response:
        self.reads[request.path] = self.reads.get(request.path, 0) + 1
        body = self.bodies.get(request.path)
        if body is None:
            return web.Response(status=404)
        return web.Response(body=body, content_type="application/json")


@pytest.fixture
async def served() -> AsyncIterator[Documents]:
    port = free_port()
    found = Documents(port)
    app = web.Application()
    app.router.add_get("/{tail:.*}", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield found
    finally:
        await runner.cleanup()


def _document(url: str, **fields: object) -> dict[str, object]:
    return {
        "client_id": url,
        "client_name": "Desk Agent (by its document)",
        "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": "none",
        "scope": "topup:read",
        **fields,
    }


async def _authorize(app: ASGIApp, client_id: str) -> tuple[int, str]:
    flow = Flow(app, client_id, None)
    sent = await flow.oauth.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "code_challenge": flow.challenge,
            "code_challenge_method": "S256",
            "state": "s",
            "scope": "topup:read",
        },
    )
    return sent.status_code, sent.headers.get("location", sent.text)


async def test_a_client_known_by_its_document_connects_and_is_unverified(
    hook_app: ASGIApp, served: Documents
) -> None:
    url = served.serve("/clients/desk.json", {})
    served.serve("/clients/desk.json", _document(url))
    person = await sign_up_on(dashboard_client(hook_app))
    flow = Flow(hook_app, url, None)
    html, _ = await flow.consent_page(person, redirect_uri=CALLBACK, scope="topup:read")
    assert "Desk Agent (by its document)" in html and "unverified" in html
    answered = await flow.consent(
        person, redirect_uri=CALLBACK, scope="topup:read", form={"scopes": ["topup:read"]}
    )
    code = parse_qs(urlsplit(answered.headers["location"]).query)["code"][0]
    tokens = await flow.token(code, redirect_uri=CALLBACK)
    assert tokens.status_code == 200, tokens.text
    async with asgi_client(hook_app) as api:
        me = await api.get(
            "/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}
        )
    assert me.json()["data"]["app"]["id"] == documents.internal_id(url)
    # Read once in all of it: kept for the next hour.
    assert served.reads["/clients/desk.json"] == 1
    async with asgi_client(hook_app, base_url="http://gateway.test") as http:
        metadata = await http.get("/.well-known/oauth-authorization-server")
    assert metadata.json()["client_id_metadata_document_supported"] is True


@pytest.mark.parametrize(
    "wrong",
    [
        {"client_id": "http://127.0.0.1:1/someone-else.json"},
        {"redirect_uris": ["http://app.example/cb"]},
        {"redirect_uris": []},
        {"token_endpoint_auth_method": "client_secret_basic"},
        # PostgreSQL cannot store a NUL (it answered 500 there), and a name is one line.
        {"client_name": "Desk\x00"},
        {"client_name": "Desk\nApproved by the gateway"},
        {"redirect_uris": ["http://127.0.0.1:7/cb\x00"]},
    ],
    ids=[
        "not its own url",
        "redirect not https",
        "no redirect",
        "a secret",
        "a NUL in its name",
        "a line break in its name",
        "a NUL in a redirect",
    ],
)
async def test_a_document_that_is_wrong_leaves_the_client_unknown(
    hook_app: ASGIApp, served: Documents, wrong: dict[str, object]
) -> None:
    url = served.serve("/clients/wrong.json", {})
    served.serve("/clients/wrong.json", _document(url, **wrong))
    status, said = await _authorize(hook_app, url)
    assert status == 400, said


async def test_a_document_too_large_or_missing_leaves_the_client_unknown(
    hook_app: ASGIApp, served: Documents
) -> None:
    url = served.serve("/clients/large.json", {})
    padded = _document(url, client_name="x" * 100, padding="y" * documents.MAX_DOCUMENT_BYTES)
    served.serve("/clients/large.json", padded)
    assert (await _authorize(hook_app, url))[0] == 400
    assert (await _authorize(hook_app, served.root + "/clients/none.json"))[0] == 400


async def test_a_document_on_a_private_address_is_never_read_without_the_setting(
    app: ASGIApp, served: Documents
) -> None:
    """The gateway's default settings: loopback is no place to read a document from (and
    ``http`` is not taken at all)."""
    url = served.serve("/clients/desk.json", {})
    served.serve("/clients/desk.json", _document(url))
    status, _ = await _authorize(app, url)
    assert status == 400
    assert served.reads.get("/clients/desk.json", 0) == 0
