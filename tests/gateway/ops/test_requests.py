"""Request ids on every reply, one JSON access line per request, and nothing secret in logs."""

import json
import logging
import uuid

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.ops.logs import JsonFormatter
from gateway.values.settings import Settings
from tests.fixtures.merchants import MakeMerchant

SEND = {"platform": "claude", "amount_cents": 700, "recipient_email": "Alice.Smith@Example.com"}


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = JsonFormatter()
    return [formatter.format(record) for record in caplog.records]


def _access(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [
        json.loads(line)
        for line in _lines(caplog)
        if json.loads(line)["logger"] == "aitopup.access"
    ]


async def test_an_incoming_request_id_is_kept_and_echoed(
    ops_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aitopup.access")
    reply = await ops_client.get("/healthz", headers={"X-Request-Id": "abc-123.x:y_z"})
    assert reply.headers["x-request-id"] == "abc-123.x:y_z"
    (line,) = _access(caplog)
    assert line["request_id"] == "abc-123.x:y_z"
    assert line["route"] == "/healthz"
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert line["code"] == 1000
    assert isinstance(line["duration_ms"], float)
    assert line["merchant_id"] is None


@pytest.mark.parametrize(
    "sent", [None, b"", b"has space", b"x" * 129, "\xe9-accent".encode("latin-1"), b"a\tb"]
)
async def test_a_missing_or_unsafe_request_id_is_replaced(
    ops_client: httpx.AsyncClient, sent: bytes | None
) -> None:
    headers = {} if sent is None else {b"X-Request-Id": sent}
    reply = await ops_client.get("/api/public/v1/codes", headers=headers)
    echoed = reply.headers["x-request-id"]
    assert echoed.encode() != sent
    assert uuid.UUID(hex=echoed)
    assert reply.headers.get_list("x-request-id") == [echoed]


async def test_errors_carry_the_id_and_the_route_template(
    ops_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aitopup.access")
    missing = await ops_client.get("/nowhere", headers={"X-Request-Id": "r1"})
    unauth = await ops_client.get("/api/public/v1/topup/txn_x", headers={"X-Request-Id": "r2"})
    bad_key = await ops_client.get(
        "/api/public/v1/balance", headers={"X-Request-Id": "r3", "Authorization": "Bearer nope"}
    )
    assert [r.status_code for r in (missing, unauth, bad_key)] == [404, 401, 401]
    assert [r.headers["x-request-id"] for r in (missing, unauth, bad_key)] == ["r1", "r2", "r3"]
    lines = {line["request_id"]: line for line in _access(caplog)}
    assert lines["r1"]["route"] == "unmatched"
    assert lines["r1"]["code"] == 3007
    assert lines["r2"]["route"] == "/api/public/v1/topup/{txn_id}"
    assert lines["r2"]["code"] == 2001
    assert lines["r3"]["code"] == 2002


async def test_a_forced_500_still_returns_the_envelope_with_the_id(
    ops_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("forced failure")

    app = create_app(ops_settings)
    app.router.routes.append(Route("/boom", boom, methods=["GET"]))
    caplog.set_level(logging.INFO)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            reply = await http.get("/boom", headers={"X-Request-Id": "boom-1"})
    assert reply.status_code == 500
    assert reply.headers["x-request-id"] == "boom-1"
    body = reply.json()
    assert body["success"] is False
    assert body["code"] == 9001
    assert "forced failure" not in reply.text
    (line,) = _access(caplog)
    assert line == {**line, "request_id": "boom-1", "route": "/boom", "status": 500, "code": 9001}
    errors = [json.loads(x) for x in _lines(caplog) if json.loads(x)["logger"] == "aitopup.error"]
    assert errors[0]["request_id"] == "boom-1"
    assert "forced failure" in errors[0]["exc"]


async def test_logs_hold_no_key_voucher_or_address_and_every_line_an_id(
    ops_client: httpx.AsyncClient, make_merchant: MakeMerchant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the production level
    merchant = await make_merchant()
    sent = await ops_client.post("/api/public/v1/topup/send", json=SEND, headers=merchant.headers)
    assert sent.status_code == 200
    voucher = sent.json()["data"]["voucher_code"]
    txn = sent.json()["transaction_id"]
    got = await ops_client.get(f"/api/public/v1/topup/{txn}", headers=merchant.headers)
    assert got.status_code == 200

    text = "\n".join(_lines(caplog))
    for secret in (merchant.key, voucher, SEND["recipient_email"], "alice.smith@example.com"):
        assert str(secret).lower() not in text.lower()
    access = _access(caplog)
    assert len(access) == 2
    assert all(
        line["request_id"] == r.headers["x-request-id"]
        for line, r in zip(access, [sent, got], strict=True)
    )
    assert {line["merchant_id"] for line in access} == {merchant.merchant_id}
    assert access[0]["route"] == "/api/public/v1/topup/send"
    assert access[0]["code"] == 1001


async def test_the_access_log_can_be_switched_off(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aitopup.access")
    quiet = settings.model_copy(update={"access_log": False, "metrics": False})
    async with LifespanManager(create_app(quiet)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            reply = await http.get("/healthz")
            assert (await http.get("/metrics")).status_code == 404
    assert reply.headers["x-request-id"]
    assert _access(caplog) == []
