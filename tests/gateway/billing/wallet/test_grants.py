"""Credit grants: a promotional grant expiring within the test clock's hour is spent before
bought credit; at its expiry what is left leaves by one entry and one ``credit.expired``, once
however many sweeps race; a void takes the remainder out once."""

import asyncio
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select

from gateway.billing import sandbox_clock
from gateway.billing.wallet import grants
from gateway.callers import authenticate
from gateway.store.engine import Database
from gateway.store.models import LedgerEntry, table_of
from gateway.values.clock import rfc3339, utcnow
from tests.fixtures.core import TEST_PEPPER
from tests.fixtures.grants import grant, grants_listed
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced, merchant_balance
from tests.fixtures.webhooks import events_of

_L = table_of(LedgerEntry)
SEND = {"platform": "claude", "recipient_email": "grants@example.com"}
HOUR = 3600


async def _entries(db: Database, kind: str, *grant_ids: str) -> list[tuple[int, str | None]]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(_L.c.amount_cents, _L.c.reference)
            .where(_L.c.kind == kind, _L.c.reference.in_(grant_ids))
            .order_by(_L.c.id)
        )
        return [(int(r.amount_cents), r.reference) for r in rows]


async def test_promotional_credit_is_spent_first_and_expires_once(
    db: Database,
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
) -> None:
    merchant = await make_merchant("staging", balance_cents=1000)  # one paid grant
    [paid_id] = await grants_listed(billing_client, merchant.headers)
    clock = await billing_client.get("/sandbox/clock", headers=merchant.headers)
    within_hour = datetime.fromisoformat(clock.json()["data"]["now"]) + timedelta(minutes=59)
    promo_id = await grant(
        admin_client, merchant.merchant_id, "staging", 600, expires_at=within_hour
    )

    sent = await billing_client.post(
        "/topup/send", json={**SEND, "amount_cents": 400}, headers=merchant.headers
    )
    assert sent.json()["code"] == 1001, sent.text
    seen = await grants_listed(billing_client, merchant.headers)
    assert (seen[promo_id]["remaining_cents"], seen[paid_id]["remaining_cents"]) == (200, 1000)
    assert seen[promo_id]["category"] == "promotional"
    assert seen[promo_id]["expires_at"] == rfc3339(within_hour)

    # Not yet due by the merchant's clock: the sweep leaves it.
    assert (await grants.expire_due(db, utcnow())).data == {"expired": 0}
    # The clock moved an hour on, as the route moves it but without the expiry the route runs
    # itself (``test_advancing_the_clock_expires_what_it_passes_at_once``): the worker's sweeps,
    # reading the merchant's clock, find it due.
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    assert caller is not None
    await sandbox_clock.advance(db, caller, HOUR)
    swept = await asyncio.gather(*(grants.expire_due(db, utcnow()) for _ in range(3)))
    assert sum(s.data["expired"] for s in swept) == 1  # racing sweeps: once
    assert await _entries(db, "grant_expired", promo_id, paid_id) == [(-200, promo_id)]
    [expired] = await events_of(db, merchant.merchant_id, "credit.expired")
    assert expired["data"] | {"balance_cents": 0} == {
        "env": "staging",
        "grant_id": promo_id,
        "category": "promotional",
        "amount_cents": 600,
        "expired_cents": 200,
        "balance_cents": 0,
        "currency": "USD",
        "expires_at": rfc3339(within_hour),
    }
    assert expired["data"]["balance_cents"] == 1000 == await merchant_balance(db, merchant)
    seen = await grants_listed(billing_client, merchant.headers)
    assert (seen[promo_id]["status"], seen[promo_id]["remaining_cents"]) == ("expired", 0)

    # A void takes what is left out, once; another merchant's grant is not found.
    void = f"/merchants/{merchant.merchant_id}/credit-grants/{paid_id}/void"
    voided = await admin_client.post(void)
    assert voided.json()["data"]["status"] == "voided", voided.text
    again = await admin_client.post(void)
    assert (again.status_code, again.json()["code"]) == (409, 4661)
    other = await make_merchant("staging")
    elsewhere = await admin_client.post(
        f"/merchants/{other.merchant_id}/credit-grants/{paid_id}/void"
    )
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, 4660)
    assert await _entries(db, "grant_voided", promo_id, paid_id) == [(-1000, paid_id)]
    assert await merchant_balance(db, merchant) == 0
    bad = await admin_client.post(
        f"/merchants/{merchant.merchant_id}/credit-grants",
        json={"env": "staging", "amount_cents": 5, "category": "gift"},
    )
    assert (bad.status_code, bad.json()["code"]) == (422, 3001)
    await assert_ledger_balanced(db)


async def test_advancing_the_clock_expires_what_it_passes_at_once(
    db: Database,
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
) -> None:
    """In the advance's own request, not at the worker's next sweep: its reply is given once
    the grants it passed have lapsed, their entries and events written."""
    merchant = await make_merchant("staging", balance_cents=1000)
    clock = await billing_client.get("/sandbox/clock", headers=merchant.headers)
    staged = datetime.fromisoformat(clock.json()["data"]["now"])
    made = {
        name: await grant(admin_client, merchant.merchant_id, "staging", 300, expires_at=at)
        for name, at in (
            ("passed", staged + timedelta(days=2)),
            ("ahead", staged + timedelta(days=4)),
        )
    }
    moved = await billing_client.post(
        "/sandbox/clock/advance", json={"seconds": 3 * 86_400}, headers=merchant.headers
    )
    assert moved.status_code == 200, moved.text
    # No sweep has run: the advance itself took the passed grant out, and only it.
    assert await _entries(db, "grant_expired", *made.values()) == [(-300, made["passed"])]
    [expired] = await events_of(db, merchant.merchant_id, "credit.expired")
    assert (expired["data"]["grant_id"], expired["data"]["balance_cents"]) == (made["passed"], 1300)
    assert await merchant_balance(db, merchant) == 1300
    seen = await grants_listed(billing_client, merchant.headers)
    assert seen[made["passed"]]["status"] == "expired"
    assert (seen[made["ahead"]]["status"], seen[made["ahead"]]["remaining_cents"]) == (
        "active",
        300,
    )
    # The next advance passes the other one, at once too.
    again = await billing_client.post(
        "/sandbox/clock/advance", json={"seconds": 86_400}, headers=merchant.headers
    )
    assert again.status_code == 200, again.text
    assert len(await _entries(db, "grant_expired", *made.values())) == 2
    assert await merchant_balance(db, merchant) == 1000
    await assert_ledger_balanced(db)


async def test_the_staging_starting_balance_is_named_so_and_nothing_else_is(
    billing_client: httpx.AsyncClient, admin_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    """A new merchant's staging wallet starts with a paid grant nobody bought: the list says it
    is the starting balance (``starting_balance``); an operator's paid grant, and every live
    grant, say nothing of it."""
    merchant = await make_merchant("staging")
    [started] = (await grants_listed(billing_client, merchant.headers)).values()
    assert (started["category"], started["starting_balance"]) == ("paid", True)
    given = await grant(admin_client, merchant.merchant_id, "staging", 600, category="paid")
    seen = await grants_listed(billing_client, merchant.headers)
    assert "starting_balance" not in seen[given]
    live = await make_merchant("live", merchant_id=merchant.merchant_id)
    await grant(admin_client, merchant.merchant_id, "live", 600, category="paid")
    [bought] = (await grants_listed(billing_client, live.headers)).values()
    assert "starting_balance" not in bought
