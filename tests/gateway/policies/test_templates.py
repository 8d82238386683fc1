"""``policies.templates``: the effective policy of a key under a template is never wider than
either, field by field; and a change's preview names each field that moves, and which way."""

import json
from typing import Any

import pytest

from gateway.policies.model import INTERVALS, Limit, Policy, holds
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
        # A rolling limit over as many hours or more, no larger, is the key's; a smaller one over
        # fewer hours keeps its amount over the template's hours (``test_a_limit_holding_both``).
        (
            {"limits": [_rolling(500, 48)]},
            {"limits": [_rolling(500, 24)]},
            {"limits": [_rolling(500, 48)]},
        ),
        (
            {"limits": [_rolling(100, 5)]},
            {"limits": [_rolling(500, 24)]},
            {"limits": [_rolling(100, 24)]},
        ),
        (
            {"per_recipient_limit": _limit(100, "daily")},
            {"per_recipient_limit": _limit(200, "weekly")},
            {"per_recipient_limit": _limit(100, "weekly")},
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
    assert got.beyond(mine) == ()
    assert set(got.scopes) <= set(mine.scopes) & set(theirs.scopes)


# (one limit, the other, the one that holds both): each pair is judged in both orders, the key's
# and the template's, as the effective limit must not depend on which of the two set which.
PAIRS = [
    # Nested windows, the longer with the smaller amount: it holds the other, and is kept.
    (_limit(500, "weekly"), _limit(800, "daily"), _limit(500, "weekly")),
    (_limit(500, "monthly"), _limit(800, "daily"), _limit(500, "monthly")),
    (_limit(500, "all_time"), _limit(800, "weekly"), _limit(500, "all_time")),
    (_limit(500, "daily"), _limit(800, "daily"), _limit(500, "daily")),
    # Nested, the shorter with the smaller amount: neither holds the other, so the smaller
    # amount over the longer window, stricter than each ($5 a day under $20 a week: $5 a week).
    (_limit(500, "daily"), _limit(2_000, "weekly"), _limit(500, "weekly")),
    (_limit(500, "daily"), _limit(2_000, "monthly"), _limit(500, "monthly")),
    (_limit(500, "weekly"), _limit(2_000, "all_time"), _limit(500, "all_time")),
    # A week may span two months: no calendar window but all time holds both.
    (_limit(500, "weekly"), _limit(2_000, "monthly"), _limit(500, "all_time")),
    (_limit(2_000, "weekly"), _limit(500, "monthly"), _limit(500, "all_time")),
]
ROLLING_PAIRS = [
    (_rolling(1_000, 5), _rolling(2_000, 1), _rolling(1_000, 5)),
    (_rolling(1_000, 1), _rolling(2_000, 5), _rolling(1_000, 5)),
    (_rolling(1_000, 24), _rolling(700, 24), _rolling(700, 24)),
]


def _named(limit: dict[str, Any]) -> str:
    return f"{limit['amount_cents']}-{limit['interval']}{limit.get('hours') or ''}"


def _both_orders(pairs: list[Any]) -> list[Any]:
    return [
        pytest.param(*order, expected, id=f"{_named(order[0])}-under-{_named(order[1])}")
        for one, other, expected in pairs
        for order in ((one, other), (other, one))
    ]


@pytest.mark.parametrize("field", ["per_recipient_limit", "per_payee_limit"])
@pytest.mark.parametrize(("own", "template", "expected"), _both_orders(PAIRS))
def test_a_limit_per_recipient_or_payee_holds_both(
    field: str, own: dict[str, Any], template: dict[str, Any], expected: dict[str, Any]
) -> None:
    mine, theirs = _policy(**{field: own}), _policy(**{field: template})
    got = effective(mine, theirs)
    assert got == _policy(**{field: expected})
    assert holds(getattr(got, field), getattr(mine, field))
    assert holds(getattr(got, field), getattr(theirs, field))
    assert got.beyond(mine) == got.beyond(theirs) == ()


@pytest.mark.parametrize(("own", "template", "expected"), _both_orders(PAIRS + ROLLING_PAIRS))
def test_a_limit_holding_both_is_kept_per_interval(
    own: dict[str, Any], template: dict[str, Any], expected: dict[str, Any]
) -> None:
    """``limits`` keep one per interval: two calendar limits over different intervals both
    stay, and two rolling ones (a policy has one) become one that holds both."""
    got = effective(_policy(limits=[own]), _policy(limits=[template]))
    if own["interval"] == template["interval"]:
        assert got.limits == _policy(limits=[expected]).limits
    else:
        assert got.limits == _policy(limits=sorted([own, template], key=_order)).limits


def _order(limit: dict[str, Any]) -> int:
    return INTERVALS.index(limit["interval"])


@pytest.mark.parametrize(
    ("limit", "bound", "held"),
    [
        (_limit(500, "weekly"), _limit(500, "daily"), True),
        (_limit(500, "monthly"), _limit(500, "daily"), True),
        (_limit(500, "all_time"), _limit(500, "monthly"), True),
        (_limit(500, "all_time"), _rolling(500, 5), True),
        (_rolling(500, 5), _rolling(500, 1), True),
        (_limit(501, "weekly"), _limit(500, "daily"), False),
        (_limit(500, "daily"), _limit(500, "weekly"), False),
        # $5 on Monday 30 November 2026 and $5 on Tuesday 1 December fit $5 a month, not a week;
        # $5 in each of the weeks of a month fit $5 a week, not $5 a month.
        (_limit(500, "monthly"), _limit(500, "weekly"), False),
        (_limit(500, "weekly"), _limit(500, "monthly"), False),
        (_rolling(500, 1), _rolling(500, 5), False),
        (_rolling(500, 168), _limit(500, "daily"), False),  # judged only against rolling
        (_limit(500, "daily"), _rolling(500, 1), False),
    ],
)
def test_a_limit_holds_a_bound_over_a_window_it_contains(
    limit: dict[str, Any], bound: dict[str, Any], held: bool
) -> None:
    assert holds(Limit.model_validate(limit), Limit.model_validate(bound)) is held


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


def test_a_change_of_window_is_tighter_where_the_new_one_holds_the_old() -> None:
    day, week, month = (
        _policy(per_recipient_limit=_limit(500, interval))
        for interval in ("daily", "weekly", "monthly")
    )
    assert [c.effect for c in changes(day, week)] == ["tighter"]
    assert [c.effect for c in changes(week, day)] == ["looser"]
    assert [c.effect for c in changes(day, month)] == ["tighter"]
    # Both ways (a week may span two months): the key may do something it could not.
    assert [c.effect for c in changes(week, month)] == ["looser"]
    assert [c.effect for c in changes(month, week)] == ["looser"]


def test_a_preview_judges_the_limit_that_holds_both() -> None:
    """As ``preview_template`` compares: the key's own $5 a day under $20 a week acts under $5
    a week; the template moved to $20 a day gives it its $5 a day back, a loosening."""
    own = _policy(per_recipient_limit=_limit(500, "daily"), limits=[_rolling(1_000, 1)])
    held = _policy(per_recipient_limit=_limit(2_000, "weekly"), limits=[_rolling(2_000, 5)])
    proposed = _policy(per_recipient_limit=_limit(2_000, "daily"), limits=[_rolling(2_000, 1)])
    moved = {c.field: c for c in changes(effective(own, held), effective(own, proposed))}
    assert moved["per_recipient_limit"].before == _limit(500, "weekly")
    assert moved["per_recipient_limit"].after == _limit(500, "daily")
    assert moved["limits"].before == [_rolling(1_000, 5)]
    assert moved["limits"].after == [_rolling(1_000, 1)]
    assert {c.effect for c in moved.values()} == {"looser"}
    back = changes(effective(own, proposed), effective(own, held))
    assert {c.effect for c in back} == {"tighter"}
