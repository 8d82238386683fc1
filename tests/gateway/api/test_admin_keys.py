"""Operators mint, list and revoke merchants' API keys; the key is shown once and never stored."""

import json
import uuid

import httpx
import pytest


async def _merchant(admin_client: httpx.AsyncClient) -> str:
    reply = await admin_client.post("/merchants", json={"name": f"keys-{uuid.uuid4().hex}"})
    merchant_id: str = reply.json()["data"]["id"]
    return merchant_id


async def test_mint_use_list_and_revoke(
    admin_client: httpx.AsyncClient, billing_client: httpx.AsyncClient
) -> None:
    merchant_id = await _merchant(admin_client)
    minted = await admin_client.post(f"/merchants/{merchant_id}/keys", json={"env": "staging"})
    assert (minted.status_code, minted.json()["code"]) == (201, 1004)
    created = minted.json()["data"]
    key = created["key"]
    assert key.startswith("ak_staging_") and len(key) == len("ak_staging_") + 32
    assert key.startswith(created["display_prefix"])
    headers = {"Authorization": f"Bearer {key}"}
    balance = await billing_client.get("/balance", headers=headers)
    assert balance.status_code == 200
    assert balance.json()["data"]["env"] == "staging"
    assert balance.json()["data"]["balance_cents"] == 100_000  # a new merchant's sandbox

    listed = await admin_client.get(f"/merchants/{merchant_id}/keys")
    assert [k["id"] for k in listed.json()["data"]] == [created["id"]]
    assert key not in listed.text

    revoked = await admin_client.post(f"/merchants/{merchant_id}/keys/{created['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["data"]["revoked_at"] is not None
    refused = await billing_client.get("/balance", headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (401, 2004)

    audit = await admin_client.get("/audit", params={"target_id": merchant_id})
    actions = [row["action"] for row in audit.json()["data"]]
    assert "keys.create" in actions and "keys.revoke" in actions
    assert key not in json.dumps(audit.json())


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/merchants/mer_nope/keys", 404, 4140),
        ("/merchants/{m}/keys/key_nope/revoke", 404, 2006),
    ],
)
async def test_unknown_merchant_or_key(
    admin_client: httpx.AsyncClient, path: str, status: int, code: int
) -> None:
    merchant_id = await _merchant(admin_client)
    reply = await admin_client.post(path.format(m=merchant_id), json={"env": "live"})
    assert (reply.status_code, reply.json()["code"]) == (status, code)


async def test_bad_env_is_refused_and_mints_nothing(admin_client: httpx.AsyncClient) -> None:
    merchant_id = await _merchant(admin_client)
    for body in ({"env": "prod"}, {}, {"env": "live", "extra": 1}):
        reply = await admin_client.post(f"/merchants/{merchant_id}/keys", json=body)
        assert (reply.status_code, reply.json()["code"]) == (422, 3001)
    assert (await admin_client.get(f"/merchants/{merchant_id}/keys")).json()["data"] == []
