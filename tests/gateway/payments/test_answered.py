"""A keyed send answers in its own plan (``payments.once.answered``): its key and its answer are
one row, written last by the plan's one statement, the answer sealed before the plan ran and
the values only the plan computed kept beside it in clear (``filled``). Every reply, the first
and each replay, is that answer with those values put in; a duplicate's statement fails whole on
the key, its debit with it. On PostgreSQL the send is that one statement, in autocommit: the
merchant wallet's row is locked for it alone."""

import asyncio
import functools
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.callers import authenticate
from gateway.mail import rows as mail
from gateway.store.engine import Database
from gateway.store.models import IdempotencyRecord, Topup, table_of
from gateway.store.raw import Raw
from gateway.topup import service
from gateway.topup.schemas import SendRequest
from keys import Sealer
from tests.fixtures.core import TEST_PEPPER, TEST_SECRET, local_client
from tests.fixtures.merchants import MakeMerchant, merchant_balance, unbalanced_wallets
from tests.fixtures.policies import rendering, renderings

_I, _T = table_of(IdempotencyRecord), table_of(Topup)
STAGED = mail.status_for("staging")  # staging's voucher mail: written, never sent


async def _kept(db: Database, api_key_id: str, key: str) -> Any:
    query = select(_I.c.response_body, _I.c.filled).where(
        _I.c.api_key_id == api_key_id, _I.c.key == key
    )
    async with db.read() as conn:
        return (await conn.execute(query)).one()


@pytest.mark.parametrize("notify", [True, False], ids=["mail", "no mail"])
async def test_a_keyed_sends_reply_and_replay_are_its_sealed_answer_with_the_plans_values(
    db: Database, make_merchant: MakeMerchant, monkeypatch: pytest.MonkeyPatch, notify: bool
) -> None:
    sealer = Sealer(TEST_SECRET.encode())
    for one_statement in renderings(db):
        merchant = await make_merchant(balance_cents=10_000)
        caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
        body = SendRequest.model_validate(
            {
                "platform": "claude",
                "amount_cents": 700,
                "recipient_email": f"ann-{uuid.uuid4().hex[:8]}@example.com",
                "notify_recipient": notify,
            },
            context={"max_topup_cents": 100_000},
        )
        key = f"k-{uuid.uuid4().hex}"

        sent = functools.partial(
            service.send,
            db,
            sealer,
            caller,
            body,
            idempotency_key=key,
            idempotency_ttl_seconds=3600,
        )
        with rendering(monkeypatch, one_statement):
            first = await sent()
            again = await sent()
        assert first.code == 1001 and not first.replayed
        data = first.data
        assert data["wallet_balance_cents"] == 10_000 - 700
        assert data["new_balance_cents"] == 700
        assert data["mail"] == (STAGED if notify else "off")
        assert again.replayed and again.body().render() == first.body().render()
        # The row: the answer sealed without the plan's values, which stand beside it in clear.
        sealed, filled = await _kept(db, caller.key_id, key)
        assert "voucher" not in sealed and str(10_000 - 700) not in sealed
        assert json.loads(filled) == {
            "wallet_balance_cents": 10_000 - 700,
            "new_balance_cents": 700,
            "mail": STAGED if notify else None,
        }
        assert await merchant_balance(db, merchant) == 10_000 - 700


async def test_duplicates_racing_for_a_wallet_that_holds_one_send_all_get_its_reply(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    """The first duplicate debits; each other either finds the key taken once its own debit ran
    (its statement undone whole) or finds the wallet empty and then the key taken: every one
    answers the first's send, none a shortfall, and the wallet is debited once."""
    merchant = await make_merchant(balance_cents=250)
    headers = {**merchant.headers, "Idempotency-Key": "only-one"}
    send = {"platform": "claude", "amount_cents": 250, "recipient_email": "one@example.com"}
    async with local_client(
        base_url=live_url, limits=httpx.Limits(max_connections=40), timeout=60
    ) as http:
        replies = await asyncio.gather(
            *(http.post("/topup/send", json=send, headers=headers) for _ in range(40))
        )
    assert {r.status_code for r in replies} == {200}, {r.text for r in replies}
    assert len({r.content for r in replies}) == 1
    assert await merchant_balance(db, merchant) == 0
    async with db.read() as conn:
        made = await conn.execute(select(_T.c.id).where(_T.c.merchant_id == merchant.merchant_id))
        assert len(made.all()) == 1
    assert await unbalanced_wallets(db) == []


async def test_on_postgres_a_keyed_send_is_one_statement_in_autocommit(
    db: Database, make_merchant: MakeMerchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No BEGIN, no second trip for the answer, no COMMIT: the statement that locks the
    merchant's wallet commits by itself, as a send without a key does."""
    if db.is_sqlite:
        pytest.skip("SQLite runs a send whole in one trip to its writer's thread")
    merchant = await make_merchant(balance_cents=10_000)
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    body = SendRequest.model_validate(
        {"platform": "claude", "amount_cents": 300, "recipient_email": "solo@example.com"},
        context={"max_topup_cents": 100_000},
    )
    seen: list[bool] = []
    fetch = Raw.fetch

    async def watched(self: Raw, statement: Any, params: dict[str, Any]) -> Any:
        seen.append(self.driver.is_in_transaction())
        return await fetch(self, statement, params)

    with monkeypatch.context() as patch:
        patch.setattr(Raw, "fetch", watched)
        sent = await service.send(
            db,
            Sealer(TEST_SECRET.encode()),
            caller,
            body,
            idempotency_key="solo",
            idempotency_ttl_seconds=3600,
        )
    assert sent.code == 1001
    assert seen == [False]
