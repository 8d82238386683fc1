"""Wire models of the daily check-in and its operator's settings."""

from typing import Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ...values.model import Model

__all__ = [
    "CheckInConfigData",
    "CheckInConfigUpdate",
    "CheckInConfigs",
    "CheckInData",
    "CheckInRefusal",
]


class _Strict(Model):
    model_config = ConfigDict(extra="forbid", strict=True)


class CheckInData(Model):
    env: str
    amount_cents: int = Field(description="The reward credited, between the config's bounds.")
    balance_cents: int = Field(description="The wallet's balance after the credit.")
    checked_in_on: str = Field(description="The UTC day checked in (YYYY-MM-DD), by the clock.")
    next_checkin_at: str = Field(
        description="The next UTC midnight by the same clock (RFC 3339): when the next "
        "check-in opens."
    )


class CheckInToday(Model):
    """Where the caller's merchant stands today (by the same clock as ``check_in``): whether
    check-in is on, the reward taken today if it checked in, and when the next one opens."""

    env: str
    enabled: bool
    day: str = Field(description="Today, UTC (YYYY-MM-DD), by the clock.")
    amount_cents: int | None = Field(description="Today's reward; null until checked in.")
    next_checkin_at: str | None = Field(
        description="When the next check-in opens, once today's is taken; null until then."
    )


class CheckInRefusal(Model):
    """``data`` of ``4300``: the day already checked in and when the next one opens."""

    checked_in_on: str
    next_checkin_at: str


class CheckInConfigData(Model):
    env: Literal["staging", "live"]
    enabled: bool
    min_cents: int
    max_cents: int
    updated_at: str | None = Field(description="null: the built-in defaults, never set.")


class CheckInConfigs(Model):
    staging: CheckInConfigData
    live: CheckInConfigData


class CheckInConfigUpdate(_Strict):
    env: Literal["staging", "live"]
    enabled: bool
    min_cents: int = Field(ge=1, description="The least reward, in cents (> 0).")
    max_cents: int = Field(
        ge=1,
        description="The most reward, in cents: at least min_cents, at most "
        "AITOPUP_MAX_TOPUP_CENTS.",
    )

    @field_validator("max_cents")
    @classmethod
    def _within_max(cls, value: int, info: ValidationInfo) -> int:
        limit = (info.context or {}).get("max_topup_cents")
        if limit is not None and value > limit:
            raise ValueError(f"must be at most {limit} (AITOPUP_MAX_TOPUP_CENTS)")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> "CheckInConfigUpdate":
        if self.min_cents > self.max_cents:
            raise ValueError("min_cents must not be more than max_cents")
        return self
