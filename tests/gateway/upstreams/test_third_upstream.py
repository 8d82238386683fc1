"""A third upstream: a made-up platform (Comet, the module below: its settings, its client, its
provider) and one registry line (``providers.registered``) are all it takes. It is set through
``PUT /fulfilment``, its connection tested, and a send goes through it: the send names it, and
the code it made is what the recipient gets."""

from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx
import pytest
from pydantic import Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.store.engine import Database
from gateway.upstreams import providers
from gateway.upstreams.clients import NOT_THE_PROVIDER, UpstreamError, call
from gateway.upstreams.providers import FormField, FormLink, Made, Saved, Try
from gateway.upstreams.schemas import Redeem
from gateway.upstreams.upstream import Upstream
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced
from tests.fixtures.upstreams import send_body, serve_standin
from tests.fixtures.webhooks import events_of

COMET = "comet"
API_KEY = "comet-key-0123456789"


# The module a third upstream would be: its settings, its client and its provider.


class CometSet(Redeem):
    provider: Literal["comet"]
    base_url: str = Field(min_length=1, max_length=2048, description="Comet's API root.")
    api_key: str | None = Field(default=None, min_length=1, max_length=512)


class CometProvider:
    name = COMET
    title = "Comet"
    body: type[Redeem] = CometSet
    api_root: str | None = None
    form_note = "(only when the provider is Comet)"
    fields: tuple[FormField, ...] = (
        FormField("comet_base_url", "base_url", "Comet address", type="url"),
        FormField("comet_api_key", "api_key", "API key", type="password", secret=True),
    )
    links: tuple[FormLink, ...] = ()

    def settings(self, body: Any) -> Saved:
        given: CometSet = body
        return Saved(given.base_url, given.api_key, "api_key")

    def redeem_url(self, base_url: str | None) -> str | None:
        return base_url.rstrip("/") + "/redeem" if base_url else None

    def quota_rate(self, saved: int | None) -> int | None:
        return None

    async def _call(self, upstream: Upstream, http: httpx.AsyncClient, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {upstream.secret}"}
        _, body = await call(
            http, self.title, kwargs.pop("method"), upstream.base_url.rstrip("/") + "/codes",
            upstream.merchant_id, headers=headers, **kwargs,
        )  # fmt: skip
        if not isinstance(body, dict):
            raise UpstreamError(self.title, NOT_THE_PROVIDER, transient=False)
        return body

    async def make(self, attempt: Try) -> Made:
        made = await self._call(
            attempt.upstream,
            attempt.http,
            method="POST",
            json={"reference": attempt.reference, "cents": attempt.topup.amount_cents},
        )
        return Made(str(made["code"]), attempt.reference)

    async def undo(self, attempt: Try) -> None:
        raise AssertionError("nothing failed")

    async def check(self, upstream: Upstream, http: httpx.AsyncClient) -> None:
        await self._call(upstream, http, method="GET")


class CometStandIn:
    """Comet's far side: a code for each reference, made once."""

    def __init__(self) -> None:
        self.codes: dict[str, tuple[str, int]] = {}

    def app(self) -> Starlette:
        async def codes(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {API_KEY}":
                return JSONResponse({"error": "no"}, status_code=401)
            if request.method == "GET":
                return JSONResponse({"codes": len(self.codes)})
            asked = await request.json()
            reference, cents = asked["reference"], asked["cents"]
            code, _ = self.codes.setdefault(reference, (f"COMET-{len(self.codes) + 1}", cents))
            return JSONResponse({"code": code})

        return Starlette(routes=[Route("/api/codes", codes, methods=["GET", "POST"])])


@pytest.fixture
async def comet() -> AsyncIterator[tuple[CometStandIn, str]]:
    standin = CometStandIn()
    with providers.registered(CometProvider()):
        async with serve_standin(standin.app()) as served:
            yield standin, served.root + "/api"


async def test_a_third_upstream_is_set_tested_and_fulfils_a_send(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    comet: tuple[CometStandIn, str],
    db: Database,
) -> None:
    standin, root = comet
    merchant = await make_merchant("staging", balance_cents=10_000)
    h = merchant.headers

    setting = {"provider": COMET, "base_url": root, "api_key": API_KEY}
    saved = await fulfil_client.put("/fulfilment/claude", json=setting, headers=h)
    assert saved.status_code == 200, saved.text
    assert API_KEY not in saved.text
    assert (saved.json()["data"]["provider"], saved.json()["data"]["credentials_set"]) == (
        COMET,
        True,
    )
    tested = await fulfil_client.post("/fulfilment/claude/test", headers=h)
    assert tested.status_code == 200, tested.text
    assert tested.json()["data"]["provider"] == COMET

    sent = await fulfil_client.post("/topup/send", json=send_body(275), headers=h)
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert (body["code"], body["status"]) == (1001, "delivered")
    data = body["data"]
    assert data["fulfilment"]["provider"] == COMET
    reference = data["fulfilment"]["reference"]
    assert standin.codes == {reference: ("COMET-1", 275)}
    assert data["voucher_code"] == "COMET-1"  # the recipient gets Comet's code

    [delivered] = await events_of(db, merchant.merchant_id, "topup.delivered")
    assert delivered["data"]["fulfilment"] == {"provider": COMET, "reference": reference}
    await assert_ledger_balanced(db)


async def test_a_third_upstream_refused_credentials_say_its_name(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    comet: tuple[CometStandIn, str],
) -> None:
    _, root = comet
    merchant = await make_merchant("staging")
    setting = {"provider": COMET, "base_url": root, "api_key": "not-the-key"}
    saved = await fulfil_client.put("/fulfilment/claude", json=setting, headers=merchant.headers)
    assert saved.status_code == 200, saved.text
    tested = await fulfil_client.post("/fulfilment/claude/test", headers=merchant.headers)
    assert tested.json()["data"]["outcome"] == "credentials_refused"
    assert tested.json()["message"] == "Comet refused the credentials"
