"""Rolling windows in the store: a limit on what the last ``hours`` hours spent, exact under
concurrent payments on both stores.

A row's CHECK (``spent_cents <= limit_cents``) cannot see a sum of rows, so a rolling window is
counted in one row per minute (``windows.rolling``) and judged in two parts:

- **The lock.** Every payment counted in an owner's rolling window (a key's, a consent's, a
  budget's) first takes one row of that owner's, its head (``windows.ROLLING_HEAD``), in a
  statement of its own (``lock_steps``, a lock step of the plan: ``store.compose``). So the
  writers of one window queue there, and each one's plan begins after the last has committed.
- **The count.** The payment adds its amount to the current minute's row under the limit less
  what the window's other minutes hold (``limit_left``), read by the plan's own statement, which
  began holding the lock: the row's CHECK then refuses the write that would take the window's
  sum past the limit. A past minute's row only ever goes down (a refund gives back to the
  minute it was counted in), so nothing the sum read can grow before the payment commits.

SQLite's one writer queues the payments anyway; the head costs it a statement. A plan without
a rolling window has no lock step and no sum: a calendar window costs what it always did. No
soft line is drawn on a rolling window: ``key.budget_low`` watches one row per window.
"""

from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    case,
    false,
    func,
    literal_column,
    select,
    true,
    union_all,
)

from ..store.compose import Step
from ..store.expressions import const, param, upsert
from ..store.models import KeySpend, table_of
from ..store.raw import Construct, Raw, Statement
from ..store.types import UTCDateTime
from .windows import ROLLING_HEAD, ROLLING_LAST

__all__ = ["LOCK_STEP", "held", "limit_left", "lock_steps", "since_param"]

_S = table_of(KeySpend)
_OTHER = _S.alias("other")  # the window's other minutes, beside the row a count writes
_INT = BigInteger()

LOCK_STEP = "spend_lock"


def since_param(name: str) -> str:
    """The parameter of window ``name`` (a ``Counted.name``) that bounds its minutes: the
    minute's row before its first (``Counted.since``)."""
    return f"{name}_since"


def _owner(budget: str) -> ColumnElement[Any]:
    """Whose window: the budget's or consent's id in parameter ``budget``, else the key's."""
    return func.coalesce(param(budget, String), param("api_key_id", String))


def limit_left(name: str, budget: str, bucket: str, limit: str) -> ColumnElement[Any]:
    """Window ``name``'s limit (parameter ``limit``) less what its minutes other than the
    current one (``bucket``) hold: the limit of the current minute's row."""
    others = (
        select(func.coalesce(func.sum(_OTHER.c.spent_cents), 0))
        .where(
            _OTHER.c.key_id == _owner(budget),
            _OTHER.c.bucket > param(since_param(name), String),
            _OTHER.c.bucket <= const(ROLLING_LAST),
            _OTHER.c.bucket != param(bucket, String),
        )
        .scalar_subquery()
    )
    return param(limit, _INT) - others


def _lock(budgets: list[str]) -> Construct:
    heads: list[Select[Any]] = [select(_owner(budget).label("key_id")) for budget in budgets]
    owners = (heads[0] if len(heads) == 1 else union_all(*heads)).subquery("heads")
    stmt = upsert(_S).from_select(
        ["key_id", "bucket", "spent_cents", "limit_cents", "updated_at"],
        # In one order, so payments that lock several heads (budgets) cannot deadlock.
        select(
            owners.c.key_id,
            const(ROLLING_HEAD),
            literal_column("0"),
            literal_column("0"),
            param("now", UTCDateTime()),
        )
        .where(true())
        .order_by(owners.c.key_id),
    )
    # Locked, not written: PostgreSQL locks every conflicting row of ``DO UPDATE``, even where
    # its condition leaves the row as it was.
    return stmt.on_conflict_do_update(
        index_elements=[_S.c.key_id, _S.c.bucket],
        set_={"updated_at": stmt.excluded.updated_at},
        where=false(),
    )


def lock_steps(budgets: list[str]) -> list[Step]:
    """The lock of the heads of the rolling windows whose owners are the parameters
    ``budgets`` (each a window's ``_budget``; null: the paying key), before the plan."""
    if not budgets:
        return []
    return [Step(LOCK_STEP, lambda refs: _lock(budgets), lock=True)]


_HELD = Statement.of(
    select(
        func.coalesce(func.sum(_S.c.spent_cents), 0).label("spent"),
        func.min(case((_S.c.spent_cents > 0, _S.c.bucket))).label("oldest"),
    ).where(
        _S.c.key_id == param("key_id", String),
        _S.c.bucket > param("since", String),
        _S.c.bucket <= const(ROLLING_LAST),
    )
)


async def held(tx: Raw, owner: str, since: str) -> tuple[int, str | None]:
    """What ``owner``'s rolling window after the minute's row ``since`` holds, and the minute's
    row of its oldest spend still in it (None: none)."""
    row = await tx.fetchrow(_HELD, {"key_id": owner, "since": since})
    assert row is not None
    oldest = row["oldest"]
    return int(row["spent"]), None if oldest is None else str(oldest)
