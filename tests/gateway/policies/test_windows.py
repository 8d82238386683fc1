"""Calendar windows in UTC roll over at their boundary, driven through the send's clock; a
full window stays full until then, and ``key.budget_low`` is written once a window."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from gateway.callers import authenticate
from gateway.policies import spend, thresholds
from gateway.policies.windows import window
from gateway.store.engine import Database
from gateway.store.models import Event, KeySpend, table_of
from gateway.topup import service
from gateway.topup.schemas import SendRequest
from keys import Sealer
from tests.fixtures.core import TEST_PEPPER, TEST_SECRET
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import clocked_send, set_policy
from tests.fixtures.workers import StartWorker
from worker import expiry

_E = table_of(Event)
_S = table_of(KeySpend)
SECOND = timedelta(seconds=1)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


BOUNDARIES = [
    ("daily", "2026-11-26T00:00:00"),  # a day starts at 00:00 UTC
    ("weekly", "2026-11-30T00:00:00"),  # a week on Monday
    ("monthly", "2026-12-01T00:00:00"),  # a month on the 1st
    ("monthly", "2027-01-01T00:00:00"),  # and across a year
]


@pytest.mark.parametrize(("interval", "boundary"), BOUNDARIES)
def test_a_window_ends_at_its_boundary(interval: str, boundary: str) -> None:
    edge = _at(boundary)
    before, after = window(interval, edge - SECOND), window(interval, edge)  # type: ignore[arg-type]
    assert before.bucket != after.bucket
    assert before.resets_at == edge
    assert window(interval, edge - timedelta(hours=20)).bucket == before.bucket  # type: ignore[arg-type]


def _send(amount: int) -> SendRequest:
    return SendRequest.model_validate(
        {"platform": "gemini", "amount_cents": amount, "recipient_email": "ann@example.com"},
        context={"max_topup_cents": 100_000},
    )


@pytest.mark.parametrize(("interval", "boundary"), BOUNDARIES)
async def test_a_full_window_rolls_over_at_its_boundary(
    db: Database, make_merchant: MakeMerchant, interval: str, boundary: str
) -> None:
    merchant = await make_merchant(balance_cents=100_000)
    await set_policy(
        db, merchant.key_id, {"limits": [{"amount_cents": 1_000, "interval": interval}]}
    )
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    sealer, edge = Sealer(TEST_SECRET.encode()), _at(boundary)

    async def send(amount: int, now: datetime) -> tuple[int, dict[str, object] | None]:
        done = await service.send(
            db, sealer, caller, _send(amount), idempotency_key=None,
            idempotency_ttl_seconds=3600, now=now,
        )  # fmt: skip
        return int(done.code), done.data

    assert (await send(1_000, edge - timedelta(hours=1)))[0] == 1001
    code, data = await send(1, edge - SECOND)
    assert code == 2304
    assert data is not None and data["resets_at"] == boundary + "Z"
    assert (await send(1_000, edge))[0] == 1001  # a new window, a new row
    assert (await send(1, edge + SECOND))[0] == 2304


async def test_all_time_never_resets(db: Database, make_merchant: MakeMerchant) -> None:
    merchant = await make_merchant(balance_cents=100_000)
    await set_policy(
        db, merchant.key_id, {"limits": [{"amount_cents": 1_000, "interval": "all_time"}]}
    )
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    sealer = Sealer(TEST_SECRET.encode())
    first = _at("2026-01-01T00:00:00")
    done = await service.send(
        db, sealer, caller, _send(1_000), idempotency_key=None, idempotency_ttl_seconds=3600,
        now=first,
    )  # fmt: skip
    assert done.code == 1001
    later = await service.send(
        db, sealer, caller, _send(1), idempotency_key=None, idempotency_ttl_seconds=3600,
        now=first + timedelta(days=400),
    )  # fmt: skip
    assert later.code == 2304
    assert later.data is not None and later.data["resets_at"] is None


async def test_budget_low_is_written_once_a_window(
    db: Database, make_merchant: MakeMerchant
) -> None:
    """Crossing 80% of the daily limit writes ``key.budget_low`` with the spend; staying over,
    even after a refund takes it back under and over again, writes no other that day; the next
    day's window may alert again."""
    merchant = await make_merchant(balance_cents=100_000)
    policy = {"limits": [{"amount_cents": 1_000, "interval": "daily"}], "soft_limit_percent": 80}
    await set_policy(db, merchant.key_id, policy)
    sending = clocked_send(db, await authenticate(db, TEST_PEPPER.encode(), merchant.key))
    day = _at("2026-11-25T10:00:00")

    async def send(amount: int, now: datetime, mailbox: str = "ann") -> int:
        return int((await sending(amount, now, mailbox)).code)

    async def alerts() -> list[str]:
        async with db.read() as conn:
            rows = await conn.execute(
                select(_E.c.payload)
                .where(_E.c.merchant_id == merchant.merchant_id, _E.c.type == "key.budget_low")
                .order_by(_E.c.id)
            )
            return [r.payload for r in rows]

    assert await send(700, day) == 1001
    assert await alerts() == []
    assert await send(200, day) == 1001  # 900 of 1,000: crossed 800
    found = await alerts()
    assert len(found) == 1
    window = json.loads(found[0])["data"]["windows"][0]
    assert (window["interval"], window["spent_cents"], window["crossed"]) == ("daily", 900, True)
    assert await send(50, day) == 1001  # still over: no second alert
    pending = await send(50, day, mailbox="ann+pending")
    assert pending == 1002
    assert len(await alerts()) == 1
    assert await send(900, day + timedelta(days=1)) == 1001  # the next day's own window
    assert len(await alerts()) == 2


