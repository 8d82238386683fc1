"""What a key may still spend: its policy, and per window its spend, what remains and when the
window resets (``GET /keys/self``, MCP's ``get_key_limits``), so an agent can plan a send."""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from pydantic import Field

from ..store.db import Database
from ..values.clock import rfc3339, utcnow
from ..values.model import Model
from .model import Interval, Policy
from .rules import Counted, Drawn, budget_calendar, counted_windows
from .spend import spent

__all__ = ["BudgetUsage", "KeyUsage", "WindowUsage", "usage", "windows_of"]


class WindowUsage(Model):
    interval: Interval
    limit_cents: int
    spent_cents: int
    remaining_cents: int
    resets_at: str | None = Field(description="RFC 3339 UTC; null for all_time.")


class BudgetUsage(Model):
    """A budget the key draws on, as an agent plans with it."""

    budget_id: str
    name: str
    frozen: bool = Field(description="A frozen budget admits nothing.")
    windows: list[WindowUsage] = Field(description="One per calendar limit of the budget.")


class KeyUsage(Model):
    key_id: str
    env: str
    legacy: bool = Field(description="Made before policies: every scope, no limit.")
    policy: Policy
    windows: list[WindowUsage] = Field(description="One per limit, the current window of each.")
    soft_limit_reached: bool = Field(
        description="Spend has reached soft_limit_percent of a limit in its current window."
    )
    budgets: list[BudgetUsage] = Field(
        default_factory=list,
        description="The budgets the policy draws on, each with its windows' spend: a send "
        "must fit these too.",
    )


class KeyHolder(Protocol):
    """What usage needs of a caller; the callers sit above the policies they carry."""

    @property
    def key_id(self) -> str: ...
    @property
    def env(self) -> str: ...
    @property
    def legacy(self) -> bool: ...
    @property
    def policy(self) -> Policy: ...


async def _spent(db: Database, owner: str, buckets: list[str]) -> dict[str, int]:
    return await db.run(lambda tx: spent(tx, owner, buckets), read_only=True)


def windows_of(counted: Sequence[Counted], found: dict[str, int]) -> list[WindowUsage]:
    """Per window of ``counted``, its spend (``found``, by bucket), what remains and when it
    resets: a key's windows and a budget's read alike."""
    return [
        WindowUsage(
            interval=c.interval,
            limit_cents=c.limit_cents,
            spent_cents=found.get(c.bucket, 0),
            remaining_cents=max(0, c.limit_cents - found.get(c.bucket, 0)),
            resets_at=None if c.resets_at is None else rfc3339(c.resets_at),
        )
        for c in counted
    ]


async def usage(
    db: Database,
    caller: KeyHolder,
    now: datetime | None = None,
    budgets: Sequence[Drawn] = (),
) -> KeyUsage:
    """``budgets``: the policy's budgets as read (``budgets.service.drawn``), each shown with
    its spend."""
    policy = caller.policy
    now = now or utcnow()
    # The per-recipient limit has a window per recipient: it is described by the policy only.
    counted = [c for c in counted_windows(policy, "", now) if c.source != "per_recipient"]
    found = await db.run(
        lambda tx: spent(tx, caller.key_id, [c.bucket for c in counted]), read_only=True
    )
    windows = windows_of(counted, found)
    shown = []
    for budget in budgets:
        calendar = budget_calendar(budget, now)
        buckets = [c.bucket for c in calendar]
        spent_in = await _spent(db, budget.id, buckets)
        shown.append(
            BudgetUsage(
                budget_id=budget.id,
                name=budget.name,
                frozen=budget.frozen,
                windows=windows_of(calendar, spent_in),
            )
        )
    soft = any(c.soft_cents is not None and found.get(c.bucket, 0) >= c.soft_cents for c in counted)
    return KeyUsage(
        key_id=caller.key_id,
        env=caller.env,
        legacy=caller.legacy,
        policy=policy,
        windows=windows,
        soft_limit_reached=soft,
        budgets=shown,
    )
