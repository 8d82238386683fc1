"""Every plan that makes a merchant a credit grant draws the wallet's undrawn debits from its
grants first (``grants.settle_steps``, statements of their own before the plan's), so no debit
is ever drawn from a grant made after it: the check-in and the app's charge, which pays its
owner. A give-back (a top-up's refund, a payment's release) makes none: it restores the grants
its debit was drawn from after its plan (``giveback``), which settles the wallet first. Found
by what the steps write, so a new step that makes a grant in one of them is held to it too."""

from collections.abc import Iterator

import pytest

from gateway.apps import charging
from gateway.billing.checkin import daily
from gateway.sellers import states
from gateway.store.compose import Plan
from gateway.store.states import NEW
from gateway.topup import lifecycle

_GRANT = "INSERT INTO credit_grants"


def _plans() -> Iterator[tuple[str, Plan]]:
    for source, target in lifecycle.TRANSITIONS:
        if source != lifecycle.NEW:
            yield f"top-up {source} to {target}", lifecycle.plan(source, target)
    for (source, target), move in states.TRANSITIONS.items():
        if source == NEW:
            continue
        for released in {move.release, move.release or target == states.USED}:
            yield f"payment {source} to {target}", states.plan(source, target, released)
    yield "check-in", daily.PLAN
    yield "charge", charging.charge_plan(("daily",))


def _statements(built: Plan, *, lock: bool) -> list[tuple[str, tuple[str, ...]]]:
    pairs = zip(built.steps, built.in_order, strict=True)
    return [statement.sqlite[:2] for step, statement in pairs if step.lock == lock]


@pytest.mark.parametrize(
    "name,built", list(_plans()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_plan_that_makes_a_grant_settles_its_wallet_first(name: str, built: Plan) -> None:
    granting = [names for sql, names in _statements(built, lock=False) if _GRANT in sql]
    locks = _statements(built, lock=True)
    drawn = [names for sql, names in locks if sql.startswith("UPDATE credit_grants")]
    if not granting:
        assert not drawn, f"{name} settles a wallet it makes no grant in"
        return
    assert len(granting) == len(drawn) == 1, name
    # The wallet settled is the one granted: the same parameter names it.
    [wallet] = [n for n in granting[0] if n.endswith("wallet_id")]
    assert wallet in drawn[0], name
    assert [sql.split()[0:2] for sql, _ in locks][-4:] == [
        ["SELECT", "wallets.id,"],
        ["INSERT", "INTO"],
        ["UPDATE", "credit_grants"],
        ["UPDATE", "wallets"],
    ], name


def test_the_plans_that_make_grants_are_all_found() -> None:
    granting = {
        name.split(" to ")[0].split()[0]
        for name, built in _plans()
        if any(_GRANT in sql for sql, _ in _statements(built, lock=False))
    }
    assert granting == {"check-in", "charge"}
