"""Merchants manage their agents' keys at /keys: made with a policy and shown once, listed, read,
changed and revoked, each within the calling key's merchant and environment; the concurrent
changes and creations on both stores."""

import asyncio
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.policies.model import UNRESTRICTED, Policy
from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, table_of
from gateway.values.settings import Settings
from keys import hash_api_key, parse_api_key
from tests.fixtures.core import TEST_PEPPER, asgi_client, running_app
from tests.fixtures.merchants import MakeMerchant, MerchantKey

_K = table_of(ApiKeyRow)
FULL = {
    "scopes": ["topup:send", "topup:read"],
    "max_per_send_cents": 5_000,
    "limits": [
        {"amount_cents": 20_000, "interval": "daily"},
        {"amount_cents": 100_000, "interval": "monthly"},
    ],
    "per_recipient_limit": {"amount_cents": 10_000, "interval": "weekly"},
    "allowed_platforms": ["claude"],
    "allowed_recipients": ["Ada@Example.com", "@Example.org"],
    "approval_above_cents": 2_500,
    "approval_for_new_recipients": True,
    "expires_at": "2099-01-01T02:00:00+02:00",
    "rate_limit_per_minute": 60,
    "soft_limit_percent": 80,
}


def _without_usage(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in key.items() if k != "usage"} for key in keys]


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _create(client: httpx.AsyncClient, caller: MerchantKey, **body: Any) -> dict[str, Any]:
    reply = await client.post("/keys", json=body, headers=caller.headers)
    assert reply.status_code == 201, reply.text
    data: dict[str, Any] = reply.json()["data"]
    return data


async def _ids(client: httpx.AsyncClient, caller: MerchantKey) -> list[str]:
    reply = await client.get("/keys?limit=100", headers=caller.headers)
    assert reply.status_code == 200, reply.text
    return [k["id"] for k in reply.json()["data"]]


async def _stored(db: Database, key_id: str) -> Any:
    async with db.read() as conn:
        return (await conn.execute(select(_K).where(_K.c.id == key_id))).one()


