"""Daily check-in and the staging test clock over REST: once per merchant, environment and UTC
day under real concurrent requests, the next day by the staging clock, live off until the
operator turns it on and never on the staging clock, bad input refused with nothing changed.
The concurrent check-ins on both stores."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gateway.billing.checkin.daily import DEFAULTS
from gateway.billing.sandbox_clock import MAX_ADVANCE_SECONDS, MAX_OFFSET_SECONDS
from gateway.store.engine import Database
from gateway.store.models import CheckIn, LedgerEntry, SandboxClock, table_of
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.merchants import merchant_balance as balance_of
from tests.fixtures.webhooks import events_of

DAY = 86_400
_CI = table_of(CheckIn)
_L = table_of(LedgerEntry)
_CLOCK = table_of(SandboxClock)


async def _checkins(db: Database, merchant: MerchantKey) -> list[Any]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(_CI).where(_CI.c.merchant_id == merchant.merchant_id).order_by(_CI.c.day)
        )
        return list(rows)


async def _checkin_entries(db: Database, merchant: MerchantKey) -> list[int]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(_L.c.amount_cents)
            .join_from(_L, _CI, _CI.c.id == _L.c.reference)
            .where(_CI.c.merchant_id == merchant.merchant_id, _L.c.kind == "checkin_credit")
        )
        return [int(r.amount_cents) for r in rows]


async def _offset(db: Database, merchant: MerchantKey) -> int | None:
    async with db.read() as conn:
        found = await conn.execute(
            select(_CLOCK.c.offset_seconds).where(_CLOCK.c.merchant_id == merchant.merchant_id)
        )
        value = found.scalar()
    return None if value is None else int(value)


def _midnight_after(day: date) -> str:
    return (datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


@pytest.fixture
async def live_client(live_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with local_client(
        base_url=live_url, timeout=60, limits=httpx.Limits(max_connections=60)
    ) as http:
        yield http


@pytest.mark.both_stores
async def test_fifty_concurrent_checkins_credit_once(
    live_client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    before = await balance_of(db, merchant)
    replies = await asyncio.gather(
        *(live_client.post("/checkin", headers=merchant.headers) for _ in range(50))
    )
    codes = sorted(r.json()["code"] for r in replies)
    assert codes == [1130] + [4300] * 49, codes
    [won] = [r.json() for r in replies if r.json()["code"] == 1130]
    refused = [r for r in replies if r.json()["code"] == 4300]
    assert {r.status_code for r in refused} == {409}
    amount = won["data"]["amount_cents"]
    bounds = DEFAULTS["staging"]
    assert bounds.min_cents <= amount <= bounds.max_cents
    assert won["data"]["balance_cents"] == before + amount
    day = date.fromisoformat(won["data"]["checked_in_on"])
    assert won["data"]["next_checkin_at"] == _midnight_after(day)
    for reply in refused:
        assert reply.json()["data"] == {
            "checked_in_on": day.isoformat(),
            "next_checkin_at": _midnight_after(day),
        }
    assert await balance_of(db, merchant) == before + amount
    assert len(await _checkins(db, merchant)) == 1
    assert await _checkin_entries(db, merchant) == [amount]
    assert len(await events_of(db, merchant.merchant_id, "checkin.credited")) == 1
    await assert_ledger_balanced(db)


async def test_the_staging_clock_opens_the_next_day(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    first = await client.post("/checkin", headers=merchant.headers)
    assert first.status_code == 200, first.text
    again = await client.post("/checkin", headers=merchant.headers)
    assert (again.status_code, again.json()["code"]) == (409, 4300)
    opens = again.json()["data"]["next_checkin_at"]
    assert opens == first.json()["data"]["next_checkin_at"]

    clock = await client.get("/sandbox/clock", headers=merchant.headers)
    assert clock.json()["data"]["offset_seconds"] == 0
    advanced = await client.post(
        "/sandbox/clock/advance", json={"seconds": DAY}, headers=merchant.headers
    )
    assert advanced.status_code == 200, advanced.text
    assert advanced.json()["data"]["offset_seconds"] == DAY
    now = datetime.fromisoformat(advanced.json()["data"]["now"])
    real = datetime.fromisoformat(advanced.json()["data"]["real_now"])
    assert now - real == timedelta(days=1)

    second = await client.post("/checkin", headers=merchant.headers)
    assert (second.status_code, second.json()["code"]) == (200, 1130), second.text
    day_one = date.fromisoformat(first.json()["data"]["checked_in_on"])
    assert second.json()["data"]["checked_in_on"] == (day_one + timedelta(days=1)).isoformat()
    refused = await client.post("/checkin", headers=merchant.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, 4300)
    assert refused.json()["data"]["next_checkin_at"] == _midnight_after(day_one + timedelta(days=1))

    amounts = [first.json()["data"]["amount_cents"], second.json()["data"]["amount_cents"]]
    bounds = DEFAULTS["staging"]
    assert all(bounds.min_cents <= a <= bounds.max_cents for a in amounts)
    assert sorted(await _checkin_entries(db, merchant)) == sorted(amounts)
    assert [r.day for r in await _checkins(db, merchant)] == [
        day_one.isoformat(),
        (day_one + timedelta(days=1)).isoformat(),
    ]
    await assert_ledger_balanced(db)


async def test_a_day_of_clock_is_the_merchants_own(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    """One merchant's clock moves no other merchant's day."""
    mover, other = await make_merchant("staging"), await make_merchant("staging")
    for merchant in (mover, other):
        assert (await client.post("/checkin", headers=merchant.headers)).status_code == 200
    await client.post("/sandbox/clock/advance", json={"seconds": DAY}, headers=mover.headers)
    assert (await client.post("/checkin", headers=mover.headers)).json()["code"] == 1130
    assert (await client.post("/checkin", headers=other.headers)).json()["code"] == 4300
    clock = await client.get("/sandbox/clock", headers=other.headers)
    assert clock.json()["data"]["offset_seconds"] == 0


async def test_live_is_off_by_default_and_writes_nothing(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live", balance_cents=500)
    reply = await client.post("/checkin", headers=merchant.headers)
    assert (reply.status_code, reply.json()["code"]) == (403, 4301), reply.text
    assert reply.json()["data"] is None
    assert await balance_of(db, merchant) == 500
    assert await _checkins(db, merchant) == []
    assert await events_of(db, merchant.merchant_id, "checkin.credited") == []


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_the_clock_refuses_live_keys(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant, method: str
) -> None:
    merchant = await make_merchant("live")
    if method == "GET":
        reply = await client.get("/sandbox/clock", headers=merchant.headers)
    else:
        reply = await client.post(
            "/sandbox/clock/advance", json={"seconds": DAY}, headers=merchant.headers
        )
    assert (reply.status_code, reply.json()["code"]) == (403, 4302), reply.text
    assert await _offset(db, merchant) is None


@pytest.mark.parametrize(
    "body",
    [
        {"seconds": "86400"},
        {"seconds": 1.5},
        {"seconds": 86400.0},
        {"seconds": True},
        {"seconds": 0},
        {"seconds": -DAY},
        {"seconds": MAX_ADVANCE_SECONDS + 1},
        {"seconds": 10**30},
        {"seconds": DAY, "days": 1},
        {},
    ],
)
async def test_bad_advances_are_refused_and_move_nothing(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant, body: dict[str, Any]
) -> None:
    merchant = await make_merchant("staging")
    await client.post("/sandbox/clock/advance", json={"seconds": 60}, headers=merchant.headers)
    reply = await client.post("/sandbox/clock/advance", json=body, headers=merchant.headers)
    assert (reply.status_code, reply.json()["code"]) == (422, 3001), reply.text
    assert reply.json()["success"] is False
    assert await _offset(db, merchant) == 60


@pytest.mark.both_stores
async def test_the_clock_stops_ten_years_ahead(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    steps = 0
    while True:
        reply = await client.post(
            "/sandbox/clock/advance",
            json={"seconds": MAX_ADVANCE_SECONDS},
            headers=merchant.headers,
        )
        if reply.json()["code"] != 1000:
            break
        steps += 1
        assert steps < 10, "the clock kept going"
    assert (reply.status_code, reply.json()["code"]) == (422, 4303)
    offset = await _offset(db, merchant)
    assert offset == steps * MAX_ADVANCE_SECONDS == 9 * MAX_ADVANCE_SECONDS
    assert offset <= MAX_OFFSET_SECONDS < offset + MAX_ADVANCE_SECONDS
    # Still usable: a day more fits, and check-in works on the far day.
    assert (await client.post("/checkin", headers=merchant.headers)).json()["code"] == 1130


@pytest.mark.both_stores
async def test_advances_are_throttled_per_merchant(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    """Ten advances a minute, at once or not: the eleventh is refused (429, 4304) and moves
    nothing; another merchant's clock is its own."""
    merchant, other = await make_merchant("staging"), await make_merchant("staging")

    async def advance(who: MerchantKey) -> httpx.Response:
        return await client.post(
            "/sandbox/clock/advance", json={"seconds": DAY}, headers=who.headers
        )

    replies = await asyncio.gather(*(advance(merchant) for _ in range(12)))
    codes = sorted(reply.json()["code"] for reply in replies)
    assert codes == [1000] * 10 + [4304] * 2, codes
    refused = next(reply for reply in replies if reply.json()["code"] == 4304)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["success"] is False
    assert await _offset(db, merchant) == 10 * DAY
    assert (await advance(other)).json()["code"] == 1000
    assert await _offset(db, other) == DAY


