"""Wire models of budgets: what making and changing one takes, what one reads as (its windows'
spend now, and the keys and app connections that draw on it).

A budget's windows are ``policies.model.BudgetLimits`` itself, the model every count reads.
"""

import json
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, field_validator

from ..policies.model import MAX_THRESHOLDS, BudgetLimits, distinct_levels
from ..policies.usage import WindowUsage
from ..values.model import Model

__all__ = ["BudgetCreate", "BudgetData", "BudgetUpdate", "Drawer", "WireWindows"]


def _windows(value: Any) -> Any:
    """``BudgetLimits`` is strict, and strict Python validation takes tuples, never lists: a
    decoded request is read again as the JSON it came as."""
    if not isinstance(value, dict):
        return value
    return BudgetLimits.model_validate_json(json.dumps(value))


WireWindows = Annotated[BudgetLimits, BeforeValidator(_windows)]
Name = Annotated[str, Field(min_length=1, max_length=100, description="A label for people.")]
Percent = Annotated[int, Field(ge=1, le=100)]
_LEVELS = (
    "Up to 5 distinct shares of each window's limit, in percent: `budget.threshold` once a "
    "window as spend reaches each, `budget.recovered` once when a give-back takes it back under "
    "the lowest."
)


def _levels(value: list[int] | None) -> list[int] | None:
    return None if value is None else list(distinct_levels(tuple(value)))


def _named(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be blank")
    return None if value is None else value.strip()


class _Strict(Model):
    model_config = ConfigDict(extra="forbid", strict=True)


class BudgetCreate(_Strict):
    name: Name
    windows: WireWindows = Field(
        default_factory=BudgetLimits,
        description="Left out: no window (the budget limits nothing until it has one, but may "
        "still be frozen).",
    )
    thresholds_percent: list[Percent] = Field(
        default_factory=list, max_length=MAX_THRESHOLDS, description=f"{_LEVELS} Left out: none."
    )

    _name = field_validator("name")(_named)
    _thresholds = field_validator("thresholds_percent")(_levels)


class BudgetUpdate(_Strict):
    name: Name | None = Field(default=None, description="Left out: unchanged.")
    windows: WireWindows | None = Field(
        default=None, description="Left out: unchanged; present: replaces every window."
    )
    thresholds_percent: list[Percent] | None = Field(
        default=None, max_length=MAX_THRESHOLDS, description=f"{_LEVELS} Left out: unchanged."
    )

    _name = field_validator("name")(_named)
    _thresholds = field_validator("thresholds_percent")(_levels)

    @field_validator("name", "windows", "thresholds_percent", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


class Drawer(Model):
    """A key, an app connection or a policy template whose policy draws on the budget (every
    key and connection under a template draws on what the template names)."""

    key_id: str | None = Field(description="The key or connection; null for a template.")
    name: str | None
    app_id: str | None = Field(description="The app of a connection; null for a key.")
    template_id: str | None = Field(
        default=None, description="The policy template (`pt_…`); null for a key or connection."
    )


class BudgetData(Model):
    id: str
    env: str
    name: str
    windows: BudgetLimits
    thresholds_percent: list[int] = Field(description="Lowest first; empty: no alert.")
    frozen: bool = Field(description="A frozen budget admits no payment that draws on it.")
    spend: list[WindowUsage] = Field(
        description="One per calendar limit: the current window's spend, what remains and when "
        "it resets (per-recipient and per-platform windows are one per recipient or platform, "
        "described by `windows` only)."
    )
    drawn_by: list[Drawer] = Field(
        description="Keys and app connections (not revoked) and policy templates whose policy "
        "names this budget: while one does, the budget cannot be deleted."
    )
    created_at: str
    updated_at: str
