"""A key an app manages is never wider than its consent as it stands at the moment money moves:
its payments count in the consent's own windows (one window for the consent's tokens and every
key it ever managed, so a rotation gives nothing back), and a narrower template, policy or
budget of the consent, or its giver losing the role, bounds or ends it from its next request.
On each store; the race through real concurrent requests, on PostgreSQL across two gateway
processes."""

import asyncio
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.values.public_base import DEFAULT_BASE_URL
from gateway.values.resources import API_PATH
from gateway.values.settings import Settings
from tests.fixtures.core import live_server, local_client
from tests.fixtures.dashboard import dashboard_client, join_as, sign_up_on
from tests.fixtures.merchants import MakeMerchant, merchant_balance
from tests.fixtures.oauth import Managing, managing_consent
from tests.fixtures.policies import gateway_processes, spend_rows

SENDING = {
    "scopes": ["topup:send", "topup:read"],
    "limits": [{"amount_cents": 500, "interval": "daily"}],
}


async def _user_id(db: Database, email: str) -> str:
    async with db.read() as conn:
        found = await conn.execute(text("SELECT id FROM users WHERE email = :e"), {"e": email})
        return str(found.scalar_one())


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _send(cents: int) -> dict[str, Any]:
    return {
        "platform": "claude",
        "amount_cents": cents,
        "recipient_email": f"agent-{uuid.uuid4().hex[:8]}@example.com",
    }


async def _key(client: httpx.AsyncClient, managing: Managing, **policy: Any) -> dict[str, str]:
    asked = {"policy": {**SENDING, **policy}}
    made = await client.post("/apps/me/key", json=asked, headers=managing.headers)
    assert made.status_code == 201, made.text
    return _bearer(made.json()["data"]["key"])


async def _rotated(client: httpx.AsyncClient, managing: Managing) -> dict[str, str]:
    rotated = await client.post("/apps/me/key/rotate", headers=managing.headers)
    assert rotated.status_code == 201, rotated.text
    return _bearer(rotated.json()["data"]["key"])


async def _consent_id(client: httpx.AsyncClient, managing: Managing) -> str:
    (consent,) = (await client.get("/connections", headers=managing.merchant.headers)).json()[
        "data"
    ]
    return str(consent["id"])


