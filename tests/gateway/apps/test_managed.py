"""The key an app manages through its consent (``keys:manage``): made once and shown once, read
without its secret, rotated (the old one refused at once), never wider than the consent, never
a window on the merchant's other keys, and revoked with the consent. On each store; the race
of concurrent makes through a real server."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from starlette.types import ASGIApp

from gateway.apps import grants
from gateway.apps.registry import App
from gateway.store.engine import Database
from tests.fixtures.core import local_client
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.oauth import MANAGING_SCOPES, Flow, managing_consent, register_app

SCOPES = MANAGING_SCOPES
WITHIN = {
    "name": "server",
    "policy": {"scopes": ["topup:read"], "limits": [{"amount_cents": 500, "interval": "daily"}]},
}


def _daily(dollars: int) -> dict[str, Any]:
    return {"amount_cents": dollars * 100, "interval": "daily"}


async def test_the_consent_page_never_ticks_keys_manage_and_says_what_it_does(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant("staging")
    made = await register_app(client, owner, scopes=SCOPES)
    flow = Flow(app, made["id"], made["client_secret"])
    person = await sign_up_on(dashboard_client(app))
    html, _ = await flow.consent_page(person, scope=" ".join(SCOPES))
    assert 'value="keys:manage"> <code>keys:manage</code>: make one API key of its own' in html
    assert 'value="topup:send" checked' in html  # asked, registered, verified: ticked
    assert 'id="consent-keys-manage"' in html
    await flow.oauth.aclose()


def test_only_an_owner_may_give_keys_manage_and_no_app_starts_with_it() -> None:
    app = App(
        id="app_x",
        merchant_id="mer_x",
        name="X",
        homepage_url=None,
        logo_url=None,
        redirect_uris=(),
        scopes=tuple(SCOPES),
        confidential=True,
        verified=True,
        registered_by="mer_x",
        created_at=datetime(2026, 11, 26, tzinfo=UTC),
        secret_hash=None,
        previous_secret_hash=None,
        previous_secret_expires_at=None,
    )
    for env in ("staging", "live"):
        assert "keys:manage" in grants.grantable(app, "owner", env)
        assert "keys:manage" not in grants.grantable(app, "developer", env)
        assert "keys:manage" not in grants.grantable(app, "viewer", env)
    assert grants.preticked(app, SCOPES) == ["topup:send", "topup:read"]


async def test_a_key_is_made_once_shown_once_read_and_rotated(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    managing = await managing_consent(app, client, make_merchant)
    assert (await client.get("/apps/me/key", headers=managing.headers)).json()["code"] == 4632
    made = await client.post("/apps/me/key", json=WITHIN, headers=managing.headers)
    assert made.status_code == 201, made.text
    assert "no-store" in made.headers["cache-control"]
    key = made.json()["data"]
    assert key["key"].startswith("ak_staging_") and key["policy"]["scopes"] == ["topup:read"]
    acting = {"Authorization": f"Bearer {key['key']}"}
    assert (await client.get("/balance", headers=acting)).status_code == 200
    # The merchant's own key cannot do what the managed key's scopes leave out.
    assert (await client.get("/keys", headers=acting)).json()["code"] == 2301

    again = await client.post("/apps/me/key", json=WITHIN, headers=managing.headers)
    assert again.status_code == 409 and again.json()["code"] == 4631
    assert again.json()["data"] == {"id": key["id"]}

    read = await client.get("/apps/me/key", headers=managing.headers)
    assert read.status_code == 200 and read.json()["data"]["id"] == key["id"]
    assert "key" not in read.json()["data"]
    assert key["key"] not in read.text

    rotated = await client.post("/apps/me/key/rotate", headers=managing.headers)
    assert rotated.status_code == 201, rotated.text
    assert "no-store" in rotated.headers["cache-control"]
    new = rotated.json()["data"]
    assert new["id"] != key["id"] and new["key"] != key["key"]
    assert new["name"] == "server" and new["policy"] == key["policy"]
    assert (await client.get("/balance", headers=acting)).json()["code"] == 2004
    fresh = {"Authorization": f"Bearer {new['key']}"}
    assert (await client.get("/balance", headers=fresh)).status_code == 200
    assert (await client.get("/apps/me/key", headers=managing.headers)).json()["data"]["id"] == new[
        "id"
    ]
    # The merchant sees it among its keys: the old one revoked, the new one standing.
    listed = await client.get("/keys", headers=managing.merchant.headers)
    states = {k["id"]: k["revoked_at"] is None for k in listed.json()["data"]}
    assert states[key["id"]] is False and states[new["id"]] is True
    await managing.flow.oauth.aclose()


@pytest.mark.parametrize(
    ("policy", "refused"),
    [
        ({"scopes": ["billing"]}, {"scopes": ["billing"]}),
        ({"scopes": ["topup:read", "keys:manage"]}, {"scopes": ["keys:manage"]}),
        ({"scopes": ["topup:read"], "limits": []}, {"fields": ["limits"]}),
        ({"scopes": ["topup:read"], "limits": [_daily(11)]}, {"fields": ["limits"]}),
        ({"scopes": ["topup:read"], "reveal_voucher": True}, {"reveal_voucher": True}),
    ],
)
async def test_a_key_wider_than_its_consent_is_refused_and_nothing_made(
    app: ASGIApp,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    policy: dict[str, Any],
    refused: dict[str, Any],
) -> None:
    managing = await managing_consent(app, client, make_merchant)
    answered = await client.post("/apps/me/key", json={"policy": policy}, headers=managing.headers)
    assert answered.status_code == 403, answered.text
    assert answered.json()["code"] == 4630 and answered.json()["data"] == refused
    assert await _managed_keys(db, managing.merchant.merchant_id) == []
    within = {"policy": {**policy, "scopes": ["topup:send"], "limits": [_daily(10)]}}
    within["policy"].pop("reveal_voucher", None)
    assert (
        await client.post("/apps/me/key", json=within, headers=managing.headers)
    ).status_code == 201
    await managing.flow.oauth.aclose()


async def test_the_app_sees_no_other_key_and_a_merchant_key_manages_none_here(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    managing = await managing_consent(app, client, make_merchant)
    assert (await client.get("/keys", headers=managing.headers)).json()["code"] == 2301
    path = f"/keys/{managing.merchant.key_id}"
    assert (await client.get(path, headers=managing.headers)).json()["code"] == 2301
    made = await client.post("/apps/me/key", json=WITHIN, headers=managing.headers)
    key_id = made.json()["data"]["id"]
    # Another app's consent on the same merchant reaches no key of this one.
    other = await managing_consent(app, client, make_merchant)
    assert (await client.get("/apps/me/key", headers=other.headers)).json()["code"] == 4632
    # A token whose consent does not give keys:manage, and a merchant's own key, manage nothing.
    plain = await managing_consent(app, client, make_merchant, scopes=["topup:read"])
    refused = await client.get("/apps/me/key", headers=plain.headers)
    assert refused.status_code == 403 and refused.json()["code"] == 2301
    own = await client.post("/apps/me/key", json=WITHIN, headers=managing.merchant.headers)
    assert own.status_code == 403 and own.json()["code"] == 4633
    # Nor does a key hold keys:manage: it has no consent to make a key through.
    scoped = {"policy": {"scopes": ["topup:read", "keys:manage"]}}
    refused = await client.post("/keys", json=scoped, headers=managing.merchant.headers)
    assert refused.status_code == 403 and refused.json()["data"] == {"scopes": ["keys:manage"]}
    path = f"/keys/{managing.merchant.key_id}"
    widened = await client.patch(path, json=scoped, headers=managing.merchant.headers)
    assert widened.status_code == 403 and widened.json()["data"] == {"scopes": ["keys:manage"]}
    assert key_id not in (await client.get("/apps/me/key", headers=other.headers)).text
    for flow in (managing.flow, other.flow, plain.flow):
        await flow.oauth.aclose()


async def test_revoking_the_consent_revokes_its_key(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    managing = await managing_consent(app, client, make_merchant)
    made = await client.post("/apps/me/key", json=WITHIN, headers=managing.headers)
    acting = {"Authorization": f"Bearer {made.json()['data']['key']}"}
    assert (await client.get("/balance", headers=acting)).status_code == 200
    listed = await client.get("/connections", headers=managing.merchant.headers)
    (consent,) = listed.json()["data"]
    gone = await client.delete(f"/connections/{consent['id']}", headers=managing.merchant.headers)
    assert gone.status_code == 200, gone.text
    assert (await client.get("/balance", headers=acting)).json()["code"] == 2004
    # Deleting the app ends every consent to it, and each one's key with it.
    again = await managing_consent(app, client, make_merchant)
    made = await client.post("/apps/me/key", json=WITHIN, headers=again.headers)
    acting = {"Authorization": f"Bearer {made.json()['data']['key']}"}
    deleted = await client.delete(f"/apps/{again.flow.client_id}", headers=again.owner.headers)
    assert deleted.status_code == 200, deleted.text
    assert (await client.get("/balance", headers=acting)).json()["code"] == 2004
    for flow in (managing.flow, again.flow):
        await flow.oauth.aclose()


async def test_a_consent_narrowed_past_its_key_revokes_the_key(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    managing = await managing_consent(app, client, make_merchant)
    made = await client.post("/apps/me/key", json=WITHIN, headers=managing.headers)
    acting = {"Authorization": f"Bearer {made.json()['data']['key']}"}
    listed = await client.get("/connections", headers=managing.merchant.headers)
    (consent,) = listed.json()["data"]
    path, merchant = f"/connections/{consent['id']}", managing.merchant.headers
    # Still wide enough ($6.00 a day over the key's $5.00), keys:manage kept by a key that
    # could not give it: the key stands.
    wide = {"policy": {"scopes": SCOPES, "limits": [_daily(6)]}}
    assert (await client.patch(path, json=wide, headers=merchant)).status_code == 200
    assert (await client.get("/balance", headers=acting)).status_code == 200
    narrow = {"policy": {"scopes": SCOPES, "limits": [_daily(3)]}}
    assert (await client.patch(path, json=narrow, headers=merchant)).status_code == 200
    assert (await client.get("/balance", headers=acting)).json()["code"] == 2004
    assert (await client.get("/apps/me/key", headers=managing.headers)).json()["code"] == 4632
    await managing.flow.oauth.aclose()


async def _managed_keys(db: Database, merchant_id: str) -> list[tuple[str, bool]]:
    async with db.read() as conn:
        rows = await conn.execute(
            text(
                "SELECT id, revoked_at IS NULL AS live FROM api_keys "
                "WHERE merchant_id = :m AND managed_by IS NOT NULL"
            ),
            {"m": merchant_id},
        )
        return [(str(r.id), bool(r.live)) for r in rows]


@pytest.mark.xdist_group("concurrency")
async def test_concurrent_makes_make_one_key(
    app: ASGIApp,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    live_url: str,
) -> None:
    root = live_url.removesuffix("/api/public/v1")
    managing = await managing_consent(app, client, make_merchant, root)
    limits = httpx.Limits(max_connections=100)
    async with local_client(base_url=live_url, limits=limits, timeout=60) as http:
        replies = await asyncio.gather(
            *(http.post("/apps/me/key", json=WITHIN, headers=managing.headers) for _ in range(20))
        )
        codes = sorted(r.json()["code"] for r in replies)
        assert codes == [1004] + [4631] * 19, codes
        (made,) = [r.json()["data"] for r in replies if r.status_code == 201]
        assert {r.json()["data"]["id"] for r in replies if r.status_code == 409} == {made["id"]}
        # And rotations at once: each replaces the one standing; one key is left standing.
        rotated = await asyncio.gather(
            *(http.post("/apps/me/key/rotate", headers=managing.headers) for _ in range(5))
        )
        assert {r.status_code for r in rotated} == {201}
    standing = [k for k, live in await _managed_keys(db, managing.merchant.merchant_id) if live]
    assert len(standing) == 1 and standing[0] != made["id"]
    assert len(await _managed_keys(db, managing.merchant.merchant_id)) == 6
    await managing.flow.oauth.aclose()
