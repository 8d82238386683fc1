"""Every kind of payment is one plan of the same steps and one part of the same parameters: the
send's contract and the charge's both derive from ``Paying``, and both plans are built by
``payment_steps``, the debit first, its draw of the credit grants next and every other step
behind them."""

import pytest

from gateway.apps import charging
from gateway.ledger import grants
from gateway.ledger import service as ledger
from gateway.payments import plan
from gateway.policies import spend
from gateway.store.compose import Plan
from gateway.topup import sending, service

WINDOWS = ("spend_daily", "spend_recipient")
EVERY = plan.Paying.__required_keys__ | plan.BalanceLow.__required_keys__


def _send(outcome: str) -> tuple[Plan, frozenset[str]]:
    built = service._send_plan(outcome, WINDOWS)
    return built, sending.given(service._sent(outcome), WINDOWS)


@pytest.mark.parametrize("kind", ["delivered", "failed", "pending", "held", "charge"])
def test_every_payment_is_the_same_plan_of_the_same_part(kind: str) -> None:
    if kind == "charge":
        built, supplied = charging.charge_plan(WINDOWS), charging.given(WINDOWS)
    else:
        built, supplied = _send(kind)
    locks = [step.name for step in built.steps if step.lock]
    planned = [step for step in built.steps if not step.lock]
    names = [step.name for step in planned]
    assert planned[0].name == plan.DEBIT and planned[0].required
    assert not any(step.required for step in planned[1:])
    # The debit draws no credit grant (it leaves its amount undrawn): its windows' count right
    # behind it. A charge locks both merchants' wallets first and settles the payee's, which it
    # makes a grant in.
    assert names[1] == spend.SPEND_STEP
    payee = [s.name for s in grants.settle_steps(ledger.merchant_wallet(), name="payee_settle")]
    assert locks == (["wallets", *payee] if kind == "charge" else [])
    assert {"entries", "low", "low_deliveries"} <= set(names)
    assert names.index("entries") < names.index("low")
    assert supplied >= EVERY and built.binds == supplied
    for name in WINDOWS:
        assert set(spend.window_params(name)) <= supplied


def test_the_send_and_the_charge_derive_their_parts_from_every_payment_s() -> None:
    assert plan.Paying.__required_keys__ <= sending.Sending.__required_keys__
    assert plan.Paying.__required_keys__ <= charging.Charging.__required_keys__
    # And each only adds to it what its own rows take.
    assert sending.Sending.__required_keys__ - plan.Paying.__required_keys__ >= {"platform"}
    assert charging.Charging.__required_keys__ - plan.Paying.__required_keys__ == {
        "app_id",
        "payee_merchant_id",
        "payee_wallet_id",
        "description",
        "metadata_json",
    }
