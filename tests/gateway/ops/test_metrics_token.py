"""With AITOPUP_METRICS_TOKEN set, /metrics answers its bearer alone, with the envelope else;
unset, it answers loopback clients alone."""

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from starlette.types import ASGIApp

from gateway.values.settings import Settings
from tests.fixtures.core import asgi_client, running_app
from tests.fixtures.limiters import client_at

TOKEN = "metrics-token-0123456789abcdef-0123456789"


@pytest.fixture
async def guarded(ops_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    settings = ops_settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    async with running_app(settings) as app, asgi_client(app, "http://gateway.test") as http:
        yield http


async def test_metrics_answer_the_token_holder(guarded: httpx.AsyncClient) -> None:
    reply = await guarded.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200
    assert "aitopup_http_requests_total" in reply.text


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        TOKEN,  # no scheme
        f"Basic {TOKEN}",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        "Bearer ak_staging_00000000000000000000000000000000",
    ],
)
async def test_metrics_refuse_anyone_else_with_the_envelope(
    guarded: httpx.AsyncClient, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    reply = await guarded.get("/metrics", headers=headers)
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"
    body = reply.json()
    assert (body["success"], body["code"]) == (False, 9101)
    assert "aitopup_" not in reply.text


async def test_without_a_token_metrics_stay_open(ops_client: httpx.AsyncClient) -> None:
    assert (await ops_client.get("/metrics")).status_code == 200


@pytest.fixture
async def open_app(ops_settings: Settings) -> AsyncIterator[ASGIApp]:
    async with running_app(ops_settings.model_copy(update={"metrics_token": None})) as app:
        yield app


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.9", "::1", "::ffff:127.0.0.1"])
async def test_without_a_token_loopback_clients_are_answered(
    open_app: ASGIApp, address: str
) -> None:
    async with client_at(open_app, address, "http://gateway.test") as http:
        reply = await http.get("/metrics")
    assert reply.status_code == 200
    assert "aitopup_http_requests_total" in reply.text


@pytest.mark.parametrize("address", ["203.0.113.7", "10.0.0.5", "192.168.1.10", "2001:db8::1"])
async def test_without_a_token_anyone_else_finds_no_such_route(
    open_app: ASGIApp, address: str
) -> None:
    """A gateway reached from elsewhere (a proxy's forwarded client, another machine): /metrics
    answers as a path that does not exist, in the envelope, whatever it is sent."""
    async with client_at(open_app, address, "http://gateway.test") as http:
        for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
            reply = await http.get("/metrics", headers=headers)
            assert reply.status_code == 404
            body = reply.json()
            assert (body["success"], body["code"]) == (False, 3007)
            assert "aitopup_" not in reply.text


async def test_with_a_token_loopback_needs_it_too(guarded: httpx.AsyncClient) -> None:
    assert (await guarded.get("/metrics")).status_code == 401  # the client is 127.0.0.1


def test_a_short_metrics_token_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="metrics_token"):
        Settings(_env_file=None, **{**settings.model_dump(), "metrics_token": "short"})
