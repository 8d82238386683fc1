"""Each wallet's ledger entries are numbered 1, 2, 3, … with no gap and none twice, whatever
runs at once: what a merchant reads of its ledger (the transactions, the CSV export) in place
of the table's id, which every wallet shares. The number costs a send no statement."""

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gateway.callers import authenticate
from gateway.store.engine import Database
from gateway.topup import service
from gateway.topup.schemas import SendRequest
from keys import Sealer
from tests.fixtures.core import TEST_PEPPER, TEST_SECRET, local_client
from tests.fixtures.merchants import MakeMerchant, MerchantKey, unbalanced_wallets
from tests.fixtures.plans import captured

RACERS = 24  # per merchant, both at once

# The statements of one delivered send (no idempotency key, no endpoint) on each store, as
# before its entries were numbered: its plan as one statement on PostgreSQL, its steps in order
# on SQLite (the low-balance event only when a level was crossed; the credit grants none, the
# debit leaving its amount undrawn). The numbers are read from what the debit and the credit
# return.
SEND_STATEMENTS = {"sqlite": 7, "postgres": 1}


async def _ledger(http: httpx.AsyncClient, merchant: MerchantKey) -> list[dict[str, object]]:
    reply = await http.get(
        "/billing/transactions", params={"limit": "100"}, headers=merchant.headers
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["meta"]["has_more"] is False
    assert body["meta"]["total"] == len(body["data"])
    entries: list[dict[str, object]] = body["data"]
    return entries


async def test_racing_sends_number_each_wallets_entries_one_to_n(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    one = await make_merchant("live", balance_cents=100_000)
    other = await make_merchant("live", balance_cents=100_000)
    staging = await make_merchant("staging", merchant_id=one.merchant_id)

    def body(n: int) -> dict[str, object]:
        # Three recipients, so their wallets' entries race too.
        return {"platform": "claude", "amount_cents": 100, "recipient_email": f"r{n % 3}@x.io"}

    limits = httpx.Limits(max_connections=2 * RACERS)
    async with local_client(base_url=live_url, limits=limits, timeout=60) as http:
        replies = await asyncio.gather(
            *(
                http.post("/topup/send", json=body(n), headers=who.headers)
                for n in range(RACERS)
                for who in (one, other)
            )
        )
        assert {r.json()["code"] for r in replies} == {1001}
        mine, theirs = await _ledger(http, one), await _ledger(http, other)
        in_staging = await _ledger(http, staging)
        now = datetime.now(UTC)
        window = {
            "from": (now - timedelta(hours=1)).isoformat(),
            "to": (now + timedelta(hours=1)).isoformat(),
        }
        exported = await http.get("/exports/ledger.csv", params=window, headers=one.headers)
    # The funding and a debit per send, newest first: N down to 1, per merchant and environment,
    # where the ids of the two merchants' entries interleave.
    for entries in (mine, theirs):
        assert [e["number"] for e in entries] == list(range(RACERS + 1, 0, -1))
    assert [e["number"] for e in in_staging] == [1]
    [header, *rows] = list(csv.reader(io.StringIO(exported.text)))
    assert header[0] == "id" and header[-1] == "number"
    assert [int(r[-1]) for r in rows] == list(range(1, RACERS + 2))
    assert [int(r[0]) for r in rows] == sorted(int(str(e["id"])) for e in mine)
    # Every wallet, the recipients' included: numbered 1 to its count, none twice.
    assert await unbalanced_wallets(db) == []


async def test_numbering_a_send_adds_no_statement(
    db: Database, make_merchant: MakeMerchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    body = SendRequest.model_validate(
        {"platform": "claude", "amount_cents": 100, "recipient_email": f"{uuid.uuid4().hex}@x.io"},
        context={"max_topup_cents": 100_000},
    )
    sealer = Sealer(TEST_SECRET.encode())
    with captured(db, monkeypatch) as seen:
        sent = await service.send(
            db, sealer, caller, body, idempotency_key=None, idempotency_ttl_seconds=3600
        )
    assert sent.data is not None
    assert len(seen) == SEND_STATEMENTS["sqlite" if db.is_sqlite else "postgres"], seen
