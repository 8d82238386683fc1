"""``policies.templates``: the effective policy of a key under a template is never wider than
either, field by field; and a change's preview names each field that moves, and which way."""

import json
from typing import Any

import pytest

from gateway.policies.model import Policy
from gateway.policies.templates import changes, effective


def _policy(**fields: Any) -> Policy:
    return Policy.model_validate_json(json.dumps(fields))


def _limit(amount: int, interval: str) -> dict[str, Any]:
    return {"amount_cents": amount, "interval": interval}


def _rolling(amount: int, hours: int) -> dict[str, Any]:
    return {"amount_cents": amount, "interval": "rolling", "hours": hours}


@pytest.mark.parametrize(
    ("own", "template", "expected"),
    [
        ({}, {}, {}),
        (
            {"scopes": ["topup:send", "keys"]},
            {"scopes": ["topup:send", "topup:read"]},
            {"scopes": ["topup:send"]},
        ),
        ({}, {"max_per_send_cents": 300}, {"max_per_send_cents": 300}),
        ({"max_per_send_cents": 200}, {"max_per_send_cents": 300}, {"max_per_send_cents": 200}),
        ({"max_per_send_cents": 400}, {"max_per_send_cents": 300}, {"max_per_send_cents": 300}),
        (
            {"limits": [_limit(500, "daily"), _limit(900, "all_time")]},
            {"limits": [_limit(300, "daily"), _limit(3_000, "monthly")]},
            {"limits": [_limit(300, "daily"), _limit(3_000, "monthly"), _limit(900, "all_time")]},
        ),
        (
            {"per_recipient_limit": _limit(100, "weekly")},
            {"per_recipient_limit": _limit(200, "weekly")},
            {"per_recipient_limit": _limit(100, "weekly")},
        ),
        # A rolling limit over as many hours or more, no larger, is the key's; over fewer, it
        # gives way to the template's, as a per-recipient one over another window does.
        (
            {"limits": [_rolling(500, 48)]},
            {"limits": [_rolling(500, 24)]},
            {"limits": [_rolling(500, 48)]},
        ),
        (
            {"limits": [_rolling(100, 5)]},
            {"limits": [_rolling(500, 24)]},
            {"limits": [_rolling(500, 24)]},
        ),
        # Over another window than the template's, the key's own gives way to the template's.
        (
            {"per_recipient_limit": _limit(100, "daily")},
            {"per_recipient_limit": _limit(200, "weekly")},
            {"per_recipient_limit": _limit(200, "weekly")},
        ),
        (
            {"allowed_platforms": ["claude", "chatgpt"]},
            {"allowed_platforms": ["claude", "gemini"]},
            {"allowed_platforms": ["claude"]},
        ),
        (
            {"allowed_platforms": ["chatgpt"]},
            {"allowed_platforms": ["claude"]},
            {"allowed_platforms": []},
        ),
        (
            {"allowed_recipients": ["@a.example", "b@c.example"]},
            {"allowed_recipients": ["x@a.example", "@c.example", "d@e.example"]},
            {"allowed_recipients": ["b@c.example", "x@a.example"]},
        ),
        ({}, {"allowed_recipients": ["@a.example"]}, {"allowed_recipients": ["@a.example"]}),
        ({"approval_above_cents": 0}, {"approval_above_cents": 500}, {"approval_above_cents": 0}),
        ({}, {"approval_for_new_recipients": True}, {"approval_for_new_recipients": True}),
        (
            {"expires_at": "2030-01-01T00:00:00Z"},
            {"expires_at": "2029-01-01T00:00:00Z"},
            {"expires_at": "2029-01-01T00:00:00Z"},
        ),
        (
            {"rate_limit_per_minute": 10},
            {"rate_limit_per_minute": 60},
            {"rate_limit_per_minute": 10},
        ),
        ({"reveal_voucher": True}, {}, {}),
        ({"soft_limit_percent": 50}, {"soft_limit_percent": 80}, {"soft_limit_percent": 50}),
        ({}, {"soft_limit_percent": 80}, {"soft_limit_percent": 80}),
    ],
)
def test_the_effective_policy_is_the_stricter_of_each_field(
    own: dict[str, Any], template: dict[str, Any], expected: dict[str, Any]
) -> None:
    mine, theirs = _policy(**own), _policy(**template)
    got = effective(mine, theirs)
    assert got == _policy(**expected)
    # Never wider than either, by the rule a key's grants go through.
    assert got.beyond(theirs) == ()
    assert set(got.scopes) <= set(mine.scopes) & set(theirs.scopes)


def test_a_key_without_a_template_acts_under_its_own() -> None:
    own = _policy(max_per_send_cents=100)
    assert effective(own, None) == own  # equal: the merge is cached by value


def test_the_template_id_stays_on_the_effective_policy() -> None:
    template_id = "pt_" + "a" * 24
    got = effective(_policy(template=template_id), _policy(max_per_send_cents=5))
    assert (got.template, got.max_per_send_cents) == (template_id, 5)


def test_a_change_names_each_field_that_moves_and_which_way() -> None:
    before = _policy(
        scopes=["topup:send", "topup:read"],
        limits=[_limit(1_000, "daily")],
        soft_limit_percent=80,
    )
    after = _policy(
        scopes=["topup:send", "approvals"],
        limits=[_limit(2_000, "daily")],
        soft_limit_percent=50,
        reveal_voucher=True,
    )
    moved = {c.field: c.effect for c in changes(before, after)}
    assert moved == {
        "scopes": "changed",
        "limits": "looser",
        "soft_limit_percent": "changed",
        "reveal_voucher": "looser",
    }
    back = {c.field: c.effect for c in changes(after, before)}
    assert back["limits"] == "tighter" and back["reveal_voucher"] == "tighter"
    assert changes(before, before) == []
