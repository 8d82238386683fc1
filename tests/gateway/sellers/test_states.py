"""A payment to a seller's states, walked pair by pair on each store: a move the table names
moves a row in its from-state (and writes its release and its event); a row in any other state
is left as it was, nothing written; a pair the table does not name is refused before anything
is written."""

import itertools
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from gateway.sellers import states
from gateway.sellers.authorizing import read
from gateway.store.engine import Database
from gateway.store.models import SellerPayment, table_of
from gateway.store.states import NoSuchMove
from gateway.values.clock import utcnow
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced
from tests.fixtures.seller_payments import events_of, ledger_kinds, pay, written
from tests.fixtures.tally_payer import TallyPayer

_P = table_of(SellerPayment)
WRITTEN = (
    states.HELD,
    states.PENDING,
    states.AUTHORIZED,
    states.USED,
    states.RELEASED,
    states.FAILED,
    states.DENIED,
    states.EXPIRED,
)
ARGS: dict[str, dict[str, Any]] = {
    states.AUTHORIZED: {"made_sealed": "v1:sealed"},
    states.USED: {"used_cents": 25},
    states.FAILED: {"reason": "4107: refused"},
}


@pytest.mark.parametrize(("source", "target"), list(itertools.permutations(WRITTEN, 2)))
async def test_every_pair_of_states(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    tally: TallyPayer,
    source: str,
    target: str,
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    made = await pay(client, merchant, "s-1")
    payment_id = made.json()["data"]["id"]
    # A move out of a hold is a decision while its window is open, the expiry once it closed.
    closes = utcnow() + (timedelta(seconds=-1) if target == states.EXPIRED else timedelta(hours=1))
    async with db.transaction() as conn:
        await conn.execute(
            update(_P)
            .where(_P.c.id == payment_id)
            .values(status=source, approval_expires_at=closes)
        )
    before = await written(db, merchant)
    kinds = await ledger_kinds(db, merchant.merchant_id)
    allowed = (source, target) in states.TRANSITIONS
    for state in WRITTEN:  # the row in each state in turn, the move asked from its own
        async with db.transaction() as conn:
            await conn.execute(update(_P).where(_P.c.id == payment_id).values(status=state))
            row = await read(conn, payment_id)
            if not allowed:
                with pytest.raises(NoSuchMove):
                    await states.move(
                        conn,
                        SimpleNamespace(**{**row._asdict(), "status": source}),
                        target,
                        utcnow(),
                    )
                continue
            told = await states.move(
                conn,
                SimpleNamespace(**{**row._asdict(), "status": source}),
                target,
                utcnow(),
                **ARGS.get(target, {}),
            )
            if state != source:
                assert told is None, (state, source, target)
                continue
            assert told is not None
            assert (await read(conn, payment_id)).status == target
            await conn.execute(update(_P).where(_P.c.id == payment_id).values(status=source))
    after = await written(db, merchant)
    t = states.TRANSITIONS.get((source, target))
    if t is None:
        assert after == before
        return
    events = [kind for kind, _ in await events_of(db, merchant.merchant_id)]
    if t.event is None:  # the move tells nothing: the payment's own events only
        assert events == ["payment.authorized"]
    else:
        assert events[-1] == t.event
    released = await ledger_kinds(db, merchant.merchant_id)
    assert released[: len(kinds)] == kinds
    assert released[len(kinds) :] == ([("payment_release", 25)] if t.release else [])
    await assert_ledger_balanced(db)
