"""A fulfilment upstream's connection test calls an address the merchant chose: it is limited
per merchant whichever door it comes through (the API, the admin API, the dashboard), and its
answer says what happened in the gateway's own words, never what the far side said."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.store.engine import Database
from gateway.store.models import MerchantUser, User
from gateway.upstreams.clients import OUTCOMES, UpstreamError
from gateway.values.settings import Settings
from tests.fixtures.billing import ADMIN_TOKEN
from tests.fixtures.core import live_server, local_client, make_settings, running_app
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.limiters import client_at, limits, unique_address
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.upstreams import NewApiStandIn, newapi_body, send_body, serve_standin
from tests.fixtures.webhooks import events_of

__all__ = ["limits"]  # the fixture, used by name

FAR = "FAR-SIDE-WORDS"


def _settings(database_url: str, redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "allow_private_webhook_urls": True,
        "fulfilment_tests_per_minute": 3,
        "fulfilment_retry_schedule": "0.1",
        "fulfilment_timeout_seconds": 2,
        "admin_token": ADMIN_TOKEN,
        **overrides,
    }
    return make_settings(database_url, redis_url, **values)


async def test_concurrent_tests_are_limited_per_merchant_through_every_api_door(
    database_url: str, redis_url: str, limits: Redis, make_merchant: MakeMerchant
) -> None:
    newapi = NewApiStandIn()
    merchant = await make_merchant("staging")
    neighbour = await make_merchant("staging")
    async with (
        serve_standin(newapi.app()) as served,
        live_server(_settings(database_url, redis_url)) as root,
        local_client(base_url=f"{root}/api/public/v1", timeout=30) as http,
    ):
        for who in (merchant, neighbour):
            put = await http.put(
                "/fulfilment/claude", json=newapi_body(served.root), headers=who.headers
            )
            assert put.status_code == 200, put.text
        replies = await asyncio.gather(
            *(http.post("/fulfilment/claude/test", headers=merchant.headers) for _ in range(12))
        )
        statuses = sorted(r.status_code for r in replies)
        assert statuses == [200] * 3 + [429] * 9, statuses
        assert {r.json()["code"] for r in replies if r.status_code == 429} == {4204}
        assert all(r.headers["RateLimit-Limit"] == "3" for r in replies)
        assert newapi.faults.calls == 3  # the far side heard of the allowed ones alone
        # The operator's door counts in the merchant's bucket.
        admin = await http.post(
            f"{root}/api/admin/v1/merchants/{merchant.merchant_id}/fulfilment/staging/claude/test",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert (admin.status_code, admin.json()["code"]) == (429, 4204)
        # Another merchant is not held up.
        other = await http.post("/fulfilment/claude/test", headers=neighbour.headers)
        assert other.json()["data"]["ok"] is True
    assert newapi.faults.calls == 4


async def test_the_dashboard_counts_in_the_same_bucket(
    database_url: str, redis_url: str, limits: Redis, make_merchant: MakeMerchant, db: Database
) -> None:
    async with (
        running_app(_settings(database_url, redis_url)) as app,
        dashboard_client(app) as browser,
    ):
        owner = await sign_up_on(browser)
        async with db.read() as conn:
            merchant_id = (
                await conn.execute(
                    select(MerchantUser.merchant_id)
                    .join(User, User.id == MerchantUser.user_id)
                    .where(User.email == owner.email)
                )
            ).scalar_one()
        key = await make_merchant("staging", merchant_id=merchant_id)
        async with client_at(app, unique_address()) as http:
            for _ in range(2):  # nothing set: 4200, yet counted
                found = await http.post("/fulfilment/claude/test", headers=key.headers)
                assert found.json()["code"] == 4200
            tested = await owner.post("/fulfilment/claude/test", {}, page="/fulfilment")
            assert tested.status_code == 303, tested.text  # ran: the page, by a redirect
            refused = await owner.post("/fulfilment/claude/test", {}, page="/fulfilment")
            assert refused.status_code == 429
            assert "Too many fulfilment connection tests" in refused.text
            assert "Retry-After" in refused.headers
            over = await http.post("/fulfilment/claude/test", headers=key.headers)
            assert (over.status_code, over.json()["code"]) == (429, 4204)


def _far_side() -> Starlette:
    """Hosts that are no New API, or refuse, each in words of its own the gateway must not
    repeat: under ``/{kind}``."""

    async def answer(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind == "missing":
            return JSONResponse({"message": FAR}, status_code=404)
        if kind == "moved":
            return RedirectResponse("http://10.0.0.1/" + FAR, status_code=302)
        if kind == "denied":
            return JSONResponse({"message": FAR}, status_code=401)
        if kind == "html":
            return HTMLResponse(f"<h1>{FAR}</h1>")
        if kind == "teapot":
            return JSONResponse({"error": {"message": FAR}}, status_code=418)
        return JSONResponse({"success": False, "message": FAR})  # New API's own refusal

    return Starlette(
        routes=[
            Route("/{kind}/api/redemption/search", answer, methods=["GET"]),
            Route("/{kind}/api/redemption/", answer, methods=["POST"]),
        ]
    )


@pytest.fixture
async def far_side() -> AsyncIterator[str]:
    async with serve_standin(_far_side()) as served:
        yield served.root


_SENTENCES = {
    "credentials_refused": "New API refused the credentials",
    "not_the_provider": "The address answered, but not as New API does",
    "request_refused": "New API refused the request",
    "unreachable": "New API could not be reached",
}


async def test_outcomes_are_said_in_the_gateways_words(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    far_side: str,
    idle_port: int,
) -> None:
    merchant = await make_merchant("staging")
    h = merchant.headers
    port = int(far_side.rsplit(":", 1)[1])
    cases = [
        (f"{far_side}/missing", "not_the_provider"),
        (f"{far_side}/moved", "not_the_provider"),
        (f"{far_side}/html", "not_the_provider"),
        (f"{far_side}/denied", "credentials_refused"),
        (f"{far_side}/refuses", "credentials_refused"),  # the check's read refused
        (f"{far_side}/teapot", "request_refused"),
        (f"http://127.0.0.1:{idle_port}", "unreachable"),  # nothing listens
        (f"https://127.0.0.1:{port}", "unreachable"),  # TLS to a plain HTTP server
    ]
    for base_url, outcome in cases:
        body = {**newapi_body(base_url), "access_token": "secret-token-0123456789"}
        saved = await fulfil_client.put("/fulfilment/claude", json=body, headers=h)
        assert saved.status_code == 200, saved.text
        tested = await fulfil_client.post("/fulfilment/claude/test", headers=h)
        reply = tested.json()
        assert reply["data"]["outcome"] == outcome, (base_url, reply)
        assert reply["message"] == _SENTENCES[outcome], (base_url, reply)
        for said in (FAR, "HTTP", "404", "302", "401", "418", "SSL", "10.0.0.1", "secret-token"):
            assert said not in tested.text, (base_url, said)
    assert set(_SENTENCES) <= set(OUTCOMES)


async def test_a_failed_send_keeps_the_far_sides_words_out_of_its_reason(
    fulfil_client: httpx.AsyncClient, make_merchant: MakeMerchant, far_side: str, db: Database
) -> None:
    merchant = await make_merchant("staging", balance_cents=10_000)
    saved = await fulfil_client.put(
        "/fulfilment/claude", json=newapi_body(f"{far_side}/refuses"), headers=merchant.headers
    )
    assert saved.status_code == 200, saved.text
    sent = await fulfil_client.post("/topup/send", json=send_body(700), headers=merchant.headers)
    body = sent.json()
    assert (body["code"], body["status"]) == (4004, "failed"), sent.text
    assert FAR not in sent.text
    [failed] = await events_of(db, merchant.merchant_id, "topup.failed")
    assert failed["data"]["failure_reason"] == "failed upstream: New API refused the request"
    shown = await fulfil_client.get(f"/topup/{body['transaction_id']}", headers=merchant.headers)
    assert FAR not in shown.text


def test_every_outcome_has_words_without_the_far_sides() -> None:
    for outcome in OUTCOMES:
        error = UpstreamError("New API", outcome, transient=False, detail=FAR)
        assert FAR not in error.reason and FAR not in str(error)
        assert error.detail == FAR
