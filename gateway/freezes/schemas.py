"""The kill switch's wire shapes: what ``POST /freeze`` takes and what every door answers."""

from typing import Literal

from pydantic import ConfigDict, Field

from ..budgets.schemas import BudgetData
from ..values.model import Model

__all__ = ["FreezeData", "FreezeRequest", "Held"]

# What becomes of the sends held for approval when a freeze begins.
Held = Literal["keep", "cancel"]


class FreezeRequest(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    budget_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Freeze only this budget's keys and consents; omitted: the whole "
        "environment of the key.",
    )
    held: Held = Field(
        default="keep",
        description="Sends and payments to sellers held for approval: keep them held (none is "
        "approved while frozen; each can still be denied) or cancel them, refunded.",
    )


class FreezeData(Model):
    env: str
    frozen: bool
    frozen_at: str | None = Field(description="When the freeze in force began; null: none.")
    held_cancelled: int = Field(
        default=0,
        description="Held sends and payments to sellers this call cancelled (held: cancel).",
    )
    budget: BudgetData | None = Field(
        default=None,
        description="The budget frozen, when budget_id named one; the environment "
        "as it stands beside it.",
    )