async def test_the_token_the_key_and_its_rotations_share_the_consents_day(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    managing = await managing_consent(app, client, make_merchant)  # $10.00 a day
    before = await merchant_balance(db, managing.merchant)
    key = await _key(client, managing)  # $5.00 a day of its own
    assert (await client.post("/topup/send", json=_send(300), headers=managing.headers)).json()[
        "code"
    ] == 1001
    assert (await client.post("/topup/send", json=_send(500), headers=key)).json()["code"] == 1001
    for _ in range(5):
        key = await _rotated(client, managing)
        # A fresh key, its own $5.00 untouched: the consent's day has $2.00 left, whoever pays.
        refused = await client.post("/topup/send", json=_send(500), headers=key)
        assert (refused.status_code, refused.json()["code"]) == (402, 2410), refused.text
        assert refused.json()["data"]["limit_cents"] == 1000
        assert refused.json()["data"]["remaining_cents"] == 200
        assert refused.json()["data"]["limit_source"] == "daily"
    assert (await client.post("/topup/send", json=_send(200), headers=key)).json()["code"] == 1001
    for headers in (key, managing.headers):
        refused = await client.post("/topup/send", json=_send(1), headers=headers)
        assert refused.status_code == 402, refused.text
    assert await merchant_balance(db, managing.merchant) == before - 1000
    consent = await _consent_id(client, managing)
    assert [spent for spent, _ in (await spend_rows(db, consent)).values()] == [1000]


async def test_a_refunded_send_of_the_key_gives_back_to_the_consents_day(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    managing = await managing_consent(app, client, make_merchant)
    key = await _key(client, managing)
    failing = {**_send(400), "recipient_email": "agent+fail@example.com"}
    failed = await client.post("/topup/send", json=failing, headers=key)
    assert failed.json()["status"] == "failed", failed.text
    held = {**_send(400), "recipient_email": "agent+pending@example.com"}
    pending = await client.post("/topup/send", json=held, headers=key)
    assert pending.json()["status"] == "pending", pending.text
    consent = await _consent_id(client, managing)
    assert [spent for spent, _ in (await spend_rows(db, consent)).values()] == [400]
    cancelled = await client.post(
        f"/topup/{pending.json()['transaction_id']}/cancel", headers=managing.merchant.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert [spent for spent, _ in (await spend_rows(db, consent)).values()] == [0]


# 20 sends for the 5 the consent's day has left, all in flight together, half on the token and
# half on the new key: four for each that may pass, so a day read before another's spend
# commits, or a key's own limit taken for the consent's, lets a sixth through.
RACERS, AMOUNT, SPENT_BEFORE = 20, 100, 500


async def _race(roots: list[str], headers: list[dict[str, str]]) -> list[dict[str, Any]]:
    """``RACERS`` sends of ``AMOUNT`` spread over the credentials and the gateways, all in flight
    together."""
    clients = [
        local_client(base_url=root, timeout=60, limits=httpx.Limits(max_connections=100))
        for root in roots
    ]

    async def send(i: int) -> dict[str, Any]:
        http = clients[i % len(clients)]
        reply = await http.post("/topup/send", json=_send(AMOUNT), headers=headers[i % 2])
        found: dict[str, Any] = reply.json()
        return found

    try:
        return await asyncio.gather(*(send(i) for i in range(RACERS)))
    finally:
        for http in clients:
            await http.aclose()


async def _raced(
    app: ASGIApp,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    roots: list[str],
) -> None:
    """The consent's day half spent by a key since rotated; then its token and the new key
    (its own $5.00 untouched) race for the $5.00 left on ``roots``: exactly that goes
    through."""
    managing = await managing_consent(app, client, make_merchant)
    first = await _key(client, managing)
    spent = await client.post("/topup/send", json=_send(SPENT_BEFORE), headers=first)
    assert spent.json()["code"] == 1001, spent.text
    key = await _rotated(client, managing)
    before = await merchant_balance(db, managing.merchant)
    replies = await _race(roots, [managing.headers, key])
    codes = Counter(r["code"] for r in replies)
    assert set(codes) <= {1001, 2304, 2410}, codes
    assert codes[1001] == (1000 - SPENT_BEFORE) // AMOUNT, codes
    assert await merchant_balance(db, managing.merchant) == before - (1000 - SPENT_BEFORE)
    consent = await _consent_id(client, managing)
    assert [spent for spent, _ in (await spend_rows(db, consent)).values()] == [1000]


def _served(settings: Settings) -> Settings:
    """The settings of a gateway serving the app's own address, so the token the app's flow
    gives (bound to it) is one it takes."""
    return settings.model_copy(update={"public_base_url": DEFAULT_BASE_URL})


@pytest.mark.xdist_group("concurrency")
async def test_token_and_keys_racing_send_no_more_than_the_consents_day(
    app: ASGIApp,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    settings: Settings,
) -> None:
    async with live_server(_served(settings)) as root:
        await _raced(app, client, make_merchant, db, [f"{root}{API_PATH}"])


async def test_token_and_keys_racing_across_two_gateway_processes(
    app: ASGIApp,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    settings: Settings,
    tmp_path: Path,
) -> None:
    if db.is_sqlite:
        pytest.skip("several gateway processes share PostgreSQL, not an embedded file")
    async with gateway_processes(_served(settings), tmp_path, 2) as roots:
        await _raced(app, client, make_merchant, db, roots)


async def test_a_narrowed_template_of_the_consent_bounds_the_key_at_its_next_request(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    managing = await managing_consent(app, client, make_merchant)
    key = await _key(client, managing)
    merchant = managing.merchant.headers
    made = await client.post(
        "/policy-templates",
        json={"name": "apps", "policy": {"scopes": ["topup:send", "topup:read"]}},
        headers=merchant,
    )
    assert made.status_code == 201, made.text
    template = made.json()["data"]["id"]
    consent = await _consent_id(client, managing)
    named = {
        "policy": {
            "scopes": ["topup:send", "topup:read", "keys:manage"],
            "limits": [{"amount_cents": 1000, "interval": "daily"}],
            "template": template,
        }
    }
    changed = await client.patch(f"/connections/{consent}", json=named, headers=merchant)
    assert changed.status_code == 200, changed.text
    assert (await client.get("/balance", headers=key)).status_code == 200

    # A lower limit: the consent's day is $3.00, and the key, its own $5.00 aside, is held to it.
    lower = {"policy": {"limits": [{"amount_cents": 300, "interval": "daily"}]}}
    patched = await client.patch(f"/policy-templates/{template}", json=lower, headers=merchant)
    assert patched.status_code == 200, patched.text
    refused = await client.post("/topup/send", json=_send(400), headers=key)
    assert (refused.status_code, refused.json()["code"]) == (402, 2410), refused.text
    assert refused.json()["data"]["limit_cents"] == 300
    # A cap per send, and then no sending at all: the key is refused as the token is.
    capped = {"policy": {"max_per_send_cents": 100}}
    patched = await client.patch(f"/policy-templates/{template}", json=capped, headers=merchant)
    assert patched.status_code == 200, patched.text
    for headers in (key, managing.headers):
        over = await client.post("/topup/send", json=_send(200), headers=headers)
        assert over.json()["code"] == 2305, over.text
    reading = {"policy": {"scopes": ["topup:read"]}}
    patched = await client.patch(f"/policy-templates/{template}", json=reading, headers=merchant)
    assert patched.status_code == 200, patched.text
    for headers in (key, managing.headers):
        unsent = await client.post("/topup/send", json=_send(50), headers=headers)
        assert (unsent.status_code, unsent.json()["code"]) == (403, 2301), unsent.text
        assert unsent.json()["data"] == {"scope": "topup:send"}
    assert (await client.get("/balance", headers=key)).status_code == 200


async def test_a_narrowed_consent_holds_the_key_to_what_its_day_has_left(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    managing = await managing_consent(app, client, make_merchant)
    key = await _key(client, managing)
    consent = await _consent_id(client, managing)
    # $6.00 a day: still wider than the key's $5.00, so the key stands; the token spends $3.00.
    narrower = {
        "policy": {
            "scopes": ["topup:send", "topup:read", "keys:manage"],
            "limits": [{"amount_cents": 600, "interval": "daily"}],
        }
    }
    changed = await client.patch(
        f"/connections/{consent}", json=narrower, headers=managing.merchant.headers
    )
    assert changed.status_code == 200, changed.text
    sent = await client.post("/topup/send", json=_send(300), headers=managing.headers)
    assert sent.json()["code"] == 1001, sent.text
    refused = await client.post("/topup/send", json=_send(400), headers=key)
    assert (refused.status_code, refused.json()["code"]) == (402, 2410), refused.text
    assert refused.json()["data"]["remaining_cents"] == 300
    assert (await client.post("/topup/send", json=_send(300), headers=key)).json()["code"] == 1001


async def test_a_budget_of_the_consent_holds_its_key(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    managing = await managing_consent(app, client, make_merchant)
    merchant = managing.merchant.headers
    made = await client.post(
        "/budgets",
        json={"name": "apps", "windows": {"limits": [{"amount_cents": 900, "interval": "daily"}]}},
        headers=merchant,
    )
    assert made.status_code == 201, made.text
    budget = made.json()["data"]["id"]
    consent = await _consent_id(client, managing)
    drawing = {
        "policy": {
            "scopes": ["topup:send", "topup:read", "keys:manage"],
            "limits": [{"amount_cents": 1000, "interval": "daily"}],
            "budgets": [budget],
        }
    }
    changed = await client.patch(f"/connections/{consent}", json=drawing, headers=merchant)
    assert changed.status_code == 200, changed.text
    key = await _key(client, managing, budgets=[budget])  # within the consent: its budget too
    lower = {"windows": {"limits": [{"amount_cents": 200, "interval": "daily"}]}}
    assert (
        await client.patch(f"/budgets/{budget}", json=lower, headers=merchant)
    ).status_code == 200
    refused = await client.post("/topup/send", json=_send(300), headers=key)
    assert (refused.status_code, refused.json()["code"]) == (402, 2350), refused.text
    assert refused.json()["data"]["budget_id"] == budget
    frozen = await client.post(f"/budgets/{budget}/freeze", headers=merchant)
    assert frozen.status_code == 200, frozen.text
    assert (await client.post("/topup/send", json=_send(100), headers=key)).json()["code"] == 2351
    # Drawn on by the consent (and its key): it stays.
    kept = await client.delete(f"/budgets/{budget}", headers=merchant)
    assert (kept.status_code, kept.json()["code"]) == (409, 2353), kept.text
    assert consent in [d["key_id"] for d in kept.json()["data"]["drawn_by"]]


@pytest.mark.parametrize("ending", ["demoted", "removed"])
async def test_the_key_ends_when_the_consents_giver_loses_the_role_or_leaves(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, ending: str
) -> None:
    giver = await sign_up_on(dashboard_client(app))
    other = await join_as(app, giver, "owner")
    managing = await managing_consent(app, client, make_merchant, person=giver)
    key = await _key(client, managing)
    assert (await client.get("/balance", headers=key)).status_code == 200
    giver_id = await _user_id(db, giver.email)
    if ending == "demoted":
        done = await other.post(f"/members/{giver_id}/role", {"role": "developer"}, page="/members")
    else:
        done = await other.post(f"/members/{giver_id}/remove", {}, page="/members")
    assert done.status_code == 303, done.text
    for headers in (key, managing.headers):
        ended = await client.get("/balance", headers=headers)
        assert ended.status_code == 401 and ended.json()["code"] in (2004, 2405), ended.text
