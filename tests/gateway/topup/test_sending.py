"""The send's parameters as a contract with its plans, for every outcome and shape of policy.

The send fills exactly the names its plan binds, and a plan whose step binds a name the send does
not supply is refused when it is built, not when the driver runs it.
"""

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeEngine

from gateway import outbox
from gateway.callers import Caller
from gateway.ledger import alerts
from gateway.ledger import service as ledger
from gateway.policies import rules, spend
from gateway.policies.model import load
from gateway.store import expressions
from gateway.store.compose import Plan, PlanError
from gateway.topup import sending, service
from gateway.topup.schemas import SendRequest
from keys import Sealer

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LIMITS = [
    {"amount_cents": 90_000, "interval": interval}
    for interval in ("daily", "weekly", "monthly", "all_time")
]
ROLLING = {"amount_cents": 9_000, "interval": "rolling", "hours": 5}
# Every shape of policy that changes the send's windows or its parameters.
SHAPES: dict[str, dict[str, Any]] = {
    "no limit": {},
    "daily": {"limits": LIMITS[:1]},
    "every calendar window": {"limits": LIMITS},
    "per recipient": {"per_recipient_limit": {"amount_cents": 5_000, "interval": "weekly"}},
    "soft line": {"limits": LIMITS[:2], "soft_limit_percent": 80},
    "rolling": {"limits": [ROLLING]},
    "new recipients need approval": {"approval_for_new_recipients": True},
    "all of them": {
        "limits": [*LIMITS, ROLLING],
        "per_recipient_limit": {"amount_cents": 5_000, "interval": "daily"},
        "soft_limit_percent": 50,
        "approval_for_new_recipients": True,
    },
}
# The send's outcomes: staging's magic recipients, and a send held for approval.
OUTCOMES = {
    "delivered": ("ann@example.com", False),
    "failed": ("ann+fail@example.com", False),
    "pending": ("ann+pending@example.com", False),
    "held": ("ann@example.com", True),
}


def _prepared(outcome: str, shape: str) -> service.Prepared:
    email, held = OUTCOMES[outcome]
    policy = load(json.dumps({"scopes": ["topup:send"], **SHAPES[shape]}))
    caller = Caller("key_1", "mer_1", "staging", 1_000, "wal_1", policy)
    body = SendRequest.model_validate(
        {"platform": "claude", "amount_cents": 700, "recipient_email": email},
        context={"max_topup_cents": 100_000},
    )
    counted = rules.counted_windows(policy, email, NOW)
    prepared = service.send_params(Sealer(b"k" * 32), caller, body, NOW, held=held, counted=counted)
    assert prepared.outcome == outcome
    return prepared


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_the_send_supplies_exactly_what_its_plan_binds(outcome: str, shape: str) -> None:
    """Each name the plan binds is supplied (else the plan is not built), and the send supplies
    nothing its plan does not bind: the contract, its plan and the values agree."""
    prepared = _prepared(outcome, shape)
    plan = service._send_plan(prepared.outcome, prepared.windows)
    supplied = sending.given(service._sent(outcome), prepared.windows)
    assert plan.binds == supplied == set(prepared.params)
    for name in prepared.windows:
        assert set(spend.window_params(name)) <= plan.binds
    # The shape is what the test says: a send failed at once counts nowhere, and only a
    # delivery counts its recipient as paid.
    policy = SHAPES[shape]
    paid = outcome == "delivered" and policy.get("approval_for_new_recipients", False)
    counts = outcome != "failed" and bool(policy.get("limits") or policy.get("per_recipient_limit"))
    assert bool(prepared.windows) == (counts or paid)


@pytest.mark.parametrize("shape", ["no limit", "all of them"])
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_a_plan_without_any_one_of_its_names_is_refused(outcome: str, shape: str) -> None:
    prepared = _prepared(outcome, shape)
    steps = service._send_steps(prepared.outcome, prepared.windows)
    supplied = sending.given(service._sent(outcome), prepared.windows)
    for name in sorted(supplied):
        with pytest.raises(PlanError, match=rf"\['{name}'\]: not supplied"):
            Plan(steps, given=supplied - {name})


@pytest.fixture
def fresh_plans() -> Iterator[None]:
    """Plans built under a changed step are not kept for the tests after."""
    service._send_plan.cache_clear()
    yield
    service._send_plan.cache_clear()


# Every module with a step of the send, and the parameter a misspelling there would change.
STEP_MODULES = [ledger, spend, outbox, alerts, service]


@pytest.mark.parametrize("module", STEP_MODULES, ids=lambda m: m.__name__)
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_a_send_step_binding_a_name_no_one_supplies_fails_when_its_plan_is_built(
    monkeypatch: pytest.MonkeyPatch, fresh_plans: None, outcome: str, module: ModuleType
) -> None:
    """As if a step of ``module`` misspelt each name it binds: the send's plan for ``outcome``
    (counted in a calendar window and per recipient) is refused at once, before any send."""

    def misspelt(name: str, type_: TypeEngine[Any] | type[TypeEngine[Any]]) -> BindParameter[Any]:
        return expressions.param(f"{name}_misspelt", type_)

    monkeypatch.setattr(module, "param", misspelt)
    with pytest.raises(PlanError, match=r"_misspelt'.*\]: not supplied"):
        service._send_plan(outcome, ("spend_daily", "spend_recipient"))


def test_a_plan_missing_a_name_is_refused_under_python_dash_o_too() -> None:
    """The refusal is an exception of its own, not an ``assert``, which ``-O`` removes."""
    script = (
        "from gateway.store.compose import Plan, PlanError\n"
        "from gateway.topup import service, sending\n"
        "windows = ('spend_daily',)\n"
        "steps = service._send_steps('delivered', windows)\n"
        "supplied = sending.given(service._sent('delivered'), windows)\n"
        "name = min(supplied)\n"
        "try:\n"
        "    Plan(steps, given=supplied - {name})\n"
        "except PlanError as exc:\n"
        "    print('refused:', name, exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-O", "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("refused: "), done.stdout + done.stderr
    _, name, refusal = done.stdout.split(" ", 2)
    assert f"['{name}']: not supplied" in refusal
