"""Standard Webhooks v1a (ed25519) beside HMAC, end to end: the API, a real worker, a real
receiver on 127.0.0.1 that holds only the public key, and rotations."""

from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.fixtures.core import wait_until
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.webhooks import (
    Receiver,
    make_endpoint,
    only_delivery,
    verify_both_schemes,
    verify_with_public_key,
)
from tests.fixtures.workers import StartWorker

SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "v1a@example.com"}


def _versions(header: str) -> list[str]:
    return [s.partition(",")[0] for s in header.split(" ")]


async def _rotate(
    client: httpx.AsyncClient, merchant: MerchantKey, endpoint_id: str, overlap: int
) -> dict[str, Any]:
    reply = await client.post(
        f"/webhooks/endpoints/{endpoint_id}/rotate-secret",
        json={"overlap_seconds": overlap},
        headers=merchant.headers,
    )
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()["data"]
    return data


async def _next(receiver: Receiver, count: int) -> Any:
    async def arrived() -> bool:
        return len(receiver.received) == count

    await wait_until(arrived)
    return receiver.received[count - 1]


async def test_both_verify_across_a_rotation_from_the_public_key_alone_and_the_library(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
) -> None:
    await start_worker()
    merchant = await make_merchant()
    endpoint = await make_endpoint(hook_client, merchant, receiver.url, signing="both")
    assert endpoint["signing"] == "both"
    public = endpoint["public_key"]
    assert public.startswith("whpk_")
    # The owner reads the public key at any time; never the private one.
    got = await hook_client.get(f"/webhooks/endpoints/{endpoint['id']}", headers=merchant.headers)
    assert got.json()["data"]["public_key"] == public
    assert "whsk_" not in got.text and 'secret"' not in got.text

    await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
    request = await only_delivery(receiver)
    assert _versions(request.headers["webhook-signature"]) == ["v1", "v1a"]
    assert verify_with_public_key(request, public)["type"] == "topup.delivered"
    verify_both_schemes(request, endpoint["secret"])  # standardwebhooks, as today

    rotated = await _rotate(hook_client, merchant, endpoint["id"], 3600)
    assert rotated["public_key"] != public and rotated["public_key"].startswith("whpk_")
    assert rotated["previous_public_key"] == public
    assert rotated["signing_key_rotation_ends_at"] is not None
    await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
    during = await _next(receiver, 2)
    assert _versions(during.headers["webhook-signature"]) == ["v1", "v1", "v1a", "v1a"]
    for key in (public, rotated["public_key"]):
        verify_with_public_key(during, key)
    for secret in (endpoint["secret"], rotated["secret"]):
        verify_both_schemes(during, secret)

    # Without an overlap only the new keys sign: the old public key and secret no longer verify.
    again = await _rotate(hook_client, merchant, endpoint["id"], 0)
    assert again["previous_public_key"] is None
    await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
    after = await _next(receiver, 3)
    assert _versions(after.headers["webhook-signature"]) == ["v1", "v1a"]
    verify_with_public_key(after, again["public_key"])
    verify_both_schemes(after, again["secret"])
    with pytest.raises(AssertionError):
        verify_with_public_key(after, rotated["public_key"])
    with pytest.raises(WebhookVerificationError):
        Webhook(rotated["secret"]).verify(after.body, after.headers)


async def test_an_ed25519_endpoint_signs_v1a_alone(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
) -> None:
    await start_worker()
    merchant = await make_merchant()
    endpoint = await make_endpoint(hook_client, merchant, receiver.url, signing="ed25519")
    await hook_client.post(f"/webhooks/endpoints/{endpoint['id']}/test", headers=merchant.headers)
    request = await only_delivery(receiver)
    assert _versions(request.headers["webhook-signature"]) == ["v1a"]
    assert "x-aitopup-signature" not in request.headers  # HMAC only, and HMAC is off
    assert verify_with_public_key(request, endpoint["public_key"])["type"] == "webhook.test"


async def test_the_scheme_changes_by_patch_and_keeps_its_key(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    endpoint = await make_endpoint(hook_client, merchant, "http://127.0.0.1:9/hook")
    assert (endpoint["signing"], endpoint["public_key"]) == ("hmac", None)
    path = f"/webhooks/endpoints/{endpoint['id']}"

    async def patch(body: dict[str, Any]) -> httpx.Response:
        return await hook_client.patch(path, json=body, headers=merchant.headers)

    made = (await patch({"signing": "ed25519"})).json()["data"]
    assert made["signing"] == "ed25519" and made["public_key"].startswith("whpk_")
    assert (await patch({"signing": "hmac"})).json()["data"]["public_key"] is None
    back = (await patch({"signing": "both"})).json()["data"]
    assert back["public_key"] == made["public_key"]  # the same keypair, not a new one
    for bad in ("rsa", None, 1):
        reply = await patch({"signing": bad})
        assert reply.status_code == 422, reply.text
    assert (await hook_client.get(path, headers=merchant.headers)).json()["data"]["signing"] == (
        "both"
    )
