"""The check-in's rules and its plan in every rendering the store has: the day and the next
opening by the clock, the draw inside the bounds, one credit a day with its entry and event
(nothing at all when the day is taken), and live never reading the staging clock."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from gateway.billing import sandbox_clock
from gateway.billing.checkin import daily
from gateway.callers import Caller
from gateway.policies.model import UNRESTRICTED
from gateway.store.engine import Database
from gateway.store.models import CheckIn, Event, LedgerEntry, SandboxClock, table_of
from gateway.values.clock import utcnow
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.merchants import merchant_balance as balance_of
from tests.fixtures.policies import rendering, renderings

_CI, _L, _E = table_of(CheckIn), table_of(LedgerEntry), table_of(Event)


def test_a_day_is_utc_and_the_next_opens_at_its_midnight() -> None:
    late = datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC)
    assert daily.day_of(late) == date(2026, 11, 25)
    east = late.astimezone(timezone(timedelta(hours=5)))  # already the 26th there
    assert east.day == 26
    assert daily.day_of(east) == date(2026, 11, 25)
    assert daily.next_opening(date(2026, 12, 31)) == datetime(2027, 1, 1, tzinfo=UTC)


def test_the_draw_covers_the_bounds_and_stays_inside() -> None:
    bounds = daily.Bounds(True, 5, 8)
    seen = {daily.draw(bounds) for _ in range(2_000)}
    assert seen == {5, 6, 7, 8}
    assert daily.draw(daily.Bounds(True, 42, 42)) == 42


def test_live_is_off_by_default_and_staging_on() -> None:
    assert daily.DEFAULTS["live"].enabled is False
    assert daily.DEFAULTS["staging"].enabled is True
    staging = daily.DEFAULTS["staging"]
    assert 0 < staging.min_cents <= staging.max_cents


def _caller(merchant: MerchantKey, wallet_id: str) -> Caller:
    return Caller(merchant.key_id, merchant.merchant_id, merchant.env, 0, wallet_id, UNRESTRICTED)


async def _wallet_id(db: Database, merchant: MerchantKey) -> str:
    from gateway.ledger import service as ledger

    async with db.read() as conn:
        found = await ledger.balance(
            conn, merchant.env, ledger.merchant_owner(merchant.merchant_id)
        )
    assert found is not None
    return found.wallet_id


async def _rows(db: Database, merchant: MerchantKey) -> tuple[int, int, int]:
    async with db.read() as conn:
        checkins = await conn.execute(
            select(func.count()).where(_CI.c.merchant_id == merchant.merchant_id)
        )
        entries = await conn.execute(
            select(func.count()).where(
                _L.c.kind == daily.KIND,
                _L.c.reference.in_(
                    select(_CI.c.id).where(_CI.c.merchant_id == merchant.merchant_id)
                ),
            )
        )
        events = await conn.execute(
            select(func.count()).where(
                _E.c.merchant_id == merchant.merchant_id, _E.c.type == daily.CREDITED
            )
        )
        return entries.scalar_one(), checkins.scalar_one(), events.scalar_one()


@pytest.mark.parametrize("one_statement", [True, False])
async def test_each_rendering_credits_once_a_day_and_nothing_more(
    db: Database,
    make_merchant: MakeMerchant,
    monkeypatch: pytest.MonkeyPatch,
    one_statement: bool,
) -> None:
    if one_statement not in renderings(db):
        pytest.skip("SQLite runs the statements in order")
    merchant = await make_merchant("staging")
    caller = _caller(merchant, await _wallet_id(db, merchant))
    before = await balance_of(db, merchant)
    with rendering(monkeypatch, one_statement):
        done = await daily.check_in(db, caller)
        with pytest.raises(ApiError) as refused:
            await daily.check_in(db, caller)
    assert done.code == Code.CHECKED_IN
    data = done.data
    assert isinstance(data, dict)
    assert data["balance_cents"] == before + data["amount_cents"]
    assert await balance_of(db, merchant) == before + data["amount_cents"]
    assert refused.value.code == Code.CHECKIN_ALREADY_DONE
    assert refused.value.data["next_checkin_at"] == data["next_checkin_at"]
    assert await _rows(db, merchant) == (1, 1, 1)
    assert len(done.deliveries) == 0  # no endpoint: an event, no delivery
    await assert_ledger_balanced(db)


async def test_live_never_reads_the_clock(db: Database, make_merchant: MakeMerchant) -> None:
    """A clock row for a merchant changes staging's now, never live's (which is not read)."""
    merchant = await make_merchant("staging")
    async with db.transaction() as conn:
        await conn.execute(
            table_of(SandboxClock)
            .insert()
            .values(merchant_id=merchant.merchant_id, offset_seconds=86_400, updated_at=utcnow())
        )
    real = utcnow()
    async with db.read() as conn:
        staging = await sandbox_clock.now_for(conn, merchant.merchant_id, "staging", real=real)
        live = await sandbox_clock.now_for(conn, merchant.merchant_id, "live", real=real)
    assert staging - real == timedelta(days=1)
    assert live == real

    class Untouchable:
        async def execute(self, *_: object) -> None:
            raise AssertionError("live read the store")

    assert await sandbox_clock.now_for(Untouchable(), "mer_x", "live", real=real) == real  # type: ignore[arg-type]
