"""The one conditional move (``store.states``) on each store, over a table of moves of its own
on real ``funding_orders`` rows: a move names only from-states its table allows, none of them
``NEW``, and is refused before anything is written otherwise; a move from several states moves
a row in any of them and no other."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import FundingOrder, table_of
from gateway.store.states import NEW, NoSuchMove, States
from gateway.values.clock import utcnow
from tests.fixtures.billing import insert_orders, order_row
from tests.fixtures.merchants import MakeMerchant

_O = table_of(FundingOrder)


@dataclass(frozen=True)
class _Move:
    source: str
    target: str


_TABLE = {(m.source, m.target): m for m in [_Move(NEW, "a"), _Move("a", "c"), _Move("b", "c")]}
_STATES = States("a toy", _O, _TABLE)


async def _orders(db: Database, make_merchant: MakeMerchant, *statuses: str) -> list[str]:
    merchant = await make_merchant("live")
    rows = [order_row(merchant.merchant_id, status=s) for s in statuses]
    async with db.transaction() as conn:
        await insert_orders(conn, rows)
    return [str(r["id"]) for r in rows]


async def _statuses(db: Database, ids: list[str]) -> list[str]:
    async with db.read() as conn:
        found = dict(
            (await conn.execute(select(_O.c.id, _O.c.status).where(_O.c.id.in_(ids)))).all()
        )
    return [found[i] for i in ids]


def test_the_table_says_where_a_row_starts_and_what_moves_where() -> None:
    assert _STATES.first("a") == "a"
    with pytest.raises(NoSuchMove):
        _STATES.first("c")
    assert _STATES.into("c") == ("a", "b")
    assert _STATES.into("a") == ()


@pytest.mark.parametrize("sources", [NEW, (), ("a", "c"), ("a", NEW), "c"])
async def test_a_move_the_table_does_not_allow_writes_nothing(
    db: Database, make_merchant: MakeMerchant, sources: str | tuple[str, ...]
) -> None:
    ids = await _orders(db, make_merchant, "a", "b")
    with pytest.raises(NoSuchMove):
        async with db.transaction() as conn:
            await _STATES.move(conn, sources, "c", utcnow(), _O.c.id.in_(ids))
    assert await _statuses(db, ids) == ["a", "b"]


async def test_a_move_from_several_states_moves_a_row_in_any_of_them_and_no_other(
    db: Database, make_merchant: MakeMerchant
) -> None:
    ids = await _orders(db, make_merchant, "a", "b", "x")
    later = (utcnow() + timedelta(minutes=1)).replace(microsecond=0)
    async with db.transaction() as conn:
        moved = await _STATES.move(
            conn, _STATES.into("c"), "c", later, _O.c.id.in_(ids), returning=(_O.c.id,)
        )
    assert sorted(r.id for r in moved) == sorted(ids[:2])
    assert await _statuses(db, ids) == ["c", "c", "x"]
