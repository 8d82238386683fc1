"""What a key may still spend: its policy, and per window its spend, what remains and when the
window resets or, rolling, frees its oldest spend (``GET /keys/self``, MCP's ``get_key_limits``),
so an agent can plan a send."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from pydantic import Field

from ..store.engine import Database
from ..store.raw import Raw
from ..values.clock import rfc3339, utcnow
from ..values.model import Model
from .model import Interval, Policy
from .rules import Counted, Drawn, Held, budget_calendar, counted_windows, frees, per_bucket
from .spend import held, spent_under
from .windows import window

__all__ = [
    "BudgetUsage",
    "KeyUsage",
    "PayeeUsage",
    "WindowUsage",
    "read",
    "usage",
    "windows_of",
]

# Payees shown per key: the most paid first; the rest are paid no more than the last shown.
MAX_PAYEES_SHOWN = 50


class WindowUsage(Model):
    interval: Interval
    hours: int | None = Field(
        default=None, description="A rolling window's hours; null for a calendar one."
    )
    limit_cents: int
    spent_cents: int = Field(description="Spent in the window (a rolling one: its last `hours`).")
    remaining_cents: int
    resets_at: str | None = Field(
        description="RFC 3339 UTC, when a calendar window ends; null for all_time and rolling."
    )
    frees_at: str | None = Field(
        default=None,
        description="RFC 3339 UTC, a rolling window's: when the oldest spend still in it leaves "
        "it (the minute it was made in, `hours` later), giving back its amount; null when it "
        "holds none, and for a calendar window.",
    )


class PayeeUsage(WindowUsage):
    """One seller the key has paid in the current window of its ``per_payee_limit``."""

    payee: str = Field(
        description="Where the money went (a payment's destination), as the limit counts it."
    )


class BudgetUsage(Model):
    """A budget the key draws on, as an agent plans with it."""

    budget_id: str
    name: str
    frozen: bool = Field(description="A frozen budget admits nothing.")
    windows: list[WindowUsage] = Field(description="One per limit of the budget.")


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
    payees: list[PayeeUsage] = Field(
        default_factory=list,
        description=f"Under a per_payee_limit, each seller paid in its current window (the "
        f"{MAX_PAYEES_SHOWN} most paid first) with what is left for it; a seller not listed has "
        "the whole limit left.",
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


_NOTHING = Held()


def windows_of(counted: Sequence[Counted], found: Mapping[str, Held]) -> list[WindowUsage]:
    """Per window of ``counted``, what it holds (``found``, by bucket), what remains and when it
    resets or frees: a key's windows and a budget's read alike."""
    shown = []
    for c in counted:
        holding = found.get(c.bucket, _NOTHING)
        shown.append(
            WindowUsage(
                interval=c.interval,
                hours=c.hours,
                limit_cents=c.limit_cents,
                spent_cents=holding.spent_cents,
                remaining_cents=max(0, c.limit_cents - holding.spent_cents),
                resets_at=None if c.resets_at is None else rfc3339(c.resets_at),
                frees_at=None if c.hours is None else frees(holding, c.hours),
            )
        )
    return shown


async def read(tx: Raw, owner: str, counted: Sequence[Counted]) -> list[WindowUsage]:
    """``counted``'s windows of ``owner`` (a key, a budget) as they stand."""
    return windows_of(counted, await held(tx, owner, counted))


async def _read(db: Database, owner: str, counted: Sequence[Counted]) -> list[WindowUsage]:
    return await db.run(lambda tx: read(tx, owner, counted), read_only=True)


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
    found = await db.run(lambda tx: held(tx, caller.key_id, counted), read_only=True)
    windows = windows_of(counted, found)
    shown = []
    for budget in budgets:
        shown.append(
            BudgetUsage(
                budget_id=budget.id,
                name=budget.name,
                frozen=budget.frozen,
                windows=await _read(db, budget.id, budget_calendar(budget, now)),
            )
        )
    payees = await _payees(db, caller.key_id, policy, now)
    soft = any(
        c.soft_cents is not None and found.get(c.bucket, _NOTHING).spent_cents >= c.soft_cents
        for c in counted
    )
    return KeyUsage(
        key_id=caller.key_id,
        env=caller.env,
        legacy=caller.legacy,
        policy=policy,
        windows=windows,
        soft_limit_reached=soft,
        budgets=shown,
        payees=payees,
    )


async def _payees(db: Database, owner: str, policy: Policy, now: datetime) -> list[PayeeUsage]:
    """The sellers paid in the current window of ``policy``'s ``per_payee_limit``, as
    ``rules.counted_windows`` names their rows (``payee:<window>:<destination>``)."""
    limit = policy.per_payee_limit
    if limit is None:
        return []
    w = window(limit.interval, now)
    prefix = per_bucket("per_payee", w)
    found = await db.run(
        lambda tx: spent_under(tx, owner, prefix, MAX_PAYEES_SHOWN), read_only=True
    )
    resets = None if w.resets_at is None else rfc3339(w.resets_at)
    return [
        PayeeUsage(
            payee=bucket.removeprefix(prefix),
            interval=limit.interval,
            limit_cents=limit.amount_cents,
            spent_cents=cents,
            remaining_cents=max(0, limit.amount_cents - cents),
            resets_at=resets,
        )
        for bucket, cents in found.items()
    ]
