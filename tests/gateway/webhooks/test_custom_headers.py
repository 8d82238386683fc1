"""Custom headers per endpoint: checked by name and value with a code for each refusal, sent on
every attempt (retries too), and a secret one never shown: not in replies, the delivery log or
the logs."""

import logging
import secrets
from typing import Any

import httpx
import pytest

from gateway.ops.logs import JsonFormatter
from tests.fixtures.core import wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import Receiver, Reply, make_endpoint
from tests.fixtures.workers import StartWorker

SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "hdr@example.com"}
MASK = "********"


async def test_headers_ride_every_attempt_and_a_secret_never_shows(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    await start_worker()
    token = f"Bearer tok-{secrets.token_hex(16)}"
    replies = iter([Reply(status=500), Reply(status=503), Reply()])
    receiver.respond = lambda _: next(replies, Reply())
    merchant = await make_merchant()
    endpoint = await make_endpoint(
        hook_client,
        merchant,
        receiver.url,
        headers=[
            {"name": "Authorization", "value": token, "secret": True},
            {"name": "X-Team", "value": "payments"},
        ],
    )
    assert endpoint["headers"] == [
        {"name": "Authorization", "value": MASK, "secret": True},
        {"name": "X-Team", "value": "payments", "secret": False},
    ]
    await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)

    async def three() -> bool:
        return len(receiver.received) == 3

    await wait_until(three)
    for request in receiver.received:  # the first try and both retries
        assert request.headers["authorization"] == token
        assert request.headers["x-team"] == "payments"
    delivery_id = receiver.received[0].headers["x-aitopup-delivery"]

    async def succeeded() -> bool:
        reply = await hook_client.get(
            f"/webhooks/deliveries/{delivery_id}", headers=merchant.headers
        )
        return bool(reply.json()["data"]["status"] == "succeeded")

    await wait_until(succeeded)
    detail = await hook_client.get(f"/webhooks/deliveries/{delivery_id}", headers=merchant.headers)
    log = detail.json()["data"]["attempt_log"]
    assert len(log) == 3
    for attempt in log:
        assert attempt["request_headers"]["Authorization"] == MASK
        assert attempt["request_headers"]["X-Team"] == "payments"

    # A PATCH may keep a secret's value without knowing it: a secret header without a value.
    path = f"/webhooks/endpoints/{endpoint['id']}"
    patched = await hook_client.patch(
        path,
        json={
            "headers": [
                {"name": "authorization", "secret": True},
                {"name": "X-Team", "value": "ops"},
            ]
        },
        headers=merchant.headers,
    )
    assert patched.status_code == 200, patched.text
    await hook_client.post(f"{path}/test", headers=merchant.headers)

    async def four() -> bool:
        return len(receiver.received) == 4

    await wait_until(four)
    assert receiver.received[3].headers["authorization"] == token
    assert receiver.received[3].headers["x-team"] == "ops"

    replies_text = [
        detail.text,
        patched.text,
        (await hook_client.get(path, headers=merchant.headers)).text,
        (await hook_client.get("/webhooks/endpoints", headers=merchant.headers)).text,
        (await hook_client.get("/webhooks/deliveries", headers=merchant.headers)).text,
    ]
    secret_part = token.split(" ")[1]
    assert not [t for t in replies_text if secret_part in t]
    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(r) for r in caplog.records)
    assert caplog.records and secret_part not in logged


def _header(name: str, value: str = "v", **extra: Any) -> dict[str, Any]:
    return {"name": name, "value": value, **extra}


REFUSED = [
    *[
        ([_header(name)], 5314, name)
        for name in (
            "Host",
            "content-length",
            "Content-Type",
            "Transfer-Encoding",
            "Connection",
            "Keep-Alive",
            "Upgrade",
            "TE",
            "Trailer",
            "Proxy-Authorization",
            "Accept-Encoding",
        )
    ],
    *[
        ([_header(name)], 5315, name)
        for name in ("webhook-id", "Webhook-Signature", "webhook-timestamp", "webhook-x")
    ],
    *[
        ([_header(name)], 5316, name)
        for name in ("X-AiTopUp-Signature", "x-aitopup-event", "User-Agent")
    ],
    ([_header("Bad Name")], 5311, "Bad Name"),
    ([_header("X:Y")], 5311, "X:Y"),
    ([_header("X-" + "a" * 70)], 5311, "X-" + "a" * 62),
    ([_header("X-Split", "a\r\nHost: evil")], 5312, "X-Split"),
    # A NUL is refused before the headers' rules see it (3103): tests/gateway/api/test_bad_input.py.
    ([_header("X-Bell", "a\x07b")], 5312, "X-Bell"),
    ([_header("X-Long", "a" * 1001)], 5312, "X-Long"),
    ([_header("X-Empty", "")], 5312, "X-Empty"),
    ([{"name": "X-Missing", "secret": True}], 5312, "X-Missing"),
    ([_header("X-Twice"), _header("x-twice")], 5313, "x-twice"),
]


async def test_each_forbidden_header_is_refused_with_its_code_and_nothing_changes(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    kept = [{"name": "Authorization", "value": MASK, "secret": True}]
    endpoint = await make_endpoint(
        hook_client,
        merchant,
        "http://127.0.0.1:9/hook",
        headers=[{"name": "Authorization", "value": "Bearer keep-me", "secret": True}],
    )
    path = f"/webhooks/endpoints/{endpoint['id']}"
    too_many = [_header(f"X-H{n}") for n in range(21)]
    for given, code, named in [*REFUSED, (too_many, 5310, None)]:
        made = await hook_client.post(
            "/webhooks/endpoints",
            json={"url": "http://127.0.0.1:9/hook", "headers": given},
            headers=merchant.headers,
        )
        patched = await hook_client.patch(path, json={"headers": given}, headers=merchant.headers)
        for reply in (made, patched):
            body = reply.json()
            assert (reply.status_code, body["code"]) == (422, code), (given, reply.text)
            if named is not None:
                assert body["data"]["header"] == named
                assert named[:20] in body["message"]
    listed = await hook_client.get("/webhooks/endpoints", headers=merchant.headers)
    assert [e["id"] for e in listed.json()["data"]] == [endpoint["id"]]  # none was made
    assert listed.json()["data"][0]["headers"] == kept  # nor changed
    # Authorization is allowed: it is what custom headers are for.
    ok = await hook_client.patch(
        path,
        json={
            "headers": [
                _header("authorization", "Basic eA=="),
                *[_header(f"X-{n}") for n in range(19)],
            ]
        },
        headers=merchant.headers,
    )
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["data"]["headers"]) == 20
    cleared = await hook_client.patch(path, json={"headers": []}, headers=merchant.headers)
    assert cleared.json()["data"]["headers"] == []
