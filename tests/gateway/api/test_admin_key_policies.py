"""Operators give a merchant's key a name and a policy, and change the policy later; a key made
without one may do everything, as before policies, and every change is audited."""

import uuid
from typing import Any

import httpx

from gateway.policies.model import UNRESTRICTED
from tests.fixtures.merchants import MakeMerchant


async def _merchant(admin_client: httpx.AsyncClient) -> str:
    reply = await admin_client.post("/merchants", json={"name": f"policies-{uuid.uuid4().hex}"})
    merchant_id: str = reply.json()["data"]["id"]
    return merchant_id


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_key_with_a_name_and_a_policy_and_one_without(
    admin_client: httpx.AsyncClient, billing_client: httpx.AsyncClient
) -> None:
    merchant_id = await _merchant(admin_client)
    policy = {"scopes": ["topup:read"], "limits": [{"amount_cents": 500, "interval": "weekly"}]}
    reply = await admin_client.post(
        f"/merchants/{merchant_id}/keys",
        json={"env": "live", "name": "reader", "policy": policy},
    )
    assert (reply.status_code, reply.json()["code"]) == (201, 1004), reply.text
    reader = reply.json()["data"]
    assert reader["name"] == "reader" and reader["env"] == "live"
    assert reader["policy"]["scopes"] == ["topup:read"]
    assert reader["policy"]["limits"] == policy["limits"]
    assert reader["legacy"] is False

    reply = await admin_client.post(f"/merchants/{merchant_id}/keys", json={"env": "live"})
    first = reply.json()["data"]
    assert first["policy"] == UNRESTRICTED.model_dump(mode="json") and first["legacy"] is False
    assert first["name"] is None

    # The unrestricted key makes the others; the reader reads and cannot.
    assert (await billing_client.get("/balance", headers=_auth(reader["key"]))).status_code == 200
    refused = await billing_client.get("/keys", headers=_auth(reader["key"]))
    assert (refused.status_code, refused.json()["code"]) == (403, 2301)
    made = await billing_client.post(
        "/keys", json={"policy": {"scopes": ["webhooks"]}}, headers=_auth(first["key"])
    )
    assert made.status_code == 201, made.text

    listed = (await admin_client.get(f"/merchants/{merchant_id}/keys")).json()["data"]
    assert {k["id"]: k["name"] for k in listed} == {
        reader["id"]: "reader",
        first["id"]: None,
        made.json()["data"]["id"]: None,
    }
    assert all(reader["key"] not in str(k) for k in listed)


async def test_patching_a_keys_policy_is_audited(
    admin_client: httpx.AsyncClient, billing_client: httpx.AsyncClient
) -> None:
    merchant_id = await _merchant(admin_client)
    reply = await admin_client.post(
        f"/merchants/{merchant_id}/keys",
        json={"env": "staging", "policy": {"scopes": ["topup:read"]}},
    )
    key = reply.json()["data"]
    patched = await admin_client.patch(
        f"/merchants/{merchant_id}/keys/{key['id']}",
        json={"name": "now a manager", "policy": {"scopes": ["keys"], "max_per_send_cents": 9}},
    )
    assert (patched.status_code, patched.json()["code"]) == (200, 1000), patched.text
    data = patched.json()["data"]
    assert data["name"] == "now a manager"
    assert data["policy"]["scopes"] == ["keys"] and data["policy"]["max_per_send_cents"] == 9
    # Taken from the next request on.
    assert (await billing_client.get("/keys", headers=_auth(key["key"]))).status_code == 200

    audit = await admin_client.get("/audit", params={"target_id": merchant_id})
    rows = [r for r in audit.json()["data"] if r["action"] == "keys.update"]
    assert len(rows) == 1
    assert rows[0]["details"] == {
        "key_id": key["id"],
        "changed": ["name", "policy.max_per_send_cents", "policy.scopes"],
    }


async def test_bad_patches_and_other_merchants_keys_change_nothing(
    admin_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant_id = await _merchant(admin_client)
    other = await make_merchant()
    reply = await admin_client.post(f"/merchants/{merchant_id}/keys", json={"env": "staging"})
    key_id = reply.json()["data"]["id"]
    cases: list[tuple[str, Any, int, int]] = [
        (f"/merchants/{merchant_id}/keys/{other.key_id}", {"name": "x"}, 404, 2006),
        (f"/merchants/{merchant_id}/keys/key_nope", {"name": "x"}, 404, 2006),
        (f"/merchants/mer_nope/keys/{key_id}", {"name": "x"}, 404, 4140),
        (f"/merchants/{merchant_id}/keys/{key_id}", {"policy": {"scopes": ["root"]}}, 422, 3001),
        (f"/merchants/{merchant_id}/keys/{key_id}", {"policy": {"scopes": None}}, 422, 3001),
        (
            f"/merchants/{merchant_id}/keys/{key_id}",
            {"policy": {"limits": [{"amount_cents": 0, "interval": "daily"}]}},
            422,
            3001,
        ),
        (f"/merchants/{merchant_id}/keys/{key_id}", {"env": "live"}, 422, 3001),
    ]
    for path, body, status, code in cases:
        reply = await admin_client.patch(path, json=body)
        assert (reply.status_code, reply.json()["code"]) == (status, code), (path, body)
    listed = (await admin_client.get(f"/merchants/{merchant_id}/keys")).json()["data"]
    assert listed[0]["policy"] == UNRESTRICTED.model_dump(mode="json")
    assert listed[0]["name"] is None

    for body in (
        {"env": "staging", "policy": {"scopes": ["root"]}},
        {"env": "staging", "policy": "all"},
        {"env": "staging", "name": ""},
    ):
        reply = await admin_client.post(f"/merchants/{merchant_id}/keys", json=body)
        assert (reply.status_code, reply.json()["code"]) == (422, 3001), body
    assert len((await admin_client.get(f"/merchants/{merchant_id}/keys")).json()["data"]) == 1


async def test_a_legacy_key_reads_as_such_to_operators(
    admin_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    legacy = await make_merchant()
    listed = (await admin_client.get(f"/merchants/{legacy.merchant_id}/keys")).json()["data"]
    assert [(k["id"], k["legacy"]) for k in listed] == [(legacy.key_id, True)]
    assert listed[0]["policy"] == UNRESTRICTED.model_dump(mode="json")
