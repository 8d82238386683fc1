"""A key gives no more than it holds, limits included: a key with the `keys` scope makes, and
changes (itself too), only keys whose limits are within its own (2317, nothing written), and
a key it made stands on its own once made (a later narrowing of its maker does not reach it).
Both stores."""

import json
from typing import Any

import httpx
from sqlalchemy import func, select

from gateway.policies.model import Policy, load
from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, table_of
from tests.fixtures.merchants import MakeMerchant

_K = table_of(ApiKeyRow)
# The maker: may make keys, and spends within every kind of limit.
BOUND: dict[str, Any] = {
    "scopes": ["topup:send", "topup:read", "keys"],
    "max_per_send_cents": 500,
    "limits": [{"amount_cents": 2_000, "interval": "daily"}],
    "per_recipient_limit": {"amount_cents": 1_000, "interval": "weekly"},
    "allowed_platforms": ["claude"],
    "allowed_recipients": ["@example.com"],
    "approval_above_cents": 300,
    "approval_for_new_recipients": True,
    "expires_at": "2099-01-01T00:00:00Z",
    "rate_limit_per_minute": 60,
}
# Within it: every limit as tight or tighter (all time within a daily limit).
WITHIN: dict[str, Any] = {
    **BOUND,
    "scopes": ["topup:send"],
    "max_per_send_cents": 400,
    "limits": [{"amount_cents": 1_500, "interval": "all_time"}],
    "allowed_recipients": ["ada@example.com"],
    "expires_at": "2098-01-01T00:00:00Z",
}
# Each field made looser than the maker's, one at a time.
LOOSER: dict[str, Any] = {
    "max_per_send_cents": 501,
    # More over a week than the maker's day: a week holds each day in it, but not to less.
    "limits": [{"amount_cents": 2_001, "interval": "weekly"}],
    "per_recipient_limit": None,
    "allowed_platforms": ["claude", "gemini"],
    "allowed_recipients": ["@example.org"],
    "approval_above_cents": None,
    "approval_for_new_recipients": False,
    "expires_at": None,
    "rate_limit_per_minute": 61,
}


async def _count(db: Database, merchant_id: str) -> int:
    async with db.read() as conn:
        found: int = (
            await conn.execute(select(func.count()).where(_K.c.merchant_id == merchant_id))
        ).scalar_one()
    return found


async def _make(client: httpx.AsyncClient, headers: dict[str, str], policy: Any) -> httpx.Response:
    return await client.post("/keys", json={"policy": policy}, headers=headers)


def _bearer(made: httpx.Response) -> dict[str, str]:
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['data']['key']}"}


async def test_a_key_makes_and_changes_only_keys_within_its_own_limits(
    fulfil_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    first = await make_merchant("staging")  # made without a policy: no limit
    maker_made = await _make(fulfil_client, first.headers, BOUND)
    maker, maker_id = _bearer(maker_made), maker_made.json()["data"]["id"]
    before = await _count(db, first.merchant_id)

    for field, value in {**LOOSER, "everything": None}.items():
        policy = {"scopes": ["topup:send"]} if field == "everything" else {**WITHIN, field: value}
        refused = await _make(fulfil_client, maker, policy)
        assert (refused.status_code, refused.json()["code"]) == (403, 2317), (field, refused.text)
        if field != "everything":
            assert refused.json()["data"] == {"fields": [field]}, field
    assert await _count(db, first.merchant_id) == before

    child_made = await _make(fulfil_client, maker, WITHIN)
    _bearer(child_made)
    child_id = child_made.json()["data"]["id"]
    for target in (child_id, maker_id):  # another key, and the maker itself
        for field, value in LOOSER.items():
            patched = await fulfil_client.patch(
                f"/keys/{target}", json={"policy": {field: value}}, headers=maker
            )
            assert (patched.status_code, patched.json()["code"]) == (403, 2317), (target, field)
        tighter = await fulfil_client.patch(
            f"/keys/{target}", json={"policy": {"max_per_send_cents": 100}}, headers=maker
        )
        assert tighter.status_code == 200, tighter.text
    async with db.read() as conn:
        stored = (await conn.execute(select(_K.c.id, _K.c.policy))).all()
    kept = {row.id: load(row.policy) for row in stored}
    assert kept[child_id].max_per_send_cents == kept[maker_id].max_per_send_cents == 100
    assert kept[maker_id].limits == Policy.model_validate_json(json.dumps(BOUND)).limits

    # The merchant's unlimited key may loosen either: the bound is the acting key's own.
    loosened = await fulfil_client.patch(
        f"/keys/{child_id}", json={"policy": {"expires_at": None}}, headers=first.headers
    )
    assert loosened.status_code == 200, loosened.text


async def test_a_key_made_by_a_key_keeps_what_it_was_given_when_its_maker_is_narrowed(
    fulfil_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    first = await make_merchant("staging")
    maker_made = await _make(fulfil_client, first.headers, {"scopes": ["topup:read", "keys"]})
    maker = _bearer(maker_made)
    child = _bearer(await _make(fulfil_client, maker, {"scopes": ["topup:read", "keys"]}))
    narrowed = await fulfil_client.patch(
        f"/keys/{maker_made.json()['data']['id']}",
        json={"policy": {"scopes": ["topup:read"]}},
        headers=first.headers,
    )
    assert narrowed.status_code == 200, narrowed.text
    assert (await fulfil_client.get("/keys", headers=maker)).json()["code"] == 2301
    listed = await fulfil_client.get("/keys", headers=child)
    assert listed.status_code == 200, listed.text
