"""The ledger's pages are read by the wallet's index and its total is never counted: every
statement ``GET /billing/transactions`` runs on the ledger, as each store plans it. Both
stores."""

import httpx
import pytest

from gateway.billing import service
from gateway.billing.schemas import LedgerItem
from gateway.callers import Caller
from gateway.policies.model import UNRESTRICTED
from gateway.store.engine import Database
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.plans import captured, plan

INDEX = "ix_ledger_entries_wallet_id_id"


async def test_ledger_pages_are_read_by_the_wallets_index_and_never_counted(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    merchant = await make_merchant("staging")  # its initial funding entry
    for amount in (1, 2, 3, 4):
        await client.post("/sandbox/fund", json={"amount_cents": amount}, headers=merchant.headers)
    caller = Caller(merchant.key_id, merchant.merchant_id, "staging", 0, "", UNRESTRICTED)

    with captured(db, monkeypatch) as seen:
        first = await service.transactions(db, caller, limit=2)
        cursor = int((first.meta or {})["next_cursor"])
        deep = await service.transactions(db, caller, limit=2, cursor=cursor)
        skipped = await service.transactions(db, caller, limit=2, offset=2)

    assert [e.amount_cents for e in first.many(LedgerItem)] == [4, 3]
    assert deep.many(LedgerItem) == skipped.many(LedgerItem)
    assert [(m or {})["total"] for m in (first.meta, deep.meta, skipped.meta)] == [5, 5, 5]
    on_ledger = [s for s in seen if "FROM ledger_entries" in s[0]]
    assert len(on_ledger) == 3, seen
    for statement, parameters in on_ledger:
        assert "count(" not in statement.lower(), statement  # the total is the wallet's
        found = await plan(db, statement, parameters)
        assert INDEX in found, f"{statement}\n{found}"
    # By key, the page is sought in the index at the cursor and read in the index's own order
    # (backwards): nothing skipped, nothing sorted.
    by_key = next(s for s in on_ledger if "ledger_entries.id <" in s[0])
    found = await plan(db, by_key[0], by_key[1])
    assert "TEMP B-TREE" not in found and "Sort" not in found, found
    if db.is_sqlite:
        assert "wallet_id=? AND id<?" in found, found  # sought in the index, not filtered
    else:
        assert "Index Cond: (((wallet_id)::text = " in found and "(id < " in found, found
