"""A subscription's table of moves (``billing.subscriptions.states``), walked pair by pair on
each store.

Every subscription is a real row of ``subscriptions`` (its merchant's only one) put in the state
under test. An allowed move moves it (its status, ``updated_at``, ``canceled_at`` when the move
ends it, and what the caller adds, nothing else); a pair the table refuses, and an allowed move
of a subscription in another state, change nothing; of moves racing from one state, exactly one
moves the subscription.
"""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from gateway.billing.subscriptions import states as subscription_states
from gateway.billing.subscriptions.states import STATES, TRANSITIONS, Transition
from gateway.store.engine import Database
from gateway.store.models import Plan, Subscription, table_of
from gateway.store.states import NEW, NoSuchMove
from gateway.values.clock import new_id, utcnow
from tests.fixtures.merchants import MakeMerchant

_S, _PL = table_of(Subscription), table_of(Plan)

EXISTING = [s for s in STATES if s != NEW]
ALLOWED = [t for t in TRANSITIONS.values() if t.source != NEW]
REFUSED = [(s, t) for s in EXISTING for t in STATES if (s, t) not in TRANSITIONS]
# An allowed move, and a subscription in another state than its from-state.
ELSEWHERE = [(t, found) for t in ALLOWED for found in EXISTING if found != t.source]


def _name(t: Transition) -> str:
    return f"{t.source}->{t.target}"


async def _subscription(db: Database, make_merchant: MakeMerchant, status: str) -> str:
    """A new live merchant's subscription to a new plan, in ``status``: its id."""
    merchant = await make_merchant("live")
    now = utcnow()
    plan_id, sub_id = new_id("plan"), new_id("sub")
    async with db.transaction() as conn:
        await conn.execute(
            insert(_PL).values(
                id=plan_id,
                env="live",
                name="Pro",
                description="",
                price_monthly=999,
                price_yearly=9990,
                credits_included=1000,
                features=[],
                active=True,
                sort_order=0,
                created_at=now,
                updated_at=now,
            )
        )
        await conn.execute(
            insert(_S).values(
                id=sub_id,
                env="live",
                merchant_id=merchant.merchant_id,
                plan_id=plan_id,
                interval="month",
                provider="stripe",
                status=status,
                cancel_at_period_end=False,
                card_fails=False,
                periods_paid=0,
                expires_at=now + timedelta(minutes=30),
                created_at=now,
                updated_at=now,
            )
        )
    return sub_id


