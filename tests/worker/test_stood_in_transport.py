"""The worker sends through any ``httpx.AsyncBaseTransport`` it is handed: here
``httpx.MockTransport`` stands in for ``WebhookTransport``.

The address check (SSRF, DNS rebinding) lives in ``WebhookTransport``, so these runs opt out of
it on purpose: nothing is connected to at all. The endpoint's URL is on loopback only because
staging may save one there (``hook_settings``); nothing listens at it.
"""

import httpx
from standardwebhooks import Webhook

from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures.core import wait_until
from tests.fixtures.deliveries import attempts_of
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import emit_test_events, make_endpoint
from tests.fixtures.workers import StartWorker
from worker.http import USER_AGENT, build_clients

NOWHERE = "http://127.0.0.1:9/hook"


async def test_a_worker_delivers_through_a_stood_in_transport(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
    redis_url: str,
) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    transport = httpx.MockTransport(answer)
    running = await start_worker(seams={"transport": transport})
    assert all(out.transport is transport for out in running.deps.outbound.values())

    merchant = await make_merchant()
    endpoint = await make_endpoint(hook_client, merchant, NOWHERE)
    [delivery_id] = await emit_test_events(db, merchant.merchant_id, 1, redis_url=redis_url)

    async def succeeded() -> bool:
        reply = await hook_client.get(
            f"/webhooks/deliveries/{delivery_id}", headers=merchant.headers
        )
        return bool(reply.json()["data"]["status"] == "succeeded")

    await wait_until(succeeded)
    (request,) = seen
    assert str(request.url) == NOWHERE
    assert request.headers["x-aitopup-delivery"] == delivery_id
    assert request.headers["user-agent"] == USER_AGENT
    payload = Webhook(endpoint["secret"]).verify(request.content, dict(request.headers))
    assert payload["type"] == "webhook.test"
    (attempt,) = await attempts_of(db, delivery_id)
    assert attempt.response_status == 200 and attempt.error is None


async def test_every_client_setting_acts_on_a_request(settings: Settings) -> None:
    """What the shared client sets reaches the transport or decides the outcome: the user
    agent, the timeouts ``WebhookTransport`` reads, and a redirect left unfollowed."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(307, headers={"Location": "http://elsewhere.test/"})

    transport = httpx.MockTransport(answer)
    outbound = build_clients(settings, max_connections=4, transport=transport)
    assert outbound["live"] is outbound["staging"]
    assert outbound["live"].transport is transport
    try:
        reply = await outbound["live"].client.post("http://receiver.test/hook", content=b"{}")
    finally:
        await outbound["live"].client.aclose()
    assert reply.status_code == 307
    (request,) = seen
    assert request.headers["user-agent"] == USER_AGENT
    assert request.extensions["timeout"] == {
        "connect": 5.0,
        "read": settings.webhook_timeout_seconds,
        "write": None,
        "pool": None,
    }
