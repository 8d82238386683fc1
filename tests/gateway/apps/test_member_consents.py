"""A member's consents: no more than the member's role may give, ended with the member's right to
give them (removed, or a role that could not give them), counted against a cap of their own
apart from the keys, and throttled per member (refused while Redis cannot count). On each store,
through the dashboard's consent page, its Members page, and the tokens on the API and
``/oauth/token``."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.values.public_base import DEFAULT_BASE_URL
from tests.fixtures.core import asgi_client, make_settings, running_app
from tests.fixtures.dashboard import Account, csrf_of, dashboard_client, join_as, sign_up_on
from tests.fixtures.limiters import limits
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.oauth import Flow, register_app
from tests.fixtures.redis import RedisServer

__all__ = ["limits"]  # the fixture, used by name

_READ = {"scopes": ["topup:read"]}


async def _flow(app: ASGIApp, api: httpx.AsyncClient, make_merchant: MakeMerchant) -> Flow:
    owner = await make_merchant("live")
    made = await register_app(api, owner)
    return Flow(app, made["id"], made["client_secret"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _user_id(db: Database, email: str) -> str:
    async with db.read() as conn:
        found = await conn.execute(text("SELECT id FROM users WHERE email = :e"), {"e": email})
        return str(found.scalar_one())


async def _standing(db: Database, user_id: str) -> int:
    """Consents ``user_id`` gave that are not revoked."""
    async with db.read() as conn:
        found = await conn.execute(
            text(
                "SELECT count(*) FROM api_keys WHERE granted_by = :u AND app_id IS NOT NULL"
                " AND revoked_at IS NULL"
            ),
            {"u": user_id},
        )
        return int(found.scalar_one())


async def _on_mcp(app: ASGIApp, token: str) -> httpx.Response:
    async with asgi_client(app, base_url="http://gateway.test") as http:
        return await http.post(
            "/mcp",
            headers={**_bearer(token), "Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )


async def _members_form(owner: Account, path: str, data: dict[str, str]) -> httpx.Response:
    return await owner.post(path, data, page="/members")


async def _sealed(flow: Flow, person: Account, count: int) -> list[tuple[str, str]]:
    """``count`` consent pages (their CSRF token and sealed request), asked for in turn."""
    pages = [await flow.consent_page(person) for _ in range(count)]
    return [(csrf_of(html), sealed) for html, sealed in pages]


async def _approve(person: Account, merchant_id: str, csrf: str, sealed: str) -> httpx.Response:
    data = {
        "csrf_token": csrf,
        "request": sealed,
        "merchant_id": merchant_id,
        "env": "staging",
        "scopes": ["topup:read"],
        "decision": "approve",
    }
    return await person.client.post("/oauth/consent", data=data)


async def _merchant_of(db: Database, user_id: str) -> str:
    async with db.read() as conn:
        found = await conn.execute(
            text("SELECT merchant_id FROM merchant_users WHERE user_id = :u"), {"u": user_id}
        )
        return str(found.scalar_one())


async def test_a_viewer_gives_an_app_reading_in_staging_and_nothing_in_live(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    owner = await sign_up_on(dashboard_client(app))
    viewer = await join_as(app, owner, "viewer")
    flow = await _flow(app, client, make_merchant)
    html, _ = await flow.consent_page(viewer)
    assert "may give: staging topup:read, live nothing" in html

    live = await flow.consent(viewer, form={"env": "live", **_READ})
    assert live.status_code == 403, live.text
    assert "As a viewer you cannot connect apps in live" in live.text
    viewer_id = await _user_id(db, viewer.email)
    assert await _standing(db, viewer_id) == 0
    sending = await flow.consent(viewer, form={"scopes": ["topup:send"]})
    assert sending.status_code == 403, sending.text
    assert await _standing(db, viewer_id) == 0

    tokens = await flow.tokens(viewer, form=_READ)
    assert tokens["access_token"].startswith("oat_staging_")
    assert await _standing(db, viewer_id) == 1


async def test_a_removed_members_consents_end_with_every_token(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    owner = await sign_up_on(dashboard_client(app))
    developer = await join_as(app, owner, "developer")
    flow = await _flow(app, client, make_merchant)
    # Bound to the whole gateway: the API and /mcp both take it.
    theirs = await flow.tokens(developer, resource=DEFAULT_BASE_URL)
    owners = await flow.tokens(owner)
    for tokens in (theirs, owners):
        assert (await client.get("/balance", headers=_bearer(tokens["access_token"]))).is_success
    assert (await _on_mcp(app, theirs["access_token"])).status_code == 200

    developer_id = await _user_id(db, developer.email)
    removed = await _members_form(owner, f"/members/{developer_id}/remove", {})
    assert removed.status_code == 303, removed.text

    refused = await client.get("/balance", headers=_bearer(theirs["access_token"]))
    assert refused.json()["code"] == 2405
    on_mcp = await _on_mcp(app, theirs["access_token"])
    assert (on_mcp.status_code, on_mcp.json()["code"]) == (401, 2405)
    renewed = await flow.refresh(theirs["refresh_token"])
    assert (renewed.status_code, renewed.json()["error"]) == (400, "invalid_grant")
    assert await _standing(db, developer_id) == 0
    # The owner's own consent is the owner's: it stands.
    kept = await client.get("/balance", headers=_bearer(owners["access_token"]))
    assert kept.status_code == 200, kept.text
    assert (await flow.refresh(owners["refresh_token"])).status_code == 200


async def test_a_narrower_role_ends_the_consents_it_could_not_give(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    owner = await sign_up_on(dashboard_client(app))
    developer = await join_as(app, owner, "developer")
    flow = await _flow(app, client, make_merchant)
    sending = await flow.tokens(developer, form={"scopes": ["topup:send", "topup:read"]})
    reading = await flow.tokens(developer, form=_READ)

    developer_id = await _user_id(db, developer.email)
    changed = await _members_form(owner, f"/members/{developer_id}/role", {"role": "viewer"})
    assert changed.status_code == 303, changed.text

    ended = await client.get("/balance", headers=_bearer(sending["access_token"]))
    assert ended.json()["code"] == 2405
    assert (await flow.refresh(sending["refresh_token"])).json()["error"] == "invalid_grant"
    # A viewer may give reading in staging: that consent stands, whole.
    kept = await client.get("/balance", headers=_bearer(reading["access_token"]))
    assert kept.status_code == 200, kept.text
    assert await _standing(db, developer_id) == 1


async def test_a_consent_changed_by_the_merchant_stays_within_its_givers_role(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    owner = await sign_up_on(dashboard_client(app))
    viewer = await join_as(app, owner, "viewer")
    flow = await _flow(app, client, make_merchant)
    tokens = await flow.tokens(viewer, form=_READ)
    merchant_id = await _merchant_of(db, await _user_id(db, viewer.email))
    key = await make_merchant("staging", merchant_id=merchant_id)
    [connection] = (await client.get("/connections", headers=key.headers)).json()["data"]

    widened = await client.patch(
        f"/connections/{connection['id']}",
        json={"policy": {"scopes": ["topup:send", "topup:read"]}},
        headers=key.headers,
    )
    assert (widened.status_code, widened.json()["code"]) == (403, 2324), widened.text
    sent = await client.post(
        "/topup/send",
        json={"platform": "claude", "amount_cents": 1, "recipient_email": "b@example.com"},
        headers=_bearer(tokens["access_token"]),
    )
    assert sent.json()["code"] == 2301
    limited = await client.patch(
        f"/connections/{connection['id']}",
        json={"policy": {"scopes": ["topup:read"], "max_per_send_cents": 100}},
        headers=key.headers,
    )
    assert limited.status_code == 200, limited.text


async def test_consents_racing_a_removal_leave_none_standing(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    owner = await sign_up_on(dashboard_client(app))
    developer = await join_as(app, owner, "developer")
    flow = await _flow(app, client, make_merchant)
    developer_id = await _user_id(db, developer.email)
    merchant_id = await _merchant_of(db, developer_id)
    pages = await _sealed(flow, developer, 6)
    remove_csrf = await owner.csrf("/members")

    answers = await asyncio.gather(
        *(_approve(developer, merchant_id, csrf, sealed) for csrf, sealed in pages),
        owner.client.post(f"/members/{developer_id}/remove", data={"csrf_token": remove_csrf}),
    )
    assert answers[-1].status_code == 303, answers[-1].text
    # Before the removal, the code; after it, a refusal, or no longer this merchant's page.
    assert {a.status_code for a in answers[:-1]} <= {303, 403, 422}
    assert await _standing(db, developer_id) == 0


@pytest.fixture
async def capped(database_url: str, redis_url: str, limits: Redis) -> AsyncIterator[ASGIApp]:
    settings = make_settings(
        database_url,
        redis_url,
        max_keys_per_merchant_env=3,
        max_consents_per_merchant_env=2,
        consents_per_member_per_minute=3,
    )
    async with running_app(settings) as running:
        yield running


async def test_consents_have_a_cap_of_their_own_apart_from_the_keys(
    capped: ASGIApp, make_merchant: MakeMerchant, db: Database
) -> None:
    async with asgi_client(capped) as api:
        person = await sign_up_on(dashboard_client(capped))
        flow = await _flow(capped, api, make_merchant)
        person_id = await _user_id(db, person.email)
        merchant_id = await _merchant_of(db, person_id)
        key = await make_merchant("staging", merchant_id=merchant_id)
        for _ in range(2):
            await flow.tokens(person, form=_READ)
        over = await flow.consent(person, form=_READ)
        assert over.status_code == 409, over.text
        assert "Consent limit reached for this environment" in over.text
        assert await _standing(db, person_id) == 2
        # One key and two consents: the keys' cap of three still has room for two keys.
        for name in ("ci", "worker"):
            made = await api.post("/keys", json={"name": name}, headers=key.headers)
            assert made.status_code == 201, made.text
        full = await api.post("/keys", json={"name": "third"}, headers=key.headers)
        assert full.json()["code"] == 2311


async def test_concurrent_consents_are_throttled_per_member(
    capped: ASGIApp, make_merchant: MakeMerchant, db: Database
) -> None:
    async with asgi_client(capped) as api:
        person = await sign_up_on(dashboard_client(capped))
        flow = await _flow(capped, api, make_merchant)
        person_id = await _user_id(db, person.email)
        merchant_id = await _merchant_of(db, person_id)
        # Three pass the throttle, and of those the cap of two lets two through.
        pages = await _sealed(flow, person, 8)
        answers = await asyncio.gather(
            *(_approve(person, merchant_id, csrf, sealed) for csrf, sealed in pages)
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(429) == 5, statuses
    assert set(statuses) <= {303, 409, 429}
    limited = next(a for a in answers if a.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert "Too many apps connected by this member" in limited.text
    assert await _standing(db, person_id) <= 2


async def test_with_redis_down_no_consent_is_given(
    database_url: str, private_redis: RedisServer, make_merchant: MakeMerchant, db: Database
) -> None:
    settings = make_settings(database_url, private_redis.url)
    async with running_app(settings) as running, asgi_client(running) as api:
        person = await sign_up_on(dashboard_client(running))
        flow = await _flow(running, api, make_merchant)
        person_id = await _user_id(db, person.email)
        merchant_id = await _merchant_of(db, person_id)
        [(csrf, sealed)] = await _sealed(flow, person, 1)
        private_redis.stop()
        refused = await _approve(person, merchant_id, csrf, sealed)
    assert refused.status_code == 503, refused.text
    assert await _standing(db, person_id) == 0