async def _row(db: Database, sub_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        return dict((await conn.execute(select(_S).where(_S.c.id == sub_id))).one()._mapping)


def _later() -> Any:
    return (utcnow() + timedelta(minutes=5)).replace(microsecond=0)


def test_every_pair_of_states_is_in_the_table_or_refused() -> None:
    for source in STATES:
        for target in STATES:
            if (source, target) in TRANSITIONS:
                t = subscription_states.transition(source, target)
                assert (t.source, t.target) == (source, target)
            else:
                with pytest.raises(NoSuchMove):
                    subscription_states.transition(source, target)
    assert {s for pair in TRANSITIONS for s in pair} <= set(STATES)


def test_every_move_into_one_state_does_the_same() -> None:
    """What a provider's report moves (``subscriptions.move_state``) does is its target's."""
    for target in STATES:
        into = subscription_states.into(target)
        done = {(t.event, t.ends) for t in ALLOWED if t.target == target}
        assert len(done) <= 1
        assert set(into) == {t.source for t in ALLOWED if t.target == target}
        if into:
            entered = subscription_states.entered(target)
            assert {(entered.event, entered.ends)} == done
        else:
            with pytest.raises(NoSuchMove):
                subscription_states.entered(target)
    # Final: no move leaves them, and not paid yet is not past due.
    assert not [t for t in ALLOWED if t.source in ("canceled", "expired")]
    assert subscription_states.into("past_due") == ("active",)


def test_a_subscription_is_written_only_in_a_state_the_table_starts_it_in() -> None:
    assert subscription_states.first(subscription_states.INCOMPLETE) == "incomplete"
    for state in STATES:
        if state != subscription_states.INCOMPLETE:
            with pytest.raises(NoSuchMove):
                subscription_states.first(state)


@pytest.mark.parametrize("t", ALLOWED, ids=_name)
async def test_an_allowed_move_moves_the_subscription_and_nothing_else(
    db: Database, make_merchant: MakeMerchant, t: Transition
) -> None:
    sub_id = await _subscription(db, make_merchant, t.source)
    before = await _row(db, sub_id)
    later = _later()
    async with db.transaction() as conn:
        moved = await subscription_states.move(
            conn,
            t.source,
            t.target,
            later,
            _S.c.id == sub_id,
            values={"state_at": later},
            returning=(_S.c.id, _S.c.status),
        )
    assert [tuple(r) for r in moved] == [(sub_id, t.target)]
    changed = {"status": t.target, "updated_at": later, "state_at": later}
    if t.ends:
        changed["canceled_at"] = later
    assert await _row(db, sub_id) == {**before, **changed}


@pytest.mark.parametrize("pair", REFUSED, ids="->".join)
async def test_a_move_the_table_refuses_changes_nothing(
    db: Database, make_merchant: MakeMerchant, pair: tuple[str, str]
) -> None:
    source, target = pair
    sub_id = await _subscription(db, make_merchant, source)
    before = await _row(db, sub_id)
    with pytest.raises(NoSuchMove):
        async with db.transaction() as conn:
            await subscription_states.move(conn, source, target, _later(), _S.c.id == sub_id)
    assert await _row(db, sub_id) == before


@pytest.mark.parametrize(
    ("t", "found"), ELSEWHERE, ids=[f"{_name(t)}@{found}" for t, found in ELSEWHERE]
)
async def test_an_allowed_move_of_a_subscription_in_another_state_changes_nothing(
    db: Database, make_merchant: MakeMerchant, t: Transition, found: str
) -> None:
    sub_id = await _subscription(db, make_merchant, found)
    before = await _row(db, sub_id)
    async with db.transaction() as conn:
        moved = await subscription_states.move(
            conn, t.source, t.target, _later(), _S.c.id == sub_id
        )
    assert list(moved) == []
    assert await _row(db, sub_id) == before


@pytest.mark.parametrize("target", ["active", "canceled"])
@pytest.mark.parametrize("found", EXISTING)
async def test_a_move_from_every_state_the_table_allows_finds_only_those(
    db: Database, make_merchant: MakeMerchant, target: str, found: str
) -> None:
    """A provider's report of ``target`` moves a subscription from wherever the table allows."""
    sub_id = await _subscription(db, make_merchant, found)
    into = subscription_states.into(target)
    async with db.transaction() as conn:
        moved = await subscription_states.move(conn, into, target, _later(), _S.c.id == sub_id)
    assert len(moved) == (found in into)
    assert (await _row(db, sub_id))["status"] == (target if found in into else found)


@pytest.mark.parametrize("source", sorted({t.source for t in ALLOWED}))
async def test_of_moves_racing_from_one_state_one_wins(
    db: Database, make_merchant: MakeMerchant, source: str
) -> None:
    sub_id = await _subscription(db, make_merchant, source)
    # Every move out of ``source``, each three times, at once.
    targets = [t.target for t in ALLOWED if t.source == source] * 3
    later = _later()

    async def one(target: str) -> int:
        async with db.transaction() as conn:
            moved = await subscription_states.move(conn, source, target, later, _S.c.id == sub_id)
        return len(moved)

    won = await asyncio.gather(*(one(target) for target in targets))
    assert sorted(won) == [0] * (len(targets) - 1) + [1]
    assert (await _row(db, sub_id))["status"] == targets[won.index(1)]