async def test_an_alert_a_process_did_not_write_is_written_once_by_the_sweep(
    db: Database,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A send that takes a window past its soft line stands even if its process cannot write
    the alert; the worker's sweep writes it, once, however many sweeps and senders race."""
    merchant = await make_merchant(balance_cents=100_000)
    policy = {
        "limits": [
            {"amount_cents": 1_000, "interval": "daily"},
            {"amount_cents": 10_000, "interval": "all_time"},
        ],
        "soft_limit_percent": 50,
    }
    await set_policy(db, merchant.key_id, policy)
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    body = SendRequest.model_validate(
        {"platform": "claude", "amount_cents": 600, "recipient_email": "ann@example.com"}
    )

    async def lost(*_: object) -> list[str]:
        raise OSError("the process stopped")

    with monkeypatch.context() as patched:
        patched.setattr(thresholds, "alert", lost)
        done = await service.send(
            db, Sealer(TEST_SECRET.encode()), caller, body, idempotency_key=None,
            idempotency_ttl_seconds=3600,
        )  # fmt: skip
    assert done.code == 1001  # the send stands
    assert await _alerts(db, merchant.merchant_id) == []
    assert [due.owners for due in await thresholds.alerts_due(db)] == [(merchant.key_id,)]

    running = await start_worker()
    written = await asyncio.gather(*(expiry.budget_alerts(running.ctx) for _ in range(8)))
    assert sum(written) == 1
    assert await thresholds.alerts_due(db) == []
    assert await expiry.budget_alerts(running.ctx) == 0
    (payload,) = await _alerts(db, merchant.merchant_id)
    data = json.loads(payload)["data"]
    assert (data["key_id"], data["soft_limit_percent"]) == (merchant.key_id, 50)
    # Only the daily window (600 of 1,000) is past its line; all time (600 of 10,000) is not.
    (daily,) = data["windows"]
    assert (daily["interval"], daily["spent_cents"], daily["limit_cents"]) == ("daily", 600, 1_000)
    assert daily["crossed"] is True and daily["resets_at"] is not None


async def _alerts(db: Database, merchant_id: str) -> list[str]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(_E.c.payload)
            .where(_E.c.merchant_id == merchant_id, _E.c.type == "key.budget_low")
            .order_by(_E.c.id)
        )
        return [r.payload for r in rows]


async def test_spend_rows_of_windows_long_closed_are_pruned(
    db: Database, make_merchant: MakeMerchant
) -> None:
    """A row of a calendar window untouched for longer than the longest window and hold is
    deleted; recent ones, all-time counts and a per-recipient all-time count stay."""
    merchant = await make_merchant(balance_cents=100_000)
    policy = {
        "limits": [
            {"amount_cents": 50_000, "interval": "daily"},
            {"amount_cents": 50_000, "interval": "all_time"},
        ],
        "per_recipient_limit": {"amount_cents": 50_000, "interval": "all_time"},
    }
    await set_policy(db, merchant.key_id, policy)
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    sealer, now = Sealer(TEST_SECRET.encode()), datetime.now(UTC)
    long_ago = now - timedelta(days=spend.KEEP_CLOSED_DAYS + 1)
    lately = now - timedelta(days=10)
    body = SendRequest.model_validate(
        {"platform": "claude", "amount_cents": 100, "recipient_email": "ann@example.com"}
    )
    for at in (long_ago, lately):
        done = await service.send(
            db, sealer, caller, body, idempotency_key=None, idempotency_ttl_seconds=3600, now=at
        )
        assert done.code == 1001

    async def buckets() -> set[str]:
        async with db.read() as conn:
            rows = await conn.execute(select(_S.c.bucket).where(_S.c.key_id == merchant.key_id))
            return {r.bucket for r in rows}

    old_day, recent_day = window("daily", long_ago).bucket, window("daily", lately).bucket
    assert old_day in await buckets()
    while await spend.prune_closed(db, now, batch=1):  # batches of one: each run deletes one
        pass
    assert await buckets() == {
        recent_day,
        "all_time",
        "recipient:all_time:ann@example.com",
    }
