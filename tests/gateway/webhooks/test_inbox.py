"""The staging test inbox: a staging endpoint pasted with its URL receives signed deliveries from
a real worker with private URLs off (the gateway's own address, not a merchant's pick), each
kept and marked verified; what it keeps is bounded and masked; live has none; a day later the
retention job deletes it."""

from datetime import timedelta
from typing import Any

import httpx
import pytest

from gateway.store.engine import Database
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from gateway.webhooks import inbox, urls
from gateway.webhooks.destinations.http import post
from tests.fixtures.core import live_server, local_client, wait_until
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.webhooks import Receiver, make_endpoint
from tests.fixtures.workers import StartWorker
from worker.http import build_clients
from worker.retention import prune_inbox

SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "inbox@example.com"}


async def _inbox(client: httpx.AsyncClient, merchant: MerchantKey) -> dict[str, Any]:
    reply = await client.get("/webhooks/inbox", headers=merchant.headers)
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()["data"]
    return data


async def test_a_staging_endpoint_on_the_inbox_receives_verified_deliveries_out_of_the_box(
    hook_settings: Settings, make_merchant: MakeMerchant, start_worker: StartWorker
) -> None:
    strict = hook_settings.model_copy(update={"allow_private_webhook_urls": False})
    async with live_server(strict) as root:
        await start_worker(allow_private_webhook_urls=False, public_base_url=root)
        merchant = await make_merchant()
        live = await make_merchant("live", merchant_id=merchant.merchant_id)
        async with local_client(base_url=f"{root}/api/public/v1") as api:
            found = await _inbox(api, merchant)
            assert found["url"].startswith(f"{root}/api/public/v1/webhooks/inbox/")
            assert found["requests"] == [] and found["max_requests"] == inbox.MAX_REQUESTS
            # Loopback, and private URLs are off: only the inbox's own path passes.
            endpoint = await make_endpoint(api, merchant, found["url"], signing="both")
            for refused, who in ((f"{root}/api/public/v1/codes", merchant), (found["url"], live)):
                reply = await api.post(
                    "/webhooks/endpoints", json={"url": refused}, headers=who.headers
                )
                assert reply.json()["code"] == 5002, reply.text
            reply = await api.get("/webhooks/inbox", headers=live.headers)
            assert (reply.status_code, reply.json()["code"]) == (403, 5340)

            sent = await api.post("/topup/send", json=SEND, headers=merchant.headers)
            assert sent.status_code == 200, sent.text

            async def received() -> bool:
                return len((await _inbox(api, merchant))["requests"]) == 1

            await wait_until(received, within=15)
            (request,) = (await _inbox(api, merchant))["requests"]
    assert request["method"] == "POST"
    assert (request["signature"], request["endpoint_id"]) == ("verified", endpoint["id"])
    names = {h["name"].lower() for h in request["headers"]}
    assert {"webhook-id", "webhook-signature", "x-aitopup-signature"} <= names
    assert '"topup.delivered"' in request["body"]


async def _post(
    client: httpx.AsyncClient, url: str, body: bytes = b"{}", headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(url, content=body, headers=headers)


async def test_what_the_inbox_keeps_is_bounded_judged_masked_and_pruned(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    merchant = await make_merchant()
    url = (await _inbox(hook_client, merchant))["url"]
    token = urls.inbox_token_of(url)
    assert token is not None
    path = f"/webhooks/inbox/{token}"

    unsigned = await _post(hook_client, path, headers={"Authorization": "Bearer sk_mine"})
    assert (unsigned.status_code, unsigned.json()["data"]["signature"]) == (200, "unsigned")
    forged = await _post(
        hook_client,
        path,
        headers={"webhook-id": "evt_x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
    )
    assert forged.json()["data"]["signature"] == "no_endpoint"
    wrong = await _post(hook_client, "/webhooks/inbox/" + "A" * 43)
    assert (wrong.status_code, wrong.json()["code"]) == (404, 5341)
    large = await _post(hook_client, path, b"x" * (inbox.MAX_BODY_BYTES + 1))
    assert large.status_code == 413

    kept = (await _inbox(hook_client, merchant))["requests"]
    assert [r["signature"] for r in kept] == ["no_endpoint", "unsigned"]
    authorization = [h for h in kept[1]["headers"] if h["name"] == "authorization"]
    assert authorization == [{"name": "authorization", "value": "********"}]

    monkeypatch.setattr(inbox, "MAX_REQUESTS", 3)
    for n in range(3):
        await _post(hook_client, path, f'{{"n": {n}}}'.encode())
    bodies = [r["body"] for r in (await _inbox(hook_client, merchant))["requests"]]
    assert bodies == ['{"n": 2}', '{"n": 1}', '{"n": 0}']

    assert await prune_inbox(db, now=utcnow() + timedelta(hours=23)) == 0
    assert await prune_inbox(db, now=utcnow() + inbox.KEPT + timedelta(seconds=1)) >= 3
    assert (await _inbox(hook_client, merchant))["requests"] == []


def test_only_an_inbox_path_on_the_exact_public_origin_is_the_gateway_s_own() -> None:
    token = "a" * 43
    base = "https://gw.example/base"
    assert urls.is_own_inbox(f"{base}/api/public/v1/webhooks/inbox/{token}", base)
    for other in (
        f"https://gw.example/api/public/v1/webhooks/inbox/{token}",  # not under the base's path
        f"http://gw.example/base/api/public/v1/webhooks/inbox/{token}",  # another scheme
        f"https://gw.example:8443/base/api/public/v1/webhooks/inbox/{token}",  # another port
        f"https://evil.example/base/api/public/v1/webhooks/inbox/{token}",
        f"{base}/api/public/v1/webhooks/inbox/{token}?x=1",
        f"{base}/api/public/v1/webhooks/inbox/{token}/more",
        f"{base}/api/public/v1/webhooks/inbox/short",
        f"{base}/api/public/v1/codes",
    ):
        assert not urls.is_own_inbox(other, base), other
    assert not urls.is_own_inbox(f"{base}/api/public/v1/webhooks/inbox/{token}", None)


async def test_the_worker_reaches_the_inbox_path_alone_on_connections_of_its_own(
    settings: Settings, receiver: Receiver
) -> None:
    """The receiver stands for the gateway at its public base URL, on loopback, with private
    URLs off: the inbox path goes through; another path of the same origin is blocked, even
    with the inbox's connection kept alive; live's client never takes the exception."""
    base = receiver.url.split("/", 3)
    origin = "/".join(base[:3])
    inbox_url = urls.inbox_url(origin, "a" * 43)
    outbound = build_clients(
        settings.model_copy(update={"public_base_url": origin}), max_connections=4
    )
    try:
        sent = await post(outbound["staging"].transport, inbox_url, b"{}", {}, 5)
        assert sent.succeeded, sent.error
        other = await post(outbound["staging"].transport, receiver.url, b"{}", {}, 5)
        assert other.error is not None and "blocked" in other.error
        live = await post(outbound["live"].transport, inbox_url, b"{}", {}, 5)
        assert live.error is not None and "blocked" in live.error
    finally:
        for out in {id(o): o for o in outbound.values()}.values():
            await out.client.aclose()
    assert len(receiver.received) == 1 and receiver.connections == 1
