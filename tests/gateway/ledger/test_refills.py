"""An auto top-up's run is written by the debit that crosses the wallet's armed threshold, in
both renderings of a payment alike; and a debit that does not cross runs no statement more, in
order (SQLite's rendering), than one with nothing armed."""

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from gateway.store.engine import Database
from gateway.store.models import AutoTopUpRun, Wallet, table_of
from gateway.store.raw import Raw, Statement
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.policies import rendering, renderings

_R = table_of(AutoTopUpRun)
_W = table_of(Wallet)


async def _arm(db: Database, merchant: MerchantKey, below: int | None) -> None:
    """The armed threshold written as ``billing.auto_top_up`` writes it (its settings aside)."""
    async with db.transaction() as conn:
        await conn.execute(
            update(_W)
            .where(_W.c.owner == f"m:{merchant.merchant_id}", _W.c.env == merchant.env)
            .values(auto_top_up_below=below)
        )


async def _send(client: httpx.AsyncClient, merchant: MerchantKey, amount: int) -> None:
    body = {
        "platform": "claude",
        "amount_cents": amount,
        "recipient_email": f"r-{uuid.uuid4().hex[:8]}@example.com",
    }
    sent = await client.post("/topup/send", json=body, headers=merchant.headers)
    assert sent.json()["code"] == 1001, sent.text


async def _runs(db: Database, merchant: MerchantKey) -> list[str]:
    async with db.read() as conn:
        found = await conn.execute(
            select(_R.c.status).where(_R.c.merchant_id == merchant.merchant_id)
        )
        return [row.status for row in found]


async def test_only_the_crossing_debit_writes_a_run_in_either_rendering(
    client: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for one_statement in renderings(db):
        merchant = await make_merchant(balance_cents=10_000)
        await _arm(db, merchant, 5_000)
        with rendering(monkeypatch, one_statement):
            await _send(client, merchant, 4_000)  # 6,000: above
            assert await _runs(db, merchant) == [], one_statement
            await _send(client, merchant, 1_000)  # 5,000: at the threshold is not under it
            assert await _runs(db, merchant) == [], one_statement
            await _send(client, merchant, 1)  # 4,999: crossed
            assert await _runs(db, merchant) == ["due"], one_statement
            await _send(client, merchant, 1)  # still under: no second run
            assert await _runs(db, merchant) == ["due"], one_statement


async def test_a_debit_that_does_not_cross_runs_no_statement_more(
    client: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[str] = []
    fetch = Raw.fetch

    async def counted(self: Raw, statement: Statement, params: dict[str, Any]) -> Any:
        ran.append(str(statement.sqlite[0] if self.is_sqlite else statement.asyncpg[0]))
        return await fetch(self, statement, params)

    async def statements(armed: int | None) -> list[str]:
        merchant = await make_merchant(balance_cents=10_000)
        await _arm(db, merchant, armed)
        with rendering(monkeypatch, False), monkeypatch.context() as patch:
            patch.setattr(Raw, "fetch", counted)
            ran.clear()
            await _send(client, merchant, 1_000)
            return list(ran)

    plain, armed = await statements(None), await statements(2_000)
    assert len(armed) == len(plain)
    assert not any("auto_top_up_runs" in sql for sql in armed)