async def test_checkin_needs_the_billing_scope(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    made = await client.post(
        "/keys",
        json={"name": "reader", "policy": {"scopes": ["topup:read"]}},
        headers=merchant.headers,
    )
    assert made.status_code == 201, made.text
    reader = {"Authorization": f"Bearer {made.json()['data']['key']}"}
    for method, path in (("POST", "/checkin"), ("GET", "/sandbox/clock")):
        reply = await client.request(method, path, headers=reader)
        assert (reply.status_code, reply.json()["code"]) == (403, 2301), reply.text
    assert await _checkins(db, merchant) == []


async def test_checkin_counts_nothing_in_the_ledger_but_its_credit(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    async with db.read() as conn:
        count = select(func.count()).select_from(_L).where(_L.c.kind == "checkin_credit")
        before = (await conn.execute(count)).scalar_one()
    reply = await client.post("/checkin", headers=merchant.headers)
    await client.post("/checkin", headers=merchant.headers)
    async with db.read() as conn:
        after = (await conn.execute(count)).scalar_one()
    assert after == before + 1
    ledger = await client.get("/billing/transactions", headers=merchant.headers)
    newest = ledger.json()["data"][0]
    assert newest["amount_cents"] == reply.json()["data"]["amount_cents"]
    assert reply.json()["transaction_id"].startswith("chk_")
