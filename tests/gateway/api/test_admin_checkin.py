"""The operator's daily check-in settings: defaults, per environment, validated, audited; live
works once turned on and never reads the staging clock."""

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.billing.checkin.daily import DEFAULTS
from gateway.store.engine import Database
from gateway.store.models import CheckIn, CheckInConfig, table_of
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced
from tests.fixtures.merchants import merchant_balance as balance_of

DAY = 86_400
_CFG = table_of(CheckInConfig)
_CI = table_of(CheckIn)


async def _stored(db: Database) -> list[Any]:
    async with db.read() as conn:
        return list(await conn.execute(select(_CFG).order_by(_CFG.c.env)))


async def test_defaults_staging_on_live_off(
    admin_client: httpx.AsyncClient, checkin_config_restored: None
) -> None:
    reply = await admin_client.get("/checkin/config")
    assert reply.status_code == 200, reply.text
    data = reply.json()["data"]
    assert data["staging"] == {
        "env": "staging",
        "enabled": True,
        "min_cents": DEFAULTS["staging"].min_cents,
        "max_cents": DEFAULTS["staging"].max_cents,
        "updated_at": None,
    }
    assert data["live"]["enabled"] is False
    assert DEFAULTS["staging"].min_cents > 0


async def test_live_turned_on_works_once_a_real_day_whatever_the_staging_clock(
    admin_client: httpx.AsyncClient,
    billing_client: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    checkin_config_restored: None,
) -> None:
    staging = await make_merchant("staging")
    live = await make_merchant("live", merchant_id=staging.merchant_id)
    off = await billing_client.post("/checkin", headers=live.headers)
    assert off.json()["code"] == 4301

    body = {"env": "live", "enabled": True, "min_cents": 7, "max_cents": 7}
    put = await admin_client.put("/checkin/config", json=body, headers={"X-Admin-Actor": "ops"})
    assert put.status_code == 200, put.text
    assert put.json()["data"]["updated_at"] is not None
    assert {k: put.json()["data"][k] for k in body} == body
    listed = (await admin_client.get("/checkin/config")).json()["data"]
    assert listed["live"] == put.json()["data"]
    assert listed["staging"]["updated_at"] is None  # the other environment untouched

    before = await balance_of(db, live)
    first = await billing_client.post("/checkin", headers=live.headers)
    assert (first.status_code, first.json()["code"]) == (200, 1130), first.text
    assert first.json()["data"]["amount_cents"] == 7
    assert first.json()["data"]["env"] == "live"
    assert await balance_of(db, live) == before + 7

    # The staging clock a week ahead: live keeps real time.
    for _ in range(7):
        moved = await billing_client.post(
            "/sandbox/clock/advance", json={"seconds": DAY}, headers=staging.headers
        )
        assert moved.status_code == 200, moved.text
    again = await billing_client.post("/checkin", headers=live.headers)
    assert (again.status_code, again.json()["code"]) == (409, 4300)
    assert again.json()["data"]["next_checkin_at"] == first.json()["data"]["next_checkin_at"]
    assert await balance_of(db, live) == before + 7
    # Staging, on its own clock and day, checks in beside it.
    assert (await billing_client.post("/checkin", headers=staging.headers)).json()["code"] == 1130
    async with db.read() as conn:
        days = await conn.execute(
            select(_CI.c.env, _CI.c.day).where(_CI.c.merchant_id == live.merchant_id)
        )
        by_env = {r.env: r.day for r in days}
    assert by_env["live"] == first.json()["data"]["checked_in_on"]
    assert by_env["staging"] > by_env["live"]

    audit = await admin_client.get("/audit", params={"action": "checkin.config.set"})
    [row] = [r for r in audit.json()["data"] if r["actor"] == "ops"]
    assert row["target_id"] == "live"
    assert row["details"] == body
    await assert_ledger_balanced(db)


async def test_turned_off_refuses_and_writes_nothing(
    admin_client: httpx.AsyncClient,
    billing_client: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    checkin_config_restored: None,
) -> None:
    merchant = await make_merchant("staging")
    body = {"env": "staging", "enabled": False, "min_cents": 10, "max_cents": 100}
    assert (await admin_client.put("/checkin/config", json=body)).status_code == 200
    before = await balance_of(db, merchant)
    reply = await billing_client.post("/checkin", headers=merchant.headers)
    assert (reply.status_code, reply.json()["code"]) == (403, 4301)
    assert await balance_of(db, merchant) == before
    async with db.read() as conn:
        found = await conn.execute(select(_CI).where(_CI.c.merchant_id == merchant.merchant_id))
        assert found.first() is None


async def test_rewards_stay_inside_the_bounds(
    admin_client: httpx.AsyncClient,
    billing_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    checkin_config_restored: None,
) -> None:
    body = {"env": "staging", "enabled": True, "min_cents": 3, "max_cents": 5}
    assert (await admin_client.put("/checkin/config", json=body)).status_code == 200
    seen = set()
    # 30 draws, ten days each of three merchants: a test clock moves at most ten times a minute.
    for _ in range(3):
        merchant = await make_merchant("staging")
        for day in range(10):
            reply = await billing_client.post("/checkin", headers=merchant.headers)
            assert reply.json()["code"] == 1130, reply.text
            seen.add(reply.json()["data"]["amount_cents"])
            if day < 9:
                moved = await billing_client.post(
                    "/sandbox/clock/advance", json={"seconds": DAY}, headers=merchant.headers
                )
                assert moved.json()["code"] == 1000, moved.text
    assert seen <= {3, 4, 5}
    assert len(seen) >= 2  # drawn, not fixed: all one value in 30 draws is 3 * (1/3)**29


@pytest.mark.parametrize(
    "body",
    [
        {"env": "staging", "enabled": True, "min_cents": 50, "max_cents": 10},
        {"env": "staging", "enabled": True, "min_cents": 0, "max_cents": 10},
        {"env": "staging", "enabled": True, "min_cents": -5, "max_cents": 10},
        {"env": "staging", "enabled": True, "min_cents": 1, "max_cents": 100_001},
        {"env": "staging", "enabled": True, "min_cents": 1.5, "max_cents": 10},
        {"env": "staging", "enabled": "yes", "min_cents": 1, "max_cents": 10},
        {"env": "test", "enabled": True, "min_cents": 1, "max_cents": 10},
        {"env": "staging", "enabled": True, "min_cents": 1, "max_cents": 10, "step": 1},
        {"env": "staging", "enabled": True, "min_cents": 1},
    ],
)
async def test_bad_settings_are_refused_and_change_nothing(
    admin_client: httpx.AsyncClient,
    db: Database,
    checkin_config_restored: None,
    body: dict[str, Any],
) -> None:
    before = await _stored(db)
    reply = await admin_client.put("/checkin/config", json=body)
    assert (reply.status_code, reply.json()["code"]) == (422, 3001), reply.text
    assert reply.json()["data"]["errors"]
    assert await _stored(db) == before
