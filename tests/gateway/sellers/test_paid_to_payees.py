"""What a merchant's environment paid each seller in the current windows, on each store: a
payment counts in the calendar windows that held when it was made, for what it holds (its
amount while held, what the seller took once used, nothing once released), and what a key may
still pay a seller is what the store would let its next payment count."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest.mock import patch

import pytest
from sqlalchemy import update

from gateway.callers import Caller, authenticate
from gateway.policies.model import Policy
from gateway.sellers import paid, states
from gateway.sellers import service as sellers
from gateway.sellers.authorizing import read
from gateway.sellers.schemas import PaymentCreate
from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, table_of
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.core import TEST_PEPPER, TEST_SECRET
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import set_policy, spend_rows
from tests.fixtures.seller_payments import SELLER
from tests.fixtures.tally_payer import TallyPayer, challenge

SELLER_TO = "tally:acct_seller"  # where the money goes: the challenge's destination
OTHER = "https://other.example:8443/api"
# A Wednesday: its week began on Monday the 13th, its month on the 1st.
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
_K = table_of(ApiKeyRow)
POLICY = {
    "scopes": ["payments:send"],
    "per_payee_limit": {"amount_cents": 1_000, "interval": "weekly"},
}


async def _caller(db: Database, key: str) -> Caller:
    return await authenticate(db, TEST_PEPPER.encode(), key)


async def _pay_at(
    db: Database,
    settings: Settings,
    caller: Caller,
    at: datetime,
    amount: int,
    *,
    url: str = SELLER,
    payee: str = "acct_seller",
    key: str,
) -> str:
    """A payment of ``amount`` to ``payee`` named under ``url``, made at ``at``: authorized."""
    said = challenge(amount, payee=payee)
    body = PaymentCreate.model_validate({"url": url, "challenge": said})
    with patch.object(sellers, "utcnow", lambda: at):
        made = await sellers.pay(
            db, Sealer(TEST_SECRET.encode()), settings, caller, body, idempotency_key=key
        )
    assert made.code == Code.PAYMENT_AUTHORIZED, made
    return str(made.transaction_id)


async def _move(
    db: Database, payment_id: str, target: str, *, used_cents: int | None = None
) -> None:
    async with db.transaction() as conn:
        row = await read(conn, payment_id)
        moved = await states.move(
            conn, SimpleNamespace(**row._asdict()), target, NOW, used_cents=used_cents
        )
    assert moved is not None


async def test_each_window_counts_what_its_payments_hold(
    make_merchant: MakeMerchant, db: Database, settings: Settings, tally: TallyPayer
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    await set_policy(db, merchant.key_id, POLICY)
    caller = await _caller(db, merchant.key)
    today = await _pay_at(db, settings, caller, NOW - timedelta(hours=2), 100, key="a")
    used = await _pay_at(db, settings, caller, NOW - timedelta(hours=1), 40, key="b")
    released = await _pay_at(db, settings, caller, NOW - timedelta(minutes=30), 70, key="c")
    monday = await _pay_at(db, settings, caller, datetime(2025, 1, 13, tzinfo=UTC), 200, key="d")
    first = await _pay_at(db, settings, caller, datetime(2025, 1, 2, tzinfo=UTC), 300, key="e")
    await _pay_at(db, settings, caller, datetime(2024, 12, 31, 23, tzinfo=UTC), 400, key="f")
    other = await _pay_at(db, settings, caller, NOW, 50, url=OTHER, payee="acct_other", key="g")
    await _move(db, used, states.USED, used_cents=30)
    await _move(db, released, states.RELEASED)
    assert today and monday and first and other

    found = (await paid.paid_to_payees(db, caller, NOW)).one(paid.PaidToPayees)
    assert [(w.interval, w.starts_at, w.resets_at) for w in found.windows] == [
        ("daily", "2025-01-15T00:00:00Z", "2025-01-16T00:00:00Z"),
        ("weekly", "2025-01-13T00:00:00Z", "2025-01-20T00:00:00Z"),
        ("monthly", "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"),
    ]
    # Paid last first; the last month's payment counts nowhere.
    assert [p.payee for p in found.payees] == ["tally:acct_other", SELLER_TO]
    seller = found.payees[1]
    assert (seller.daily_cents, seller.weekly_cents, seller.monthly_cents) == (
        100 + 30,
        100 + 30 + 200,
        100 + 30 + 200 + 300,
    )
    assert seller.last_paid_at == "2025-01-15T11:30:00Z"
    assert not found.more
    # What the key may still pay each seller: its weekly per-seller window, as the store has
    # it (the released payment given back, the used one's remainder too).
    [left] = seller.limits
    assert left.key_id == merchant.key_id and left.window.interval == "weekly"
    assert (left.window.limit_cents, left.window.spent_cents) == (1_000, 330)
    assert (left.window.remaining_cents, left.window.resets_at) == (670, "2025-01-20T00:00:00Z")
    rows = await spend_rows(db, merchant.key_id)
    assert rows[f"payee:weekly:2025-01-13:{SELLER_TO}"] == (330, 1_000)
    [elsewhere] = found.payees[0].limits
    assert elsewhere.window.remaining_cents == 950


async def test_a_week_that_began_last_month_counts_apart_from_the_month(
    make_merchant: MakeMerchant, db: Database, settings: Settings, tally: TallyPayer
) -> None:
    now = datetime(2025, 10, 1, 9, tzinfo=UTC)  # a Wednesday: its week began on 29 September
    merchant = await make_merchant(balance_cents=10_000)
    await set_policy(db, merchant.key_id, {"scopes": ["payments:send"]})
    caller = await _caller(db, merchant.key)
    await _pay_at(db, settings, caller, datetime(2025, 9, 30, 8, tzinfo=UTC), 60, key="a")
    await _pay_at(db, settings, caller, datetime(2025, 9, 28, 8, tzinfo=UTC), 500, key="b")
    found = (await paid.paid_to_payees(db, caller, now)).one(paid.PaidToPayees)
    [seller] = found.payees
    assert (seller.daily_cents, seller.weekly_cents, seller.monthly_cents) == (0, 60, 0)
    assert seller.limits == []  # no per-seller limit on its key


async def test_another_merchant_or_environment_sees_none_and_a_revoked_key_no_limit(
    make_merchant: MakeMerchant, db: Database, settings: Settings, tally: TallyPayer
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    await set_policy(db, merchant.key_id, POLICY)
    caller = await _caller(db, merchant.key)
    await _pay_at(db, settings, caller, NOW, 25, key="a")
    stranger = await make_merchant(balance_cents=10_000)
    live = await make_merchant("live", merchant_id=merchant.merchant_id)
    for who in (stranger, live):
        theirs = await paid.paid_to_payees(db, await _caller(db, who.key), NOW)
        assert theirs.one(paid.PaidToPayees).payees == []
    # Another key of the merchant sees its environment's payments, as GET /payments does.
    second = await make_merchant(merchant_id=merchant.merchant_id)
    mine = (await paid.paid_to_payees(db, await _caller(db, second.key), NOW)).one(
        paid.PaidToPayees
    )
    assert [p.daily_cents for p in mine.payees] == [25]
    async with db.transaction() as conn:
        await conn.execute(update(_K).where(_K.c.id == merchant.key_id).values(revoked_at=NOW))
    mine = (await paid.paid_to_payees(db, await _caller(db, second.key), NOW)).one(
        paid.PaidToPayees
    )
    assert [(p.daily_cents, p.limits) for p in mine.payees] == [(25, [])]


async def test_a_key_without_the_scope_is_refused(
    make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    await set_policy(db, merchant.key_id, Policy(scopes=("topup:send",)).model_dump(mode="json"))
    with pytest.raises(ApiError) as refused:
        await paid.paid_to_payees(db, await _caller(db, merchant.key), NOW)
    assert refused.value.code == Code.KEY_SCOPE_MISSING


async def test_only_the_sellers_paid_last_are_listed(
    make_merchant: MakeMerchant,
    db: Database,
    settings: Settings,
    tally: TallyPayer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(paid, "MAX_PAYEES", 2)
    merchant = await make_merchant(balance_cents=10_000)
    await set_policy(db, merchant.key_id, {"scopes": ["payments:send"]})
    caller = await _caller(db, merchant.key)
    for n in range(3):
        at = NOW - timedelta(minutes=10 - n)
        await _pay_at(db, settings, caller, at, 10, payee=f"acct_{n}", key=str(n))
    found = (await paid.paid_to_payees(db, caller, NOW)).one(paid.PaidToPayees)
    assert [p.payee for p in found.payees] == ["tally:acct_2", "tally:acct_1"]
    assert found.more
