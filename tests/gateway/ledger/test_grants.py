"""A debit writes no credit grant: what it took waits on the wallet (``undrawn_cents``) and the
next change of the grants draws it first, in the draw order, so each debit is drawn from the
grants there were when it was made. On both stores, through the doors a merchant uses: a grant
made by the operator (``ledger.credit``) and one made by a plan (a check-in), each after sends."""

import httpx
import pytest
from sqlalchemy import select

from gateway.ledger import service as ledger
from gateway.store.engine import Database
from gateway.store.models import Wallet, table_of
from tests.fixtures.grants import grant, grants_listed
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.plans import captured

SEND = {"platform": "claude", "recipient_email": "draw@example.com"}
_W = table_of(Wallet)


async def _remaining(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, int]:
    return {i: g["remaining_cents"] for i, g in (await grants_listed(client, headers)).items()}


async def _undrawn(db: Database, merchant: MerchantKey) -> int:
    owner = ledger.merchant_owner(merchant.merchant_id)
    async with db.read() as conn:
        found = await conn.execute(
            select(_W.c.undrawn_cents).where(_W.c.owner == owner, _W.c.env == merchant.env)
        )
        return int(found.scalar_one())


async def _send(client: httpx.AsyncClient, merchant: MerchantKey, amount: int) -> None:
    sent = await client.post(
        "/topup/send", json={**SEND, "amount_cents": amount}, headers=merchant.headers
    )
    assert sent.json()["code"] == 1001, sent.text


async def test_a_send_writes_no_grant_and_the_next_grant_finds_it_drawn(
    db: Database,
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    merchant = await make_merchant("live", balance_cents=1000)  # one paid grant
    [paid] = await _remaining(billing_client, merchant.headers)
    with captured(db, monkeypatch) as seen:
        await _send(billing_client, merchant, 200)
        await _send(billing_client, merchant, 100)
    assert not [sql for sql, _ in seen if "credit_grants" in sql]
    assert await _undrawn(db, merchant) == 300
    await assert_ledger_balanced(db)
    # Drawn first at priority 0, but made after the sends: they were drawn from the paid grant.
    first = await grant(admin_client, merchant.merchant_id, "live", 500, category="promotional")
    assert await _undrawn(db, merchant) == 0
    await _send(billing_client, merchant, 150)
    # The list draws what waits too: this send, from the promotional grant now first.
    assert await _remaining(billing_client, merchant.headers) == {paid: 700, first: 350}
    assert await _undrawn(db, merchant) == 0
    await assert_ledger_balanced(db)


async def test_a_plan_that_makes_a_grant_draws_the_debits_before_it(
    db: Database, billing_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging", balance_cents=1000)
    before = await _remaining(billing_client, merchant.headers)
    await _send(billing_client, merchant, 200)
    checked = await billing_client.post("/checkin", headers=merchant.headers)
    assert checked.status_code == 200, checked.text
    gift = int(checked.json()["data"]["amount_cents"])
    # The check-in's promotional grant is drawn before bought credit, but the send came first.
    assert await _undrawn(db, merchant) == 0
    after = await _remaining(billing_client, merchant.headers)
    [made] = set(after) - set(before)
    assert after[made] == gift
    assert sum(after.values()) == 800 + gift
    await _send(billing_client, merchant, 5)
    assert (await _remaining(billing_client, merchant.headers))[made] == gift - 5
    await assert_ledger_balanced(db)
