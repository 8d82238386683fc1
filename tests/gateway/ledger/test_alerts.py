"""A wallet's levels under real concurrency: each level crossed down is told once by
``balance.low``, and the way back up once by ``balance.recovered``, a margin above it, whatever
races; and a merchant's levels re-arm a bounded number of times an hour."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from gateway.billing.wallet import funding
from gateway.policies import levels
from gateway.store.engine import Database
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant, merchant_balance
from tests.fixtures.webhooks import events_of

SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "race@example.com"}


async def test_three_levels_down_and_back_tell_three_crossings_and_one_recovery(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("staging", balance_cents=1_000)
    limits = httpx.Limits(max_connections=20)
    async with local_client(base_url=live_url, limits=limits, timeout=60) as http:
        refused = await http.put(
            "/wallet/alerts",
            json={"thresholds_cents": [400, 400]},
            headers=merchant.headers,
        )
        assert (refused.status_code, refused.json()["code"]) == (422, 3001)
        assert "once" in str(refused.json()["data"])
        six = await http.put(
            "/wallet/alerts",
            json={"thresholds_cents": [1, 2, 3, 4, 5, 6]},
            headers=merchant.headers,
        )
        assert six.status_code == 422
        put = await http.put(
            "/wallet/alerts", json={"thresholds_cents": [100, 700, 400]}, headers=merchant.headers
        )
        assert put.json()["data"]["thresholds_cents"] == [700, 400, 100]
        assert put.json()["data"]["low_balance_threshold_cents"] == 700

        sent = await asyncio.gather(
            *(http.post("/topup/send", json=SEND, headers=merchant.headers) for _ in range(10))
        )
        assert {r.json()["code"] for r in sent} == {1001}
        lows = await events_of(db, merchant.merchant_id, "balance.low")
        # 1000 → 0 by tens of 100: each level crossed by the one send that took it below.
        assert sorted((e["data"]["threshold_cents"], e["data"]["balance_cents"]) for e in lows) == [
            (100, 0),
            (400, 300),
            (700, 600),
        ]
        # One meaning: low_balance_threshold_cents is the wallet's highest level wherever it
        # appears, as GET /wallet/alerts and GET /balance say it; the level crossed is
        # threshold_cents.
        assert {e["data"]["low_balance_threshold_cents"] for e in lows} == {700}
        balance = await http.get("/balance", headers=merchant.headers)
        assert balance.json()["data"]["low_balance_threshold_cents"] == 700
        assert (await http.get("/wallet/alerts", headers=merchant.headers)).json()["data"][
            "told_cents"
        ] == 100

        funded = await asyncio.gather(
            *(
                http.post("/sandbox/fund", json={"amount_cents": 100}, headers=merchant.headers)
                for _ in range(10)
            )
        )
        assert {r.status_code for r in funded} == {200}
    assert await merchant_balance(db, merchant) == 1_000
    recovered = await events_of(db, merchant.merchant_id, "balance.recovered")
    # Told by the first credit a margin above the highest level (700 + 70): at 800.
    assert [e["data"] for e in recovered] == [
        {"balance_cents": 800, "threshold_cents": 700, "currency": "USD"}
    ]
    assert len(await events_of(db, merchant.merchant_id, "balance.low")) == 3


async def test_a_merchants_levels_re_arm_a_bounded_number_of_times_an_hour(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    """Each debit takes the wallet under its level and each credit a margin back above it: a
    real recovery every time, yet past ``RECOVERIES_PER_HOUR`` the level stays told, and so no
    ``balance.low`` comes after either. On a clock the test holds (the bound is per hour of
    the ``now`` each move is made at), so no run straddles an hour; the next hour re-arms."""
    merchant = await make_merchant("staging", balance_cents=600)
    made = await client.put(
        "/wallet/alerts", json={"thresholds_cents": [500]}, headers=merchant.headers
    )
    assert made.status_code == 200, made.text
    hour = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    async def cycle(n: int, at: datetime) -> None:
        moved: dict[str, Any] = {
            "env": "staging",
            "merchant_id": merchant.merchant_id,
            "memo": None,
            "now": at,
        }
        async with db.transaction() as conn:
            taken = await funding.debit_merchant(
                conn, amount=200, source="adjustment", reference=f"down-{n}", **moved
            )
            assert taken is not None
        async with db.transaction() as conn:
            await funding.credit_merchant(
                conn, amount=200, source="adjustment", reference=f"up-{n}", grant=None, **moved
            )

    cycles = levels.RECOVERIES_PER_HOUR + 3
    for n in range(cycles):
        await cycle(n, hour + timedelta(minutes=59, seconds=n))
    recovered = await events_of(db, merchant.merchant_id, "balance.recovered")
    assert len(recovered) == levels.RECOVERIES_PER_HOUR
    lows = await events_of(db, merchant.merchant_id, "balance.low")
    assert len(lows) == levels.RECOVERIES_PER_HOUR + 1
    # The next hour: the level, told still, is re-armed by the next real recovery.
    await cycle(cycles, hour + timedelta(hours=1))
    again = await events_of(db, merchant.merchant_id, "balance.recovered")
    assert len(again) == levels.RECOVERIES_PER_HOUR + 1
