"""Credits and debits of a merchant wallet outside a send: ledger, balance and events."""

from gateway.billing.wallet.funding import credit_merchant, debit_merchant
from gateway.ledger import grants
from gateway.ledger import service as ledger
from gateway.store.engine import Database
from gateway.values.clock import utcnow
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced
from tests.fixtures.webhooks import events_of


async def test_credit_writes_entry_and_event_in_one_go(
    db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    async with db.transaction() as conn:
        moved = await credit_merchant(
            conn,
            env="live",
            merchant_id=merchant.merchant_id,
            amount=1500,
            source="redemption",
            reference="ord_x",
            memo="a memo",
            now=utcnow(),
            grant=grants.PAID,
        )
        wallet = await ledger.balance(conn, "live", ledger.merchant_owner(merchant.merchant_id))
        assert wallet is not None
        assert await ledger.entries_sum(conn, wallet.wallet_id) == 1500
    assert moved.balance_cents == 1500
    [event] = await events_of(db, merchant.merchant_id, "wallet.credited")
    assert event["data"]["amount_cents"] == 1500
    assert event["data"]["reference"] == "ord_x"


async def test_debit_never_goes_below_zero_and_warns_once_per_crossing(
    db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live", balance_cents=3000, low_balance_threshold_cents=1000)

    async def debit(amount: int) -> int | None:
        async with db.transaction() as conn:
            moved = await debit_merchant(
                conn,
                env="live",
                merchant_id=merchant.merchant_id,
                amount=amount,
                source="adjustment",
                reference="adj_x",
                memo=None,
                now=utcnow(),
            )
        return None if moved is None else moved.balance_cents

    assert await debit(1000) == 2000
    assert await debit(1000) == 1000  # at the threshold, not below it
    assert await debit(1) == 999  # crossed
    assert await debit(1) == 998  # still below: no second warning
    assert await debit(999) is None
    assert await debit(998) == 0
    lows = await events_of(db, merchant.merchant_id, "balance.low")
    assert [e["data"]["balance_cents"] for e in lows] == [999]
    assert len(await events_of(db, merchant.merchant_id, "wallet.debited")) == 5
    await assert_ledger_balanced(db)
