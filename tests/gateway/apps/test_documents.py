"""Clients known by a metadata document: the ``client_id`` is the document's URL, read through
the checked transport from a real server here, held to its own URL and to every app's redirect
rule, bounded in size, kept a while, and unverified on the consent page. Then the whole flow."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiohttp import web
from starlette.types import ASGIApp

from gateway.apps import documents
from tests.fixtures.core import asgi_client, free_port, make_settings, wait_until
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.limiters import client_at
from tests.fixtures.merchants import MerchantKey
from tests.fixtures.oauth import Flow
from tests.fixtures.upstreams import Hanging, Held, MakeUpstreamMerchant, send_body, serve_raw

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


async def _authorize(app: ASGIApp, client_id: str, address: str | None = None) -> tuple[int, str]:
    """An authorization request naming ``client_id``, from ``address`` if given."""
    flow = Flow(app, client_id, None)
    if address is not None:
        await flow.oauth.aclose()
        flow.oauth = client_at(app, address, "http://gateway.test")
    async with flow.oauth:
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


async def test_a_document_that_cannot_be_read_is_read_once_for_many_requests(
    hook_app: ASGIApp, served: Documents
) -> None:
    """Twenty requests at once naming a document that is not there make one read, and thirty
    more after them none (remembered a while); every one is refused."""
    url = served.root + "/clients/missing.json"
    answers = await asyncio.gather(*(_authorize(hook_app, url) for _ in range(20)))
    answers += [await _authorize(hook_app, url) for _ in range(30)]
    assert [status for status, _ in answers] == [400] * 50
    assert served.reads["/clients/missing.json"] == 1


def _reader(clock: Callable[[], float] = time.monotonic) -> "documents.Reader":
    """The gateway's reader (its own pool, loopback allowed as in development) on ``clock``."""
    settings = make_settings(
        "sqlite+aiosqlite://", "redis://127.0.0.1:1", allow_private_webhook_urls=True
    )
    return documents.open_reader(settings, clock=clock)


async def test_reads_of_one_origin_are_bounded() -> None:
    """A far side that never answers holds ``READS_PER_ORIGIN`` reads and no more: the rest
    answer at once, unread, and are not remembered as failures."""
    reader = _reader()
    far = Hanging()
    try:
        async with serve_raw(far) as stuck:
            urls = [f"{stuck.root}/clients/{i}.json" for i in range(6)]
            held = [asyncio.ensure_future(reader.described(url)) for url in urls]

            async def holding() -> bool:
                return far.taken >= documents.READS_PER_ORIGIN

            await wait_until(holding)
            done, _ = await asyncio.wait(held, timeout=1.0)
            assert len(done) == len(urls) - documents.READS_PER_ORIGIN
            assert all(call.result() is None for call in done)
            assert (far.taken, reader.in_flight) == (documents.READS_PER_ORIGIN,) * 2
            for call in held:
                call.cancel()
            await asyncio.gather(*held, return_exceptions=True)
            assert reader.in_flight == 0
    finally:
        await reader.aclose()


async def test_a_failed_read_is_kept_a_while(served: Documents) -> None:
    now = [0.0]
    reader = _reader(lambda: now[0])
    missing = served.root + "/clients/gone.json"
    try:
        assert await reader.described(missing) is None
        now[0] += documents.FAILURE_SECONDS - 1
        assert await reader.described(missing) is None
        assert served.reads["/clients/gone.json"] == 1
        now[0] += 1
        url = served.serve("/clients/gone.json", {})
        served.serve("/clients/gone.json", _document(url))
        found = await reader.described(missing)
    finally:
        await reader.aclose()
    assert served.reads["/clients/gone.json"] == 2
    assert found is not None and found["redirect_uris"] == [CALLBACK]


async def _sends(
    client: httpx.AsyncClient, merchant: MerchantKey, count: int
) -> tuple[float, list[int]]:
    """``count`` sends of the merchant's at once: how long they took together, and their codes."""
    started = time.monotonic()
    replies = await asyncio.gather(
        *(
            client.post(
                "/topup/send", json=send_body(100, f"r{i}@example.com"), headers=merchant.headers
            )
            for i in range(count)
        )
    )
    return time.monotonic() - started, [reply.json()["code"] for reply in replies]


async def test_a_flood_of_authorize_requests_leaves_a_merchants_sends_their_usual_time(
    fulfil_app: ASGIApp,
    fulfil_client: httpx.AsyncClient,
    newapi_merchant: MakeUpstreamMerchant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two hundred anonymous authorize requests, each from an address of its own, naming
    documents on ten servers that never answer, while a merchant sends through its upstream:
    its sends do not wait for the flood's reads to give up, and every one is delivered.

    The reads are given a minute here (each request reads the bound as it starts), so a send
    that waited for them would take a minute where one that did not takes a second or two even
    on a busy machine; the far sides cut them once the sends are done."""
    give_up = 60.0
    monkeypatch.setattr(documents, "FETCH_SECONDS", give_up)
    merchant = await newapi_merchant(balance_cents=100_000)
    await _sends(fulfil_client, merchant, 1)  # the upstream's first connection, the key's look-up
    quiet, codes = await _sends(fulfil_client, merchant, 8)
    assert codes == [1001] * 8
    held = Held()  # by the ten far sides together
    holders = [Hanging(held=held) for _ in range(10)]
    async with AsyncExitStack() as stack:
        roots = [(await stack.enter_async_context(serve_raw(each))).root for each in holders]
        flood = [
            asyncio.ensure_future(
                _authorize(
                    fulfil_app,
                    f"{roots[i % 10]}/clients/{i}.json",
                    f"198.19.{i // 200}.{i % 200 + 1}",
                )
            )
            for i in range(200)
        ]

        # The flood settled: every request of it answered, or held by a server that never
        # answers. A gateway whose reads wait for a pool never gets there; the sends then go at
        # the deadline, into the pool the flood holds.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if sum(not call.done() for call in flood) <= held.now:
                break
            await asyncio.sleep(0.02)
        busy, codes = await _sends(fulfil_client, merchant, 8)
        still_held = held.now
    answered = await asyncio.gather(*flood)  # the far sides gone, every read ended
    assert codes == [1001] * 8
    # Sends that waited for the flood's reads would go when they gave up, a minute on; on a
    # machine busy with other work a quiet send's time alone varies too much for a ratio to it
    # to mean anything.
    assert busy < give_up / 2 and still_held > 0, (quiet, busy, still_held)
    # Each refused: an unknown client, or (the flood reaching Redis all at once past the
    # limiter's deadline) "try again", never anything else.
    assert {status for status, _ in answered} <= {400, 503}
    # The reads held at once: this process's own pool, never more.
    assert 0 < held.most <= documents.READS_IN_FLIGHT
