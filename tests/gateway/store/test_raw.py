"""Raw driver statements belong to the surrounding transaction on both backends."""

import pytest
from sqlalchemy import func, select

from gateway.clock import utcnow
from gateway.ledger import service as ledger
from gateway.store.db import Database
from gateway.store.models import LedgerEntry
from tests.conftest import MakeMerchant, merchant_balance, unbalanced_wallets


class Boom(Exception):
    pass


async def _entries(db: Database, reference: str) -> int:
    async with db.engine.connect() as conn:
        stmt = select(func.count()).where(LedgerEntry.reference == reference)
        return int((await conn.execute(stmt)).scalar_one())


async def test_a_raw_first_statement_rolls_back_with_its_transaction(
    db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    async with db.engine.connect() as conn:
        wallet = await ledger.balance(conn, "staging", ledger.merchant_owner(merchant.merchant_id))
    assert wallet is not None
    entry = ledger.Entry(wallet.wallet_id, "staging", 5, "adjustment", f"ref-{merchant.key_id}")
    with pytest.raises(Boom):
        async with db.begin() as conn:
            await ledger.append(conn, [entry], utcnow())  # raw, and the first statement
            await ledger.credit(conn, wallet.wallet_id, 5, utcnow())
            raise Boom
    assert await _entries(db, entry.reference or "") == 0
    assert await merchant_balance(db, merchant) == wallet.balance_cents

    async with db.begin() as conn:
        await ledger.append(conn, [entry], utcnow())
        await ledger.credit(conn, wallet.wallet_id, 5, utcnow())
    assert await _entries(db, entry.reference or "") == 1
    assert await merchant_balance(db, merchant) == wallet.balance_cents + 5
    assert await unbalanced_wallets(db) == []
