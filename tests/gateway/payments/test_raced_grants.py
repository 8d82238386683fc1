"""A payment whose debit raced a new credit grant is run again, ``RACED_TRIES`` times in all;
when every run raced one, it is answered with a retryable 429 (``4662``, ``Retry-After``), not
an ``insufficient_balance`` that says nothing is missing: nothing was paid and nothing is kept
under its key, so the same request, sent again, pays. On each store.

The race is forced by a stand-in for the refusal's read (``once.shortfall_data``) that first
grants the wallet what it lacked, in the run's own transaction, with the ledger's own credit:
the debit found the wallet short, the read finds it holding the amount, which is what a grant
committed between the two shows on PostgreSQL. The run's undo takes the grant with it, so each
run races one.
"""

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from gateway.billing.wallet.shortfall import shortfall_data
from gateway.ledger import grants
from gateway.ledger import service as ledger
from gateway.payments import once
from gateway.store.db import Database
from gateway.store.raw import Raw
from gateway.values.clock import utcnow
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.seller_payments import pay, written
from tests.fixtures.tally_payer import TallyPayer

SEND = {"platform": "claude", "amount_cents": 150, "recipient_email": "race@example.com"}
RACED, SENT, SHORT, PAID = 4662, 1001, 4001, 4641

Read = Callable[[Raw, str, int, str | None], Awaitable[dict[str, Any]]]


class Racer:
    """The stand-in: before each of the first ``races`` refusal reads, a grant of what the
    wallet lacks, as a credit of another request would make it."""

    def __init__(self, real: Read, races: int) -> None:
        self.real, self.races, self.reads = real, races, 0

    async def __call__(
        self, tx: Raw, wallet_id: str, amount: int, base: str | None
    ) -> dict[str, Any]:
        self.reads += 1
        if self.reads <= self.races:
            found = await self.real(tx, wallet_id, amount, base)
            lacking = int(found["shortfall_cents"])
            now = utcnow()
            await ledger.credit(tx, wallet_id, lacking, now, grants.Grant("promotional"))
            entry = ledger.Entry(wallet_id, "staging", lacking, "adjustment", "adj_race", None)
            await ledger.append(tx, [entry], now)
        return await self.real(tx, wallet_id, amount, base)


@pytest.fixture
def racing(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], Racer]]:
    def start(races: int) -> Racer:
        racer = Racer(shortfall_data, races)
        monkeypatch.setattr(once, "shortfall_data", racer)
        return racer

    yield start


async def _send(client: httpx.AsyncClient, merchant: MerchantKey, key: str) -> httpx.Response:
    headers = {**merchant.headers, "Idempotency-Key": key}
    return await client.post("/topup/send", json=SEND, headers=headers)


async def test_a_send_that_raced_a_grant_each_run_is_told_to_retry(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    racing: Callable[[int], Racer],
) -> None:
    merchant = await make_merchant(balance_cents=100)
    before = await written(db, merchant)
    racer = racing(once.RACED_TRIES)
    reply = await _send(client, merchant, "raced-1")
    body = reply.json()
    assert (reply.status_code, body["code"], body["success"]) == (429, RACED, False), body
    assert reply.headers["Retry-After"] == str(grants.RACED_RETRY_AFTER)
    assert body["data"] == {"tries": once.RACED_TRIES}
    assert racer.reads == once.RACED_TRIES
    # Nothing paid, and each run's grant undone with it.
    assert await written(db, merchant) == before
    await assert_ledger_balanced(db)

    # The key kept nothing: once the wallet holds the amount, the same request pays.
    racer.races = 0
    async with db.transaction() as conn:
        wallet = await ledger.balance(conn, "staging", ledger.merchant_owner(merchant.merchant_id))
        assert wallet is not None
        await ledger.credit(conn, wallet.wallet_id, 50, utcnow(), grants.PAID)
        await ledger.append(
            conn, [ledger.Entry(wallet.wallet_id, "staging", 50, "adjustment", "adj_x")], utcnow()
        )
    again = await _send(client, merchant, "raced-1")
    assert again.json()["code"] == SENT, again.text
    assert await merchant_balance(db, merchant) == 0
    await assert_ledger_balanced(db)


async def test_a_send_that_raced_once_is_answered_by_its_next_run(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    racing: Callable[[int], Racer],
) -> None:
    """The run after a race reads the wallet again: here as short as before (the raced grant
    was the undone run's), so the refusal is a true one, with what is missing."""
    merchant = await make_merchant(balance_cents=100)
    racer = racing(1)
    reply = await _send(client, merchant, "raced-2")
    body = reply.json()
    assert (reply.status_code, body["code"]) == (402, SHORT), body
    assert body["data"]["shortfall_cents"] == 50
    assert racer.reads == 2
    await assert_ledger_balanced(db)


async def test_a_payment_to_a_seller_that_raced_each_run_is_told_to_retry(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    tally: TallyPayer,
    racing: Callable[[int], Racer],
) -> None:
    merchant = await make_merchant(balance_cents=24)  # a Tally challenge asks 25
    before = await written(db, merchant)
    racer = racing(once.RACED_TRIES)
    reply = await pay(client, merchant, "raced-3")
    body = reply.json()
    assert (reply.status_code, body["code"]) == (429, RACED), body
    assert reply.headers["Retry-After"] == str(grants.RACED_RETRY_AFTER)
    assert racer.reads == once.RACED_TRIES
    assert await written(db, merchant) == before
    assert tally.makes == []
    await assert_ledger_balanced(db)
