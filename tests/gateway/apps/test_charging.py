"""The charge's parameters as a contract with its plan, for every shape of consent that lets it
through: the charge fills exactly the names its plan binds, and a step that binds a name the
charge does not supply is refused when the plan is built, not when the driver runs it."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeEngine

from gateway import outbox
from gateway.apps import charging
from gateway.callers import Caller
from gateway.ledger import alerts, grants
from gateway.ledger import service as ledger
from gateway.payments import plan
from gateway.policies import rules, spend
from gateway.policies.model import load
from gateway.store import expressions
from gateway.store.compose import Plan, PlanError

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LIMITS = [
    {"amount_cents": 90_000, "interval": interval}
    for interval in ("daily", "weekly", "monthly", "all_time")
]
# Every shape of consent that changes the charge's windows.
SHAPES: dict[str, dict[str, Any]] = {
    "no limit": {},
    "daily": {"limits": LIMITS[:1]},
    "every calendar window": {"limits": LIMITS},
    "per recipient": {"per_recipient_limit": {"amount_cents": 5_000, "interval": "weekly"}},
    "soft line": {"limits": LIMITS[:2], "soft_limit_percent": 80},
    "all of them": {
        "limits": LIMITS,
        "per_recipient_limit": {"amount_cents": 5_000, "interval": "daily"},
        "soft_limit_percent": 50,
    },
}
PAID = charging.Payee("mer_owner", "wal_owner")


def _charged(shape: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    """A charge's windows and its run's parameters under consent ``shape``."""
    policy = load(json.dumps({"scopes": ["billing"], **SHAPES[shape]}))
    caller = Caller("oak_1", "mer_payer", "staging", 1_000, "wal_payer", policy, app_id="app_1")
    counted = rules.judge(policy, rules.charge("app_1", 700), NOW).counted
    prepared = charging.charge_params(
        caller, "app_1", PAID, 700, "Monthly seat", {"b": "2", "a": "1"}, counted, NOW
    )
    assert prepared.charge.items() <= prepared.params.items()
    return tuple(c.name for c in counted), prepared.params


@pytest.mark.parametrize("shape", SHAPES)
def test_the_charge_supplies_exactly_what_its_plan_binds(shape: str) -> None:
    windows, params = _charged(shape)
    built = charging.charge_plan(windows)
    assert built.binds == charging.given(windows) == set(params)
    for name in windows:
        assert set(spend.window_params(name)) <= built.binds
    # A charge counts where its consent limits it, and nowhere else.
    assert bool(windows) == (shape != "no limit")


@pytest.mark.parametrize("shape", ["no limit", "all of them"])
def test_a_charge_plan_without_any_one_of_its_names_is_refused(shape: str) -> None:
    windows, _ = _charged(shape)
    steps = charging.charge_steps(windows)
    supplied = charging.given(windows)
    for name in sorted(supplied):
        with pytest.raises(PlanError, match=rf"\['{name}'\]: not supplied"):
            Plan(steps, given=supplied - {name})


def test_a_charge_is_a_payment_as_a_send_is() -> None:
    """The charge's plan is every payment's: the payer's debit first, the one every other step
    depends on, its count in the consent's windows, its entries, its event and ``balance.low``;
    and both merchants' events are in it, each its own merchant's. Before its statement, both
    wallets are locked in the order of their ids, and the payee's is settled
    (``grants.settle_steps``), as every plan that makes a grant is."""
    windows, params = _charged("daily")
    built = charging.charge_steps(windows)
    names = [step.name for step in built if not step.lock]
    assert [s.name for s in built if s.lock] == [
        "wallets",  # both merchants', in the order of their ids
        *(s.name for s in grants.settle_steps(ledger.merchant_wallet(), name="payee_settle")),
    ]
    assert names[:2] == [plan.DEBIT, spend.SPEND_STEP]
    for shared in ("entries", "event", "event_deliveries", "low", "low_deliveries"):
        assert shared in names
    assert names[-3:] == ["paid", "paid_deliveries", "paid_filtered"]
    assert params["merchant_id"] == "mer_payer" and params["payee_merchant_id"] == "mer_owner"
    assert set(plan.Paying.__required_keys__) <= set(params)
    # The payer's event, ``balance.low`` and the payee's, in the order they happen.
    ids = [params["event_id"], params["low_id"], params["paid_id"]]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert params["metadata_json"] == '{"a": "1", "b": "2"}'


@pytest.fixture
def fresh_plans() -> Iterator[None]:
    """Plans built under a changed step are not kept for the tests after."""
    charging.charge_plan.cache_clear()
    yield
    charging.charge_plan.cache_clear()


# Every module with a step of the charge.
STEP_MODULES = [ledger, spend, outbox, alerts, charging]


@pytest.mark.parametrize("module", STEP_MODULES, ids=lambda m: m.__name__)
def test_a_charge_step_binding_a_name_no_one_supplies_fails_when_its_plan_is_built(
    monkeypatch: pytest.MonkeyPatch, fresh_plans: None, module: ModuleType
) -> None:
    """As if a step of ``module`` misspelt each name it binds: the charge's plan (counted in a
    calendar window and per recipient) is refused at once, before any charge."""

    def misspelt(name: str, type_: TypeEngine[Any] | type[TypeEngine[Any]]) -> BindParameter[Any]:
        return expressions.param(f"{name}_misspelt", type_)

    monkeypatch.setattr(module, "param", misspelt)
    with pytest.raises(PlanError, match=r"_misspelt'.*\]: not supplied"):
        charging.charge_plan(("spend_daily", "spend_recipient"))
