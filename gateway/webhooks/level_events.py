"""The events of a spend window's levels (``policies.thresholds``): a key's and a budget's
thresholds reached and recovered, their payloads and their entries of the table of event types
(``event_types.EVENTS``, which lists them in its order). Each is sent to the window's merchant."""

from pydantic import Field

from ..policies.model import Interval
from .event_payloads import EventSpec, Payload, Rfc3339

__all__ = [
    "LEVEL_EVENTS",
    "BudgetRecovered",
    "BudgetThreshold",
    "KeyBudgetRecovered",
    "KeyBudgetThreshold",
]

DATED_2026_11_28 = "2026-11-28"


class _LevelWindow(Payload):
    interval: Interval | None
    limit_cents: int
    spent_cents: int = Field(description="The window's spend when the alert was written.")
    resets_at: Rfc3339 | None


class _Reached(_LevelWindow):
    threshold_percent: int = Field(
        ge=1, le=100, description="The highest level reached (of crossed_percent)."
    )
    crossed_percent: list[int] = Field(
        min_length=1,
        description="Every level this alert tells, lowest first: spend may pass several before "
        "it is written; each level is told once a window.",
    )
    thresholds_percent: list[int] = Field(description="The levels in force, lowest first.")


class _Back(_LevelWindow):
    threshold_percent: int = Field(
        ge=1, le=100, description="The lowest level, which spend is back under."
    )


class KeyBudgetThreshold(_Reached):
    key_id: str


class KeyBudgetRecovered(_Back):
    key_id: str


class BudgetThreshold(_Reached):
    budget_id: str = Field(pattern=r"^bgt_")


class BudgetRecovered(_Back):
    budget_id: str = Field(pattern=r"^bgt_")


_WINDOW = {
    "interval": "daily",
    "limit_cents": 10000,
    "spent_cents": 8200,
    "resets_at": "2026-11-29T00:00:00Z",
}
_KEY_WINDOW = {"key_id": "key_0mk3x7q2a1b2c3d4e5f6g7h8", **_WINDOW}
_BUDGET_WINDOW = {"budget_id": "bgt_0mk3x7q2a1b2c3d4e5f6g7h8", **_WINDOW}

LEVEL_EVENTS = (
    EventSpec(
        "key.budget_threshold",
        KeyBudgetThreshold,
        "A key's spend reached levels of its thresholds_percent of a limit: once a window and "
        "level.",
        DATED_2026_11_28,
        {
            **_KEY_WINDOW,
            "threshold_percent": 80,
            "crossed_percent": [50, 80],
            "thresholds_percent": [50, 80, 95],
        },
    ),
    EventSpec(
        "key.budget_recovered",
        KeyBudgetRecovered,
        "A give-back took a key's window back a margin under the lowest of its thresholds_percent "
        "after levels were told: once, and its levels may be told again.",
        DATED_2026_11_28,
        {**_KEY_WINDOW, "spent_cents": 3000, "threshold_percent": 50},
    ),
    EventSpec(
        "budget.threshold",
        BudgetThreshold,
        "A budget's spend reached levels of its thresholds_percent of a window's limit: once a "
        "window and level.",
        DATED_2026_11_28,
        {
            **_BUDGET_WINDOW,
            "threshold_percent": 80,
            "crossed_percent": [80],
            "thresholds_percent": [50, 80, 95],
        },
    ),
    EventSpec(
        "budget.recovered",
        BudgetRecovered,
        "A give-back took a budget's window back a margin under the lowest of its "
        "thresholds_percent after levels were told: once, and its levels may be told again.",
        DATED_2026_11_28,
        {**_BUDGET_WINDOW, "spent_cents": 3000, "threshold_percent": 50},
    ),
)
