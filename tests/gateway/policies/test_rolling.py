"""A rolling window, driven through the send's clock: a spend counts until the minute it was made
in is the window's hours old, a full window says when its oldest spend frees, a refund gives
back to the minute it was counted in, and sends racing in different minutes of one window admit
exactly its amount."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from gateway.callers import authenticate
from gateway.policies import spend
from gateway.store.engine import Database
from gateway.topup import cancelling, service
from gateway.topup.schemas import SendRequest
from keys import Sealer
from tests.fixtures.core import TEST_PEPPER, TEST_SECRET
from tests.fixtures.merchants import MakeMerchant, merchant_balance
from tests.fixtures.policies import clocked_send, rendering, renderings, set_policy, spend_rows

T0 = datetime(2025, 11, 28, 3, 59, 30, tzinfo=UTC)  # in the minute 03:59
MINUTE = timedelta(minutes=1)


async def test_a_spend_leaves_a_rolling_window_when_its_minute_is_hours_old(
    db: Database, make_merchant: MakeMerchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In each rendering of the send's plan the store runs (the lock a statement of its own
    before both)."""
    for one_statement in renderings(db):
        with rendering(monkeypatch, one_statement):
            await _a_spend_leaves_its_window(db, make_merchant)


async def _a_spend_leaves_its_window(db: Database, make_merchant: MakeMerchant) -> None:
    merchant = await make_merchant(balance_cents=100_000)
    policy = {"limits": [{"amount_cents": 1_000, "interval": "rolling", "hours": 5}]}
    await set_policy(db, merchant.key_id, policy)
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    send = clocked_send(db, caller)

    pending = await send(600, T0, "ann+pending")  # counted while it waits
    assert pending.code == 1002
    assert (await send(400, T0)).code == 1001
    later = T0 + 4 * timedelta(hours=1) + 59 * MINUTE  # 4h59m old: still in the window
    full = await send(1, later)
    assert full.code == 2304
    assert full.data == {
        "limit_source": "rolling",
        "limit_cents": 1_000,
        "remaining_cents": 0,
        "resets_at": None,
        "interval": "rolling",
        "hours": 5,
        "frees_at": "2025-11-28T08:59:00Z",  # 03:59, five hours on
    }

    # The refund gives back to the minute the send was counted in.
    cancelled = await cancelling.cancel(
        db, Sealer(TEST_SECRET.encode()), caller, str(pending.transaction_id)
    )
    assert cancelled.code == 1003
    assert (await send(600, later)).code == 1001  # 400 + 600
    assert (await send(1, later)).code == 2304

    # 5h01m after the first spends, their minute has left the window: 600 of 1,000 held.
    gone = T0 + 5 * timedelta(hours=1) + MINUTE
    assert (await send(401, gone)).code == 2304
    assert (await send(400, gone)).code == 1001
    assert await spend_rows(db, merchant.key_id) == {
        "rolling": (0, 0),  # the head every writer locks first, written once
        "rolling:2025-11-28T03:59": (400, 1_000),
        "rolling:2025-11-28T08:58": (600, 600),
        "rolling:2025-11-28T09:00": (400, 400),
    }


async def test_a_rolling_windows_minutes_are_pruned_after_the_longest_window(
    db: Database, make_merchant: MakeMerchant
) -> None:
    """A minute's row goes once no window can read it (``KEEP_MINUTES_DAYS``), long before a
    calendar window's row; the head stays, as an all-time count does."""
    merchant = await make_merchant(balance_cents=100_000)
    await set_policy(
        db,
        merchant.key_id,
        {
            "limits": [
                {"amount_cents": 1_000, "interval": "rolling", "hours": 168},
                {"amount_cents": 1_000, "interval": "daily"},
            ]
        },
    )
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    body = SendRequest.model_validate(
        {"platform": "claude", "amount_cents": 100, "recipient_email": "ann@example.com"},
        context={"max_topup_cents": 100_000},
    )
    sealer = Sealer(TEST_SECRET.encode())
    done = await service.send(
        db, sealer, caller, body, idempotency_key=None, idempotency_ttl_seconds=3600, now=T0
    )
    assert done.code == 1001
    after = T0 + timedelta(days=spend.KEEP_MINUTES_DAYS, minutes=1)
    while await spend.prune_closed(db, after):
        pass
    assert set(await spend_rows(db, merchant.key_id)) == {"rolling", "daily:2025-11-28"}


async def test_sends_racing_in_different_minutes_admit_exactly_the_window(
    db: Database, make_merchant: MakeMerchant
) -> None:
    """Each racer counts in a minute's row of its own, so no row's lock queues them: the head
    does, and each sums the others' minutes once the last has committed. 60 sends of 100 over
    20 minutes race for 2,000."""
    merchant = await make_merchant(balance_cents=100_000)
    policy = {"limits": [{"amount_cents": 2_000, "interval": "rolling", "hours": 5}]}
    await set_policy(db, merchant.key_id, policy)
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    sealer = Sealer(TEST_SECRET.encode())
    body = SendRequest.model_validate(
        {"platform": "claude", "amount_cents": 100, "recipient_email": "ann@example.com"},
        context={"max_topup_cents": 100_000},
    )

    async def send(now: datetime) -> int:
        done = await service.send(
            db, sealer, caller, body, idempotency_key=None, idempotency_ttl_seconds=3600, now=now
        )
        return int(done.code)

    replies = await asyncio.gather(*(send(T0 + (i % 20) * MINUTE) for i in range(60)))
    assert sorted(replies) == [1001] * 20 + [2304] * 40
    assert await merchant_balance(db, merchant) == 100_000 - 2_000
    rows = await spend_rows(db, merchant.key_id)
    assert sum(spent for bucket, (spent, _) in rows.items() if bucket != "rolling") == 2_000
