"""Each upstream client alone, its far side mocked with respx: the request it sends, what it
takes from the answer, and which failures it calls transient."""

import httpx
import pytest
import respx

from gateway.upstreams.clients import UpstreamError
from gateway.upstreams.providers.newapi import NewApi
from gateway.upstreams.providers.openrouter import OpenRouter, usd
from tests.fixtures.core import local_client

BASE = "https://newapi.test"
OR_BASE = "https://openrouter.test/api/v1"


def _newapi(http: httpx.AsyncClient) -> NewApi:
    return NewApi(http, BASE + "/", "admin-token", "7")


@respx.mock
async def test_newapi_creates_one_code_with_our_name_and_headers() -> None:
    route = respx.post(f"{BASE}/api/redemption/").mock(
        return_value=httpx.Response(200, json={"success": True, "message": "", "data": ["c0de"]})
    )
    async with local_client() as http:
        assert await _newapi(http).create_code("0mwabc", 125_000) == "c0de"
    sent = route.calls.last.request
    assert sent.headers["authorization"] == "admin-token"
    assert sent.headers["new-api-user"] == "7"
    assert sent.read() == b'{"name":"0mwabc","count":1,"quota":125000,"expired_time":0}'


@respx.mock
async def test_newapi_finds_the_oldest_code_of_exactly_our_name() -> None:
    items = [
        {"id": 9, "name": "0mwabc", "key": "later"},
        {"id": 4, "name": "0mwabcd", "key": "other-name"},
        {"id": 5, "name": "0mwabc", "key": "first"},
    ]
    page = {"page": 1, "page_size": 10, "total": 3, "items": items}
    route = respx.get(f"{BASE}/api/redemption/search").mock(
        return_value=httpx.Response(200, json={"success": True, "message": "", "data": page})
    )
    async with local_client() as http:
        assert await _newapi(http).find_code("0mwabc") == "first"
        route.mock(
            return_value=httpx.Response(
                200, json={"success": True, "message": "", "data": {**page, "items": []}}
            )
        )
        assert await _newapi(http).find_code("0mwabc") is None
    assert route.calls.last.request.url.params["keyword"] == "0mwabc"


@pytest.mark.parametrize(
    ("reply", "transient", "outcome", "detail"),
    [
        (httpx.Response(401, json={"success": False, "message": "no"}), False,
         "credentials_refused", "HTTP 401"),
        (httpx.Response(403, json={"success": False}), False, "credentials_refused", "HTTP 403"),
        (httpx.Response(502, text="bad gateway"), True, "failing", "HTTP 502"),
        (httpx.Response(429, text="slow down"), True, "failing", "HTTP 429"),
        (httpx.Response(400, json={"success": False, "message": "bad"}), False,
         "request_refused", "HTTP 400 bad"),
        (httpx.Response(200, json={"success": False, "message": "quota"}), False,
         "request_refused", "quota"),
        (httpx.Response(200, text="<html>"), False, "not_the_provider", "HTTP 200 not JSON"),
        (httpx.Response(404, json={"message": "gone"}), False, "not_the_provider", "HTTP 404"),
        (httpx.ConnectError("refused"), True, "unreachable", "refused"),
        (httpx.ReadTimeout("slow"), True, "no_answer", ""),
        (httpx.ConnectError("blocked: private"), False, "address_refused", "blocked: private"),
    ],
)  # fmt: skip
@respx.mock
async def test_newapi_failures_say_whether_to_retry(
    reply: httpx.Response | Exception, transient: bool, outcome: str, detail: str
) -> None:
    """The outcome, in the gateway's words; what the far side said is the detail alone."""
    route = respx.post(f"{BASE}/api/redemption/")
    if isinstance(reply, Exception):
        route.mock(side_effect=reply)
    else:
        route.mock(return_value=reply)
    async with local_client() as http:
        with pytest.raises(UpstreamError) as raised:
            await _newapi(http).create_code("n", 1)
    assert raised.value.transient is transient
    assert (raised.value.outcome, raised.value.detail) == (outcome, detail)
    assert raised.value.reason.startswith(("New API", "The address answered"))
    for said in ("HTTP", "quota", "bad", "blocked", "private", "gone", "admin-token"):
        assert said not in raised.value.reason


@respx.mock
async def test_openrouter_creates_a_key_and_sets_its_absolute_limit() -> None:
    created = respx.post(f"{OR_BASE}/keys").mock(
        return_value=httpx.Response(
            201, json={"data": {"hash": "h1", "name": "n", "limit": 1.5}, "key": "sk-or-v1-x"}
        )
    )
    patched = respx.patch(f"{OR_BASE}/keys/h1").mock(
        return_value=httpx.Response(200, json={"data": {"hash": "h1", "limit": 4.25}})
    )
    async with local_client() as http:
        client = OpenRouter(http, "mgmt", OR_BASE)
        made = await client.create_key("n", usd(150))
        assert (made.hash, made.key, made.limit_usd) == ("h1", "sk-or-v1-x", 1.5)
        changed = await client.set_limit("h1", usd(425))
        assert changed.limit_usd == 4.25 and changed.key is None
    assert created.calls.last.request.headers["authorization"] == "Bearer mgmt"
    assert created.calls.last.request.read() == b'{"name":"n","limit":1.5}'
    assert patched.calls.last.request.read() == b'{"limit":4.25}'


@respx.mock
async def test_openrouter_refusals_keep_its_message_out_of_the_reason() -> None:
    respx.get(f"{OR_BASE}/keys").mock(
        return_value=httpx.Response(401, json={"error": {"code": 401, "message": "Invalid key"}})
    )
    respx.patch(f"{OR_BASE}/keys/gone").mock(
        return_value=httpx.Response(404, json={"error": {"code": 404, "message": "Not found"}})
    )
    async with local_client() as http:
        client = OpenRouter(http, "mgmt", OR_BASE)
        with pytest.raises(UpstreamError) as denied:
            await client.check()
        assert not denied.value.transient and denied.value.outcome == "credentials_refused"
        assert denied.value.reason == "OpenRouter refused the credentials"
        with pytest.raises(UpstreamError) as missing:
            await client.set_limit("gone", 1.0)
        assert missing.value.outcome == "not_the_provider" and not missing.value.transient
        assert "Not found" not in missing.value.reason


def test_cents_become_dollars_exactly() -> None:
    assert [usd(c) for c in (1, 10, 99, 12345)] == [0.01, 0.1, 0.99, 123.45]
