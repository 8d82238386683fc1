"""``Policy.beyond``: the fields in which a policy lets a key do more than its maker's, the one
rule a key's grants go through (``merchants.keys``)."""

import json
from typing import Any

import pytest

from gateway.policies.model import UNRESTRICTED, Policy


def _policy(**fields: Any) -> Policy:
    return Policy.model_validate_json(json.dumps(fields))


BOUND = _policy(
    limits=[{"amount_cents": 1_000, "interval": "daily"}],
    per_recipient_limit={"amount_cents": 500, "interval": "monthly"},
    allowed_recipients=["@example.com", "ada@example.org"],
)


@pytest.mark.parametrize(
    ("fields", "wider"),
    [
        ({}, ("limits", "per_recipient_limit", "allowed_recipients")),
        (
            {
                "limits": [{"amount_cents": 1_000, "interval": "daily"}],
                "per_recipient_limit": {"amount_cents": 500, "interval": "monthly"},
                "allowed_recipients": ["bo@example.com", "ada@example.org"],
                "soft_limit_percent": 90,
            },
            (),
        ),
        # All time holds every window, and a week or a month holds each day in it.
        ({"limits": [{"amount_cents": 900, "interval": "all_time"}]}, ()),
        ({"limits": [{"amount_cents": 900, "interval": "weekly"}]}, ()),
        ({"limits": [{"amount_cents": 1_000, "interval": "monthly"}]}, ()),
        ({"limits": [{"amount_cents": 1_001, "interval": "weekly"}]}, ("limits",)),
        ({"limits": [{"amount_cents": 1_001, "interval": "daily"}]}, ("limits",)),
        # A rolling window is judged against rolling ones and all time alone.
        ({"limits": [{"amount_cents": 900, "interval": "rolling", "hours": 24}]}, ("limits",)),
        (
            {"per_recipient_limit": {"amount_cents": 500, "interval": "daily"}},
            ("per_recipient_limit",),
        ),
        # A week may span two months: a weekly limit holds no monthly one.
        (
            {"per_recipient_limit": {"amount_cents": 100, "interval": "weekly"}},
            ("per_recipient_limit",),
        ),
        # An address at an admitted domain is within; a domain admitting one address is not.
        ({"allowed_recipients": ["ada@example.com"]}, ()),
        ({"allowed_recipients": ["@example.org"]}, ("allowed_recipients",)),
        ({"allowed_recipients": ["bo@example.org"]}, ("allowed_recipients",)),
    ],
)
def test_a_policy_is_beyond_its_maker_in_exactly_the_looser_fields(
    fields: dict[str, Any], wider: tuple[str, ...]
) -> None:
    base = {
        "limits": [{"amount_cents": 1_000, "interval": "daily"}],
        "per_recipient_limit": {"amount_cents": 500, "interval": "monthly"},
        "allowed_recipients": ["ada@example.org"],
    }
    given = _policy(**({**base, **fields} if fields else {}))
    assert given.beyond(BOUND) == wider


def test_nothing_is_beyond_a_maker_without_limits() -> None:
    assert _policy().beyond(UNRESTRICTED) == ()
    assert UNRESTRICTED.beyond(UNRESTRICTED) == ()
    assert UNRESTRICTED.beyond(BOUND) == ("limits", "per_recipient_limit", "allowed_recipients")


ROLLING = _policy(limits=[{"amount_cents": 500, "interval": "rolling", "hours": 5}])


@pytest.mark.parametrize(
    ("limit", "within"),
    [
        ({"amount_cents": 500, "interval": "rolling", "hours": 5}, True),
        # No more over a longer window: no more over any five hours within it.
        ({"amount_cents": 400, "interval": "rolling", "hours": 24}, True),
        ({"amount_cents": 500, "interval": "all_time"}, True),
        ({"amount_cents": 400, "interval": "rolling", "hours": 4}, False),
        ({"amount_cents": 501, "interval": "rolling", "hours": 5}, False),
        ({"amount_cents": 100, "interval": "daily"}, False),
    ],
)
def test_a_rolling_limit_is_held_by_as_long_a_window_or_all_time(
    limit: dict[str, Any], within: bool
) -> None:
    assert (_policy(limits=[limit]).beyond(ROLLING) == ()) is within