async def test_a_key_is_shown_once_and_only_its_hmac_is_kept(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    owner = await make_merchant()
    reply = await client.post(
        "/keys", json={"name": "agent one", "policy": FULL}, headers=owner.headers
    )
    assert (reply.status_code, reply.json()["code"]) == (201, 1004), reply.text
    assert reply.headers["cache-control"] == "no-store"
    made = reply.json()["data"]
    raw = made["key"]
    assert raw.startswith("ak_staging_") and raw.startswith(made["display_prefix"])
    assert made["id"].startswith("key_") and made["env"] == "staging"
    assert made["name"] == "agent one" and made["legacy"] is False
    assert made["last_used_at"] is None and made["revoked_at"] is None
    policy = made["policy"]
    assert policy["allowed_recipients"] == ["ada@example.com", "@example.org"]
    assert policy["expires_at"] == "2099-01-01T00:00:00Z"
    assert policy["limits"] == FULL["limits"] and policy["scopes"] == FULL["scopes"]

    got = await client.get(f"/keys/{made['id']}", headers=owner.headers)
    listed = await client.get("/keys", headers=owner.headers)
    for later in (got, listed):
        assert later.status_code == 200 and raw not in later.text
    shown = got.json()["data"]
    assert shown.pop("usage")["requests"]["all_time"] == 0  # the key was never used yet
    assert shown == {k: v for k, v in made.items() if k not in ("key", "usage")}

    row = await _stored(db, made["id"])
    assert row.key_hash == hash_api_key(parse_api_key(raw), TEST_PEPPER.encode())
    assert raw not in json.dumps([str(v) for v in row])
    assert row.policy["scopes"] == FULL["scopes"] and row.name == "agent one"

    # The new key works, within its scopes: it reads, it does not manage keys.
    assert (await client.get("/balance", headers=_auth(raw))).status_code == 200


async def test_a_key_made_without_scopes_gets_send_and_read_and_cannot_manage_keys(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    plain = await _create(client, owner)
    assert plain["policy"] == Policy().stored()
    assert plain["policy"]["scopes"] == ["topup:send", "topup:read"]
    assert plain["name"] is None
    limited = await _create(client, owner, policy={"max_per_send_cents": 100})
    assert limited["policy"]["scopes"] == ["topup:send", "topup:read"]
    before = await _ids(client, owner)
    agent = _auth(plain["key"])
    for method, path, body in [
        ("GET", "/keys", None),
        ("POST", "/keys", {}),
        ("GET", f"/keys/{limited['id']}", None),
        ("PATCH", f"/keys/{limited['id']}", {"policy": {"scopes": ["keys"]}}),
        ("DELETE", f"/keys/{limited['id']}", None),
    ]:
        reply = await client.request(method, path, json=body, headers=agent)
        assert (reply.status_code, reply.json()["code"]) == (403, 2301), (method, path)
        assert reply.json()["data"] == {"scope": "keys"}
    assert await _ids(client, owner) == before
    unchanged = await client.get(f"/keys/{limited['id']}", headers=owner.headers)
    shown = {k: v for k, v in unchanged.json()["data"].items() if k != "usage"}
    assert shown == {k: v for k, v in limited.items() if k not in ("key", "usage")}


async def test_list_get_patch_and_revoke(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    made = [await _create(client, owner, name=f"agent {n}") for n in range(3)]
    first = (await client.get("/keys?limit=2", headers=owner.headers)).json()
    newest_first = sorted([k["id"] for k in made], reverse=True)
    assert [k["id"] for k in first["data"]] == newest_first[:2]
    assert first["meta"] == {"limit": 2, "has_more": True, "next_cursor": newest_first[1]}
    second = await client.get(
        "/keys", params={"limit": 2, "cursor": first["meta"]["next_cursor"]}, headers=owner.headers
    )
    rest = second.json()
    # The last one is the owner's own key, made before the others.
    assert [k["id"] for k in rest["data"]] == [newest_first[2], owner.key_id]
    assert rest["meta"] == {"limit": 2, "has_more": False, "next_cursor": None}
    assert set(first["data"][0]) == {
        "id",
        "name",
        "env",
        "display_prefix",
        "policy",
        "legacy",
        "created_at",
        "last_used_at",
        "revoked_at",
        "usage",
    }

    target = made[0]["id"]
    patched = await client.patch(
        f"/keys/{target}",
        json={"policy": {"max_per_send_cents": 700, "limits": FULL["limits"]}},
        headers=owner.headers,
    )
    assert (patched.status_code, patched.json()["code"]) == (200, 1000), patched.text
    policy = patched.json()["data"]["policy"]
    assert policy["max_per_send_cents"] == 700 and policy["limits"] == FULL["limits"]
    assert policy["scopes"] == ["topup:send", "topup:read"]  # what was not named stays

    renamed = await client.patch(f"/keys/{target}", json={"name": "renamed"}, headers=owner.headers)
    assert renamed.json()["data"]["name"] == "renamed"
    assert renamed.json()["data"]["policy"] == policy

    cleared = await client.patch(
        f"/keys/{target}",
        json={"name": None, "policy": {"max_per_send_cents": None, "limits": []}},
        headers=owner.headers,
    )
    assert cleared.json()["data"]["name"] is None
    assert cleared.json()["data"]["policy"]["max_per_send_cents"] is None
    assert cleared.json()["data"]["policy"]["limits"] == []

    agent = _auth(made[0]["key"])
    assert (await client.get("/balance", headers=agent)).status_code == 200
    revoked = await client.delete(f"/keys/{target}", headers=owner.headers)
    assert (revoked.status_code, revoked.json()["code"]) == (200, 1005)
    revoked_at = revoked.json()["data"]["revoked_at"]
    assert revoked_at is not None
    refused = await client.get("/balance", headers=agent)
    assert (refused.status_code, refused.json()["code"]) == (401, 2004)
    again = await client.delete(f"/keys/{target}", headers=owner.headers)
    assert (again.status_code, again.json()["data"]["revoked_at"]) == (200, revoked_at)
    listed = await client.get(f"/keys/{target}", headers=owner.headers)
    assert listed.json()["data"]["revoked_at"] == revoked_at
    # The others still work.
    assert (await client.get("/balance", headers=_auth(made[1]["key"]))).status_code == 200


async def test_a_key_gives_only_scopes_it_holds(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    manager = await _create(client, owner, policy={"scopes": ["keys", "topup:read"]})
    wide = await _create(client, owner, policy={"scopes": ["webhooks", "topup:read"]})
    as_manager = _auth(manager["key"])
    before = await _ids(client, owner)

    reply = await client.post(
        "/keys", json={"policy": {"scopes": ["topup:read", "billing"]}}, headers=as_manager
    )
    assert (reply.status_code, reply.json()["code"]) == (403, 2310)
    assert reply.json()["data"] == {"scopes": ["billing"]}
    # No scopes named means the default ones, topup:send among them: not the manager's to give.
    reply = await client.post("/keys", json={}, headers=as_manager)
    assert (reply.status_code, reply.json()["data"]) == (403, {"scopes": ["topup:send"]})
    assert await _ids(client, owner) == before

    for target, scopes in [
        (manager["id"], ["keys", "topup:read", "approvals"]),  # not even to itself
        (wide["id"], ["webhooks", "topup:read", "topup:send"]),
    ]:
        reply = await client.patch(
            f"/keys/{target}", json={"policy": {"scopes": scopes}}, headers=as_manager
        )
        assert (reply.status_code, reply.json()["code"]) == (403, 2310)
        stored = await client.get(f"/keys/{target}", headers=owner.headers)
        assert stored.json()["data"]["policy"]["scopes"] != scopes

    # Scopes the key had stay, even those the manager lacks; dropping one is no giving.
    kept = await client.patch(
        f"/keys/{wide['id']}",
        json={"policy": {"max_per_send_cents": 10, "scopes": ["webhooks"]}},
        headers=as_manager,
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["data"]["policy"]["scopes"] == ["webhooks"]
    given = await client.post(
        "/keys", json={"policy": {"scopes": ["topup:read"]}}, headers=as_manager
    )
    assert given.status_code == 201, given.text
    assert given.json()["data"]["policy"]["scopes"] == ["topup:read"]


async def test_another_merchants_or_environments_key_is_not_found(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    live = await make_merchant("live", merchant_id=owner.merchant_id)
    other = await make_merchant()
    theirs = await _create(client, other, name="theirs")
    live_made = await _create(client, live, name="live one")
    assert live_made["key"].startswith("ak_live_") and live_made["env"] == "live"
    staging_made = await _create(client, owner)
    assert staging_made["key"].startswith("ak_staging_")

    for key_id in (theirs["id"], other.key_id, live_made["id"], live.key_id):
        for method, body in [("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)]:
            reply = await client.request(
                method, f"/keys/{key_id}", json=body, headers=owner.headers
            )
            assert (reply.status_code, reply.json()["code"]) == (404, 2006), (key_id, method)
    assert set(await _ids(client, owner)) == {owner.key_id, staging_made["id"]}
    assert set(await _ids(client, live)) == {live.key_id, live_made["id"]}
    assert (await client.get(f"/keys/{theirs['id']}", headers=other.headers)).json()["data"][
        "name"
    ] == "theirs"
    # Nothing was revoked on the way.
    assert (await client.get("/balance", headers=_auth(theirs["key"]))).status_code == 200
    assert (await client.get("/balance", headers=_auth(live_made["key"]))).status_code == 200

    # A staging key cannot ask for a live key.
    reply = await client.post("/keys", json={"env": "live"}, headers=owner.headers)
    assert (reply.status_code, reply.json()["code"]) == (422, 3001)


@pytest.mark.parametrize(
    "path", ["/keys/self", "/keys/key_nope", "/keys/KEY_00000000000000000000000A", "/keys/%20"]
)
async def test_an_id_of_no_key_shape_is_not_found(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, path: str
) -> None:
    owner = await make_merchant()
    for method, body in [("PATCH", {"name": "x"}), ("DELETE", None)]:
        reply = await client.request(method, path, json=body, headers=owner.headers)
        assert (reply.status_code, reply.json()["code"]) == (404, 2006), (method, path)


async def test_a_legacy_key_manages_keys_and_reads_unrestricted(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    owner = await make_merchant()  # made as keys were before policies: no stored policy
    assert (await _stored(db, owner.key_id)).policy is None
    own = (await client.get(f"/keys/{owner.key_id}", headers=owner.headers)).json()["data"]
    assert own["legacy"] is True
    assert own["policy"] == UNRESTRICTED.model_dump(mode="json")
    every = await _create(client, owner, policy={"scopes": list(UNRESTRICTED.scopes)})
    assert every["legacy"] is False

    # A PATCH starts from what the key held, every scope, and stores it: no longer legacy.
    patched = await client.patch(
        f"/keys/{owner.key_id}",
        json={"policy": {"rate_limit_per_minute": 1000}},
        headers=owner.headers,
    )
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert data["legacy"] is False
    assert data["policy"] == {**UNRESTRICTED.model_dump(mode="json"), "rate_limit_per_minute": 1000}
    assert (await _stored(db, owner.key_id)).policy["rate_limit_per_minute"] == 1000
    assert (await client.get("/keys", headers=owner.headers)).status_code == 200


_TOO_MANY = [f"r{n}@example.com" for n in range(101)]
BAD_POLICIES: list[Any] = [
    {"bogus": 1},
    {"scopes": "keys"},
    {"scopes": ["keys", "keys"]},
    {"scopes": ["admin"]},
    {"max_per_send_cents": "500"},
    {"max_per_send_cents": 5.5},
    {"max_per_send_cents": True},
    {"max_per_send_cents": -1},
    {"max_per_send_cents": 0},
    {"approval_above_cents": -5},
    {"limits": [{"amount_cents": 100, "interval": "hourly"}]},
    {"limits": [{"amount_cents": -100, "interval": "daily"}]},
    {"limits": [{"amount_cents": 100, "interval": "daily", "extra": 1}]},
    {
        "limits": [
            {"amount_cents": 100, "interval": "daily"},
            {"amount_cents": 200, "interval": "daily"},
        ]
    },
    {"limits": {"amount_cents": 100, "interval": "daily"}},
    {"limits": [{"amount_cents": 100, "interval": "rolling"}]},  # no hours
    {"limits": [{"amount_cents": 100, "interval": "rolling", "hours": 0}]},
    {"limits": [{"amount_cents": 100, "interval": "rolling", "hours": 169}]},
    {"limits": [{"amount_cents": 100, "interval": "rolling", "hours": "5"}]},
    {"limits": [{"amount_cents": 100, "interval": "daily", "hours": 5}]},
    {
        "limits": [
            {"amount_cents": 100, "interval": "rolling", "hours": 5},
            {"amount_cents": 900, "interval": "rolling", "hours": 24},
        ]
    },
    {"per_recipient_limit": {"amount_cents": 100, "interval": "rolling", "hours": 5}},
    {"per_payee_limit": {"amount_cents": 100, "interval": "rolling", "hours": 5}},
    {"per_recipient_limit": {"amount_cents": 100}},
    {"allowed_platforms": ["myspace"]},
    {"allowed_recipients": ["not an address"]},
    {"allowed_recipients": ["@"]},
    {"allowed_recipients": ["@nodot"]},
    {"allowed_recipients": ["Ada <ada@example.com>"]},
    {"allowed_recipients": _TOO_MANY},
    {"expires_at": "2099-01-01T00:00:00"},  # no offset
    {"expires_at": "tomorrow"},
    {"rate_limit_per_minute": 0},
    {"soft_limit_percent": 101},
    {"approval_for_new_recipients": "yes"},
]
BAD_BODIES: list[Any] = [
    {"name": ""},
    {"name": "   "},
    {"name": 5},
    {"name": "x" * 101},
    {"policy": None},
    {"policy": "unrestricted"},
    {"policy": []},
    {"unknown": True},
    *({"policy": p} for p in BAD_POLICIES),
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_bad_input_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, body: Any
) -> None:
    owner = await make_merchant()
    target = await _create(client, owner, name="target", policy={"max_per_send_cents": 10})
    before = await client.get("/keys", headers=owner.headers)
    made = await client.post("/keys", json=body, headers=owner.headers)
    assert (made.status_code, made.json()["code"]) == (422, 3001), made.text
    assert made.json()["data"]["errors"]
    changed = await client.patch(f"/keys/{target['id']}", json=body, headers=owner.headers)
    assert (changed.status_code, changed.json()["code"]) == (422, 3001), changed.text
    after = await client.get("/keys", headers=owner.headers)
    # The same keys, unchanged (``usage`` counts these very requests of the owner's key).
    assert _without_usage(after.json()["data"]) == _without_usage(before.json()["data"])


@pytest.mark.parametrize(
    ("field", "limit", "says"),
    [
        ("limits", {"interval": "rolling"}, "a rolling limit needs hours, 1 to 168"),
        ("limits", {"interval": "weekly", "hours": 5}, "a weekly limit has none"),
        ("limits", {"interval": "rolling", "hours": 169}, "less than or equal to 168"),
        ("per_recipient_limit", {"interval": "rolling", "hours": 5}, "rolling is for `limits`"),
    ],
)
async def test_a_rolling_limit_is_refused_saying_why(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, field: str, limit: Any, says: str
) -> None:
    owner = await make_merchant()
    given = {"amount_cents": 500, **limit}
    policy = {field: [given] if field == "limits" else given}
    made = await client.post("/keys", json={"policy": policy}, headers=owner.headers)
    assert (made.status_code, made.json()["code"]) == (422, 3001)
    assert [says in e["msg"] for e in made.json()["data"]["errors"]] == [True], made.text


@pytest.mark.parametrize(
    "policy",
    [
        {"scopes": None},
        {"limits": None},
        {"approval_for_new_recipients": None},
    ],
)
async def test_a_patch_cannot_null_what_cannot_be_empty(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, policy: dict[str, Any]
) -> None:
    owner = await make_merchant()
    target = await _create(client, owner)
    for body in ({"policy": policy}, {"policy": None}):
        reply = await client.patch(f"/keys/{target['id']}", json=body, headers=owner.headers)
        assert (reply.status_code, reply.json()["code"]) == (422, 3001), reply.text
    stored = await client.get(f"/keys/{target['id']}", headers=owner.headers)
    assert stored.json()["data"]["policy"] == target["policy"]


async def test_bad_queries_and_bodies_of_no_json(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    for query, code in [("cursor=nope", 3005), ("limit=0", 3006), ("limit=101", 3006)]:
        reply = await client.get(f"/keys?{query}", headers=owner.headers)
        assert (reply.status_code, reply.json()["code"]) == (422, code), query
    reply = await client.post(
        "/keys",
        content=b'{"name": "a", "name": "b"}',
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert reply.json()["code"] == 3101
    reply = await client.post(
        "/keys", content=b"name=a", headers={**owner.headers, "Content-Type": "text/plain"}
    )
    assert reply.json()["code"] == 3003


@pytest.mark.both_stores
async def test_concurrent_patches_of_different_fields_all_hold(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    """Each PATCH merges with the policy as stored when it runs, under the key row's lock: no
    change is lost to another made at the same moment."""
    owner = await make_merchant()
    target = await _create(client, owner)
    changes: list[dict[str, Any]] = [
        {"max_per_send_cents": 111},
        {"rate_limit_per_minute": 222},
        {"soft_limit_percent": 33},
        {"approval_above_cents": 444},
        {"allowed_platforms": ["gemini"]},
        {"limits": [{"amount_cents": 666, "interval": "all_time"}]},
        {"per_recipient_limit": {"amount_cents": 777, "interval": "monthly"}},
        {"approval_for_new_recipients": True},
    ]
    replies = await asyncio.gather(
        *(
            client.patch(f"/keys/{target['id']}", json={"policy": c}, headers=owner.headers)
            for c in changes
        )
    )
    assert [r.status_code for r in replies] == [200] * len(changes)
    stored = (await client.get(f"/keys/{target['id']}", headers=owner.headers)).json()["data"]
    for change in changes:
        for field, value in change.items():
            assert stored["policy"][field] == value, field


async def test_a_key_may_revoke_itself(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    manager = await _create(client, owner, policy={"scopes": ["keys"]})
    own = _auth(manager["key"])
    reply = await client.delete(f"/keys/{manager['id']}", headers=own)
    assert (reply.status_code, reply.json()["code"]) == (200, 1005)
    refused = await client.get("/keys", headers=own)
    assert (refused.status_code, refused.json()["code"]) == (401, 2004)


@pytest.mark.both_stores
async def test_keys_per_merchant_and_environment_are_capped_under_concurrent_creates(
    settings: Settings, make_merchant: MakeMerchant
) -> None:
    """Creates for one merchant take turns on its row: twelve at once against a cap of four
    (one key held already) make exactly three; a revoked key frees its place."""
    capped = settings.model_copy(update={"max_keys_per_merchant_env": 4})
    owner = await make_merchant()
    async with running_app(capped) as app, asgi_client(app) as capped_client:
        replies = await asyncio.gather(
            *(capped_client.post("/keys", json={}, headers=owner.headers) for _ in range(12))
        )
        made = [r for r in replies if r.status_code == 201]
        refused = [r for r in replies if r.status_code != 201]
        assert len(made) == 3
        assert {(r.status_code, r.json()["code"]) for r in refused} == {(409, 2311)}
        assert refused[0].json()["data"] == {"limit": 4}
        assert len(await _ids(capped_client, owner)) == 4  # nothing half-made by a refusal
        revoked = made[0].json()["data"]["id"]
        gone = await capped_client.delete(f"/keys/{revoked}", headers=owner.headers)
        assert gone.is_success, gone.text
        again = await capped_client.post("/keys", json={}, headers=owner.headers)
        assert again.status_code == 201, again.text
