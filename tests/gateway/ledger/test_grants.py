"""A debit's draw of credit grants: from the first grant in the draw order alone when it holds
the whole amount, by one plain UPDATE of that grant; over the running sum of them all when it
does not. Either way the grants are left as the one order says, on both stores."""

from typing import Any

import httpx
import pytest

from gateway.store.db import Database
from tests.fixtures.grants import grant, grants_listed
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced
from tests.fixtures.plans import captured

SEND = {"platform": "claude", "recipient_email": "draw@example.com"}


async def _remaining(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, int]:
    return {i: g["remaining_cents"] for i, g in (await grants_listed(client, headers)).items()}


def _running_sums(seen: list[tuple[str, Any]]) -> int:
    return sum("OVER (ORDER BY" in sql for sql, _ in seen)


async def test_the_first_grant_alone_when_it_holds_the_debit_else_the_running_sum(
    db: Database,
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    merchant = await make_merchant("live", balance_cents=1000)  # one paid grant
    [paid] = await _remaining(billing_client, merchant.headers)
    promo = await grant(admin_client, merchant.merchant_id, "live", 300)

    async def send(amount: int) -> list[tuple[str, Any]]:
        with captured(db, monkeypatch) as seen:
            sent = await billing_client.post(
                "/topup/send", json={**SEND, "amount_cents": amount}, headers=merchant.headers
            )
        assert sent.json()["code"] == 1001, sent.text
        return seen

    # Promotional before paid at the same priority: the first grant holds 200.
    seen = await send(200)
    assert await _remaining(billing_client, merchant.headers) == {promo: 100, paid: 1000}
    if db.is_sqlite:  # in order: the running sum is not run at all
        assert _running_sums(seen) == 0
    # 400 is more than the first grant holds: the rest comes from the next.
    seen = await send(400)
    assert await _remaining(billing_client, merchant.headers) == {promo: 0, paid: 700}
    if db.is_sqlite:
        assert _running_sums(seen) == 1
    # The spent grant is no longer live: the paid one is first and holds the debit.
    seen = await send(700)
    assert await _remaining(billing_client, merchant.headers) == {promo: 0, paid: 0}
    if db.is_sqlite:
        assert _running_sums(seen) == 0
    await assert_ledger_balanced(db)
