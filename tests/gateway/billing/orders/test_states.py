"""An order's table of moves (``billing.orders.states``), walked pair by pair on each store.

Every order is a real row of ``funding_orders`` put in the state under test. An allowed move
moves it (its status and ``updated_at``, and what the caller adds, nothing else); a pair the
table refuses, and an allowed move of an order in another state, change nothing; of moves racing
from one state, exactly one moves the order.
"""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gateway.billing.orders import states as order_states
from gateway.billing.orders.states import STATES, TRANSITIONS, Transition
from gateway.store.engine import Database
from gateway.store.models import FundingOrder, table_of
from gateway.store.states import NEW, NoSuchMove
from gateway.values.clock import utcnow
from tests.fixtures.billing import insert_orders, order_row
from tests.fixtures.merchants import MakeMerchant

_O = table_of(FundingOrder)

EXISTING = [s for s in STATES if s != NEW]
ALLOWED = [t for t in TRANSITIONS.values() if t.source != NEW]
REFUSED = [(s, t) for s in EXISTING for t in STATES if (s, t) not in TRANSITIONS]
# An allowed move, and an order in another state than its from-state.
ELSEWHERE = [(t, found) for t in ALLOWED for found in EXISTING if found != t.source]


def _name(t: Transition) -> str:
    return f"{t.source}->{t.target}"


async def _order(db: Database, make_merchant: MakeMerchant, status: str, count: int = 1) -> str:
    """A live merchant's ``count`` orders in ``status`` (an open checkout's expiry set): its id."""
    merchant = await make_merchant("live")
    expires_at = utcnow() + timedelta(minutes=30)
    rows = [
        order_row(merchant.merchant_id, status=status, expires_at=expires_at) for _ in range(count)
    ]
    async with db.transaction() as conn:
        await insert_orders(conn, rows)
    return merchant.merchant_id if count > 1 else str(rows[0]["id"])


async def _rows(db: Database, *where: Any) -> list[dict[str, Any]]:
    async with db.read() as conn:
        found = await conn.execute(select(_O).where(*where).order_by(_O.c.id))
        return [dict(r._mapping) for r in found]


def _later() -> Any:
    return (utcnow() + timedelta(minutes=5)).replace(microsecond=0)


def test_every_pair_of_states_is_in_the_table_or_refused() -> None:
    for source in STATES:
        for target in STATES:
            if (source, target) in TRANSITIONS:
                t = order_states.transition(source, target)
                assert (t.source, t.target) == (source, target)
            else:
                with pytest.raises(NoSuchMove):
                    order_states.transition(source, target)
    assert {s for pair in TRANSITIONS for s in pair} <= set(STATES)


def test_an_order_is_written_only_in_a_state_the_table_starts_it_in() -> None:
    assert order_states.first(order_states.PENDING) == "pending"
    assert order_states.first(order_states.COMPLETED) == "completed"
    for state in (order_states.FAILED, order_states.EXPIRED, NEW):
        with pytest.raises(NoSuchMove):
            order_states.first(state)


@pytest.mark.parametrize("t", ALLOWED, ids=_name)
async def test_an_allowed_move_moves_the_order_and_nothing_else(
    db: Database, make_merchant: MakeMerchant, t: Transition
) -> None:
    order_id = await _order(db, make_merchant, t.source)
    [before] = await _rows(db, _O.c.id == order_id)
    later = _later()
    async with db.transaction() as conn:
        moved = await order_states.move(
            conn,
            t.source,
            t.target,
            later,
            _O.c.id == order_id,
            values={"failure_reason": "moved"},
            returning=(_O.c.id, _O.c.status),
        )
    assert [tuple(r) for r in moved] == [(order_id, t.target)]
    changed = {"status": t.target, "updated_at": later, "failure_reason": "moved"}
    assert await _rows(db, _O.c.id == order_id) == [{**before, **changed}]


@pytest.mark.parametrize("pair", REFUSED, ids="->".join)
async def test_a_move_the_table_refuses_changes_nothing(
    db: Database, make_merchant: MakeMerchant, pair: tuple[str, str]
) -> None:
    source, target = pair
    order_id = await _order(db, make_merchant, source)
    before = await _rows(db, _O.c.id == order_id)
    with pytest.raises(NoSuchMove):
        async with db.transaction() as conn:
            await order_states.move(conn, source, target, _later(), _O.c.id == order_id)
    assert await _rows(db, _O.c.id == order_id) == before


@pytest.mark.parametrize(
    ("t", "found"), ELSEWHERE, ids=[f"{_name(t)}@{found}" for t, found in ELSEWHERE]
)
async def test_an_allowed_move_of_an_order_in_another_state_changes_nothing(
    db: Database, make_merchant: MakeMerchant, t: Transition, found: str
) -> None:
    order_id = await _order(db, make_merchant, found)
    before = await _rows(db, _O.c.id == order_id)
    async with db.transaction() as conn:
        moved = await order_states.move(conn, t.source, t.target, _later(), _O.c.id == order_id)
    assert list(moved) == []
    assert await _rows(db, _O.c.id == order_id) == before


async def test_a_move_over_many_orders_moves_those_in_its_from_state(
    db: Database, make_merchant: MakeMerchant
) -> None:
    """The expiry sweep's shape: one statement over a batch, each order judged on its row."""
    merchant_id = await _order(db, make_merchant, order_states.PENDING, count=3)
    paid = order_row(merchant_id, status=order_states.COMPLETED)
    async with db.transaction() as conn:
        await insert_orders(conn, [paid])
        moved = await order_states.move(
            conn,
            order_states.PENDING,
            order_states.EXPIRED,
            _later(),
            _O.c.merchant_id == merchant_id,
        )
    assert len(moved) == 3
    statuses = sorted(r["status"] for r in await _rows(db, _O.c.merchant_id == merchant_id))
    assert statuses == ["completed", "expired", "expired", "expired"]


@pytest.mark.parametrize("source", sorted({t.source for t in ALLOWED}))
async def test_of_moves_racing_from_one_state_one_wins(
    db: Database, make_merchant: MakeMerchant, source: str
) -> None:
    order_id = await _order(db, make_merchant, source)
    # Every move out of ``source``, each four times, at once.
    targets = [t.target for t in ALLOWED if t.source == source] * 4
    later = _later()

    async def one(target: str) -> int:
        async with db.transaction() as conn:
            moved = await order_states.move(conn, source, target, later, _O.c.id == order_id)
        return len(moved)

    won = await asyncio.gather(*(one(target) for target in targets))
    assert sorted(won) == [0] * (len(targets) - 1) + [1]
    [row] = await _rows(db, _O.c.id == order_id)
    assert row["status"] == targets[won.index(1)]
