"""A policy's budgets in the one evaluation of a payment (``rules.judge``): each budget adds its
windows beside the key's, counted for the budget; a frozen or missing budget refuses; a charge
counts in a per-platform window as the platform ``charge``; a full budget window is refused as
the budget's (2350), a full key window as the key's; and a key's budgets bound the keys it
makes (``Policy.beyond``)."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.policies import rules
from gateway.policies.model import BudgetLimits, Policy
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
B1, B2 = "bgt_" + "a" * 24, "bgt_" + "b" * 24


def _policy(**fields: Any) -> Policy:
    return Policy.model_validate_json(json.dumps(fields))


def _budget(budget_id: str, frozen: bool = False, **windows: Any) -> rules.Drawn:
    return rules.Drawn(
        budget_id, "fleet", frozen, BudgetLimits.model_validate_json(json.dumps(windows))
    )


POLICY = _policy(limits=[{"amount_cents": 500, "interval": "daily"}], budgets=[B1, B2])
ONE = _budget(
    B1,
    limits=[{"amount_cents": 1_000, "interval": "daily"}],
    per_platform_limit={"amount_cents": 300, "interval": "weekly"},
)
TWO = _budget(B2, per_recipient_limit={"amount_cents": 200, "interval": "monthly"})


def test_a_send_counts_in_its_keys_windows_and_each_budgets() -> None:
    payment = rules.Payment(100, "ada@example.com", "claude")
    counted = rules.judge(POLICY, payment, NOW, [TWO, ONE]).counted
    assert [(c.name, c.budget_id, c.bucket, c.limit_cents) for c in counted] == [
        ("spend_daily", None, "daily:2026-11-26", 500),
        ("spend_b0_daily", B1, "daily:2026-11-26", 1_000),
        ("spend_b0_platform", B1, "platform:weekly:2026-11-23:claude", 300),
        ("spend_b1_recipient", B2, "recipient:monthly:2026-11-01:ada@example.com", 200),
    ]


def test_a_charge_counts_as_the_platform_charge() -> None:
    consent = _policy(scopes=["billing"], budgets=[B1])
    counted = rules.judge(consent, rules.charge("app_x", 100), NOW, [ONE]).counted
    assert [c.bucket for c in counted if c.budget_id] == [
        "daily:2026-11-26",
        "platform:weekly:2026-11-23:charge",
    ]


@pytest.mark.parametrize(
    ("budgets", "code"),
    [([ONE, _budget(B2, frozen=True)], Code.BUDGET_FROZEN), ([ONE], Code.BUDGET_NOT_FOUND)],
)
def test_a_frozen_or_missing_budget_refuses(budgets: list[rules.Drawn], code: Code) -> None:
    with pytest.raises(ApiError) as refused:
        rules.judge(POLICY, rules.Payment(1, "ada@example.com", "claude"), NOW, budgets)
    assert refused.value.code == code
    assert refused.value.data["budget_id"] == B2


def test_a_full_window_is_refused_as_its_owners() -> None:
    counted = rules.judge(
        POLICY, rules.Payment(100, "ada@example.com", "claude"), NOW, [ONE, TWO]
    ).counted
    budget_full = rules.refused(counted, {(B1, "daily:2026-11-26"): rules.Held(950)}, 100)
    assert budget_full.code == Code.BUDGET_LIMIT_REACHED
    assert budget_full.data == {
        "limit_source": "daily",
        "limit_cents": 1_000,
        "remaining_cents": 50,
        "resets_at": "2026-11-27T00:00:00Z",
        "interval": "daily",
        "budget_id": B1,
    }
    # The key's own window of the same bucket is another row: the key's refusal is its own.
    key_full = rules.refused(counted, {(None, "daily:2026-11-26"): rules.Held(450)}, 100)
    assert (key_full.code, key_full.data["remaining_cents"]) == (Code.KEY_LIMIT_REACHED, 50)


def test_a_key_on_budgets_makes_only_keys_on_them() -> None:
    bound = _policy(budgets=[B1])
    assert _policy().beyond(bound) == ("budgets",)
    assert _policy(budgets=[B2]).beyond(bound) == ("budgets",)
    assert _policy(budgets=[B2, B1]).beyond(bound) == ()
    assert _policy(budgets=[B1]).beyond(_policy()) == ()
