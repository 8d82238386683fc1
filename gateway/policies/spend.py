"""A key's spend per window, counted by the store under its limit, and where its alerts fall due.

Each send counts in all of its windows with one upsert of ``key_spend`` (a row per window) that
adds the amount and carries each window's limit; the table's CHECK (``spent_cents <=
limit_cents``) refuses the statement that would pass one, and with it the whole write
(``store.raw.CheckViolated``). So the check and the count are one write: concurrent sends queue on
the rows' locks (or SQLite's single writer) and no interleaving can overspend, on either
rendering of the send's plan, which holds this step after the debit.

The upsert carries each window's soft line too (``soft_cents``: its lowest level) and marks the
window with the send that first takes it to its next line (``alerted_by``; the line is
``next_cents`` once an alert told the levels below it). A give-back that takes a window whose
levels were told back under the lowest marks it too (``GIVEN_BACK``). A marked window is due an
alert, which ``policies.thresholds`` writes and which moves its next line: the send's own write
stays nearly as small as a send without levels.
"""

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    String,
    Text,
    and_,
    case,
    delete,
    func,
    null,
    or_,
    select,
    text,
    tuple_,
    type_coerce,
    union_all,
    update,
)

from ..store.compose import Refs, Step
from ..store.engine import Database
from ..store.expressions import const, from_rows, one_of, param, upsert
from ..store.models import ALERT_DUE, KeySpend, table_of
from ..store.raw import Construct, Raw, Statement
from ..store.types import UTCDateTime
from . import rolling
from .model import MAX_ROLLING_HOURS
from .rules import Counted, Held, is_rolling
from .windows import CLOSING_PREFIXES, LONGEST_WINDOW_DAYS, ROLLING_PREFIX

__all__ = [
    "GIVEN_BACK",
    "KEEP_CLOSED_DAYS",
    "KEEP_MINUTES_DAYS",
    "LIMIT_CHECK",
    "SPEND_STEP",
    "alert_due",
    "count_steps",
    "give_back_params",
    "give_back_step",
    "give_back_steps",
    "held",
    "kept",
    "lock_steps",
    "prune_closed",
    "spend_params",
    "spent",
    "spent_in",
    "spent_under",
    "window_params",
]

_S = table_of(KeySpend)
_INT = BigInteger()

SPEND_STEP = "spend"  # the plan's step that counts the send in every window
GIVEN_BACK = "given_back"  # marks a window a give-back took back under its levels
LIMIT_CHECK = "ck_key_spend_within_limit"  # the constraint whose refusal is a limit reached


@functools.cache
def _params(name: str) -> tuple[str, str, str, str]:
    return f"{name}_bucket", f"{name}_limit", f"{name}_soft", f"{name}_budget"


@functools.cache
def window_params(name: str) -> tuple[str, ...]:
    """The parameters of window ``name`` (a ``Counted.name``) in ``count_steps``: its bucket,
    its limit, its soft line and whose it is (a budget's id; null: the paying key's), and a
    rolling window's bound (``rolling.since_param``). The one place they are named: the steps
    bind them, the send supplies them (``spend_params``) and builds its plan with them."""
    names = _params(name)
    return (*names, rolling.since_param(name)) if is_rolling(name) else names


def _window(name: str) -> Select[Any]:
    bucket, limit, soft, budget = _params(name)
    # A rolling window counts in its current minute's row, under what its other minutes leave.
    held = (
        rolling.limit_left(name, budget, bucket, limit) if is_rolling(name) else param(limit, _INT)
    )
    return select(
        param(bucket, String).label("bucket"),
        held.label("limit_cents"),
        param(soft, _INT).label("soft_cents"),
        param(budget, String).label("budget_id"),
    )


def _count(refs: Refs, names: Sequence[str], after: str) -> Construct:
    """Add ``:taken`` to windows ``:<name>_bucket`` of key ``:api_key_id`` (or of budget
    ``:<name>_budget``, shared by the keys that draw on it), each under its ``:<name>_limit``,
    once step ``after`` returned a row: one statement whatever the number of windows, so a key's
    and its budgets' are checked by the one CHECK in the one write. A window this send takes to
    its soft line ``:<name>_soft`` (null: none) is marked as alerted by it, once. Returns per
    window the send that so marked it."""
    taken, txn = param("taken", _INT), param("txn_id", String)
    windows = union_all(*(_window(name) for name in names)).subquery("w")
    row = {
        "key_id": func.coalesce(windows.c.budget_id, param("api_key_id", String)),
        "bucket": windows.c.bucket,
        "spent_cents": taken,
        "limit_cents": windows.c.limit_cents,
        "soft_cents": windows.c.soft_cents,
        "alerted_by": case((taken >= windows.c.soft_cents, txn), else_=null()),
        "updated_at": param("now", UTCDateTime()),
    }
    stmt = from_rows(upsert(_S), [row], where=refs.after(after))
    total = _S.c.spent_cents + stmt.excluded.spent_cents
    soft = stmt.excluded.soft_cents
    return stmt.on_conflict_do_update(
        index_elements=[_S.c.key_id, _S.c.bucket],
        set_={
            "spent_cents": total,
            "limit_cents": stmt.excluded.limit_cents,
            "soft_cents": soft,
            # The window's next line once its alert told the levels below it (``thresholds``).
            "alerted_by": case(
                (_S.c.alerted_by.is_(None) & (total >= func.coalesce(_S.c.next_cents, soft)), txn),
                else_=_S.c.alerted_by,
            ),
            "updated_at": stmt.excluded.updated_at,
        },
    ).returning(_S.c.alerted_by)


def count_steps(names: Sequence[str], *, after: str) -> list[Step]:
    """The count of the send in every window of ``names``, in one step (``SPEND_STEP``)."""
    if not names:
        return []
    return [Step(SPEND_STEP, lambda refs: _count(refs, names, after), many=True)]


def lock_steps(names: Sequence[str]) -> list[Step]:
    """The lock every payment counted in a rolling window of ``names`` takes before its plan
    (``policies.rolling``); none for calendar windows."""
    return rolling.lock_steps([_params(name)[3] for name in names if is_rolling(name)])


def alert_due(counted: Sequence[dict[str, Any]], txn_id: str) -> bool:
    """Whether send ``txn_id`` took a window to its next line (``counted``: the spend step's
    rows)."""
    return any(row["alerted_by"] == txn_id for row in counted)


def spend_params(counted: Sequence[Counted]) -> dict[str, Any]:
    """The parameters of ``count_steps`` for ``counted``."""
    params: dict[str, Any] = {}
    for c in counted:
        bucket, limit, soft, budget = _params(c.name)
        params[bucket] = c.bucket
        params[limit] = c.limit_cents
        params[soft] = c.soft_cents
        params[budget] = c.budget_id
        if c.since is not None:
            params[rolling.since_param(c.name)] = c.since
    return params


def _closed(cutoff: Any, minutes_cutoff: Any) -> Any:
    """Rows of windows that have closed: of a closing kind, untouched since ``cutoff`` (a
    window's row is written within its window, or by a give-back after it), or a rolling
    window's minute untouched since ``minutes_cutoff``; and not due an alert."""
    calendar = or_(*(_S.c.bucket.startswith(p, autoescape=True) for p in CLOSING_PREFIXES))
    minutes = _S.c.bucket.startswith(ROLLING_PREFIX, autoescape=True)
    return and_(
        or_(
            and_(calendar, _S.c.updated_at < cutoff),
            and_(minutes, _S.c.updated_at < minutes_cutoff),
        ),
        text(f"NOT ({ALERT_DUE})"),
    )


_PRUNE = Statement.of(
    delete(_S)
    .where(
        tuple_(_S.c.key_id, _S.c.bucket).in_(
            select(_S.c.key_id, _S.c.bucket)
            .where(_closed(param("cutoff", UTCDateTime()), param("minutes_cutoff", UTCDateTime())))
            .limit(param("batch", _INT))
        )
    )
    .returning(_S.c.key_id)
)
# Past the longest window, and past the longest approval hold (``approval_ttl_seconds``), whose
# refund gives back to the windows it was counted in: a give-back to a pruned row changes nothing.
KEEP_CLOSED_DAYS = LONGEST_WINDOW_DAYS + 31
# A rolling window's minute is read by no window once older than the longest: a row per minute,
# so kept no longer than that and a day (a give-back to it after changes no window's sum).
KEEP_MINUTES_DAYS = MAX_ROLLING_HOURS // 24 + 1


async def prune_closed(db: Database, now: datetime, *, batch: int = 1000) -> int:
    """Delete up to ``batch`` rows of windows closed for ``KEEP_CLOSED_DAYS`` (a rolling
    window's minutes, for ``KEEP_MINUTES_DAYS``); how many went. Nothing reads them again: a
    calendar window is looked up by its current bucket, a rolling one by its last minutes."""
    params = {
        "cutoff": now - timedelta(days=KEEP_CLOSED_DAYS),
        "minutes_cutoff": now - timedelta(days=KEEP_MINUTES_DAYS),
        "batch": batch,
    }
    rows = await db.run(lambda tx: tx.fetch(_PRUNE, params))
    return len(rows)


_SPENT = Statement.of(
    select(_S.c.bucket, _S.c.spent_cents).where(
        _S.c.key_id == param("key_id", String), one_of(_S.c.bucket, "buckets")
    )
)


async def spent(tx: Raw, key_id: str, buckets: Sequence[str]) -> dict[str, int]:
    """What key ``key_id`` (or budget) has spent in each of ``buckets`` (absent: nothing
    yet)."""
    rows = await tx.fetch(_SPENT, {"key_id": key_id, "buckets": list(buckets)})
    return {str(r["bucket"]): int(r["spent_cents"]) for r in rows}


_SPENT_UNDER = Statement.of(
    select(_S.c.bucket, _S.c.spent_cents)
    .where(
        _S.c.key_id == param("key_id", String),
        _S.c.bucket.like(param("pattern", String), escape="/"),
    )
    .order_by(_S.c.spent_cents.desc(), _S.c.bucket)
    .limit(param("limit", BigInteger))
)


async def spent_under(tx: Raw, key_id: str, prefix: str, limit: int) -> dict[str, int]:
    """What ``key_id`` has spent in its buckets named ``prefix…`` (a window kept per payee,
    per recipient), the ``limit`` most spent first: one window's rows are as many as the things
    it was paid to."""
    pattern = "".join(f"/{c}" if c in "/%_" else c for c in prefix) + "%"
    rows = await tx.fetch(_SPENT_UNDER, {"key_id": key_id, "pattern": pattern, "limit": limit})
    return {str(r["bucket"]): int(r["spent_cents"]) for r in rows}


async def held(tx: Raw, owner: str, counted: Sequence[Counted]) -> dict[str, Held]:
    """What each of ``counted``'s windows of ``owner`` (a key, or a budget's or consent's id)
    holds, by bucket: a calendar window's row, a rolling window's minutes (absent: nothing)."""
    calendar = [c.bucket for c in counted if c.since is None]
    rows = await spent(tx, owner, calendar) if calendar else {}
    found = {bucket: Held(cents) for bucket, cents in rows.items()}
    for c in counted:
        if c.since is not None:
            found[c.bucket] = Held(*await rolling.held(tx, owner, c.since))
    return found


async def spent_in(
    tx: Raw, key_id: str, counted: Sequence[Counted]
) -> dict[tuple[str | None, str], Held]:
    """What each of ``counted``'s windows, the key's and its budgets', holds, by
    ``Counted.row``."""
    found: dict[tuple[str | None, str], Held] = {}
    owners: dict[str | None, list[Counted]] = {}
    for c in counted:
        owners.setdefault(c.budget_id, []).append(c)
    for owner, theirs in owners.items():
        rows = await held(tx, key_id if owner is None else owner, theirs)
        found.update({(owner, bucket): each for bucket, each in rows.items()})
    return found


# A shared window (a budget's, a managed key's consent's) in a top-up's ``spend_buckets``:
# ``<its id>|<bucket>``. An id has no ``:``; a bucket of the key's own starts with a name that
# has one (``daily:…``, ``recipient:…``, ``paid:…``) or has no ``|``, so a ``|`` in an
# address never reads as an owner.
_OWNED = "|"


def kept(counted: Sequence[Counted]) -> list[str]:
    """What a top-up keeps of the windows it was counted in (``topups.spend_buckets``), which a
    refund gives back to (``give_back_params``)."""
    return [
        c.bucket if c.budget_id is None else f"{c.budget_id}{_OWNED}{c.bucket}" for c in counted
    ]


def give_back_params(buckets: Sequence[str]) -> dict[str, list[str]]:
    """The parameters of ``give_back_steps`` for a top-up's kept windows (``kept``): the
    paying key's own, and the shared ones (``budget_ids``, ``budget_buckets``: its budgets' and
    a managed key's consent's)."""
    budgets = [b for b in buckets if _shared(b)]
    own = [b for b in buckets if not _shared(b)]
    return {
        "buckets": own,
        "budget_ids": sorted({b.partition(_OWNED)[0] for b in budgets}),
        "budget_buckets": budgets,
    }


def _shared(bucket: str) -> bool:
    owner, sep, _ = bucket.partition(_OWNED)
    return bool(sep) and ":" not in owner


def give_back_steps(*, after: str) -> list[Step]:
    """A refunded send's amount given back to every window it was counted in: the key's and
    its budgets' (``give_back_params``)."""
    return [
        Step("give_back", lambda refs: give_back_step(refs, after=after)),
        Step("give_back_budgets", lambda refs: _give_back_budgets(refs, after=after)),
    ]


def _give_back_budgets(refs: Refs, *, after: str) -> Construct:
    return (
        update(_S)
        .where(
            one_of(_S.c.key_id, "budget_ids"),
            # Typed without a length: ``key_id``'s own would cut the list's values short.
            one_of(
                type_coerce(_S.c.key_id.concat(_OWNED).concat(_S.c.bucket), Text()),
                "budget_buckets",
            ),
            refs.after(after),
        )
        .values(_given_back())
    )


def _given_back() -> dict[str, Any]:
    """What a give-back sets: the spend less ``:amount`` and, for a window whose levels were
    told that it takes back under the lowest, the mark that makes its recovery due
    (``thresholds``)."""
    after = _S.c.spent_cents - param("amount", _INT)
    back = _S.c.told_cents.is_not(None) & (after < _S.c.soft_cents)
    return {
        "spent_cents": after,
        "alerted_by": case(
            (back, func.coalesce(_S.c.alerted_by, const(GIVEN_BACK))),
            else_=_S.c.alerted_by,
        ),
        "updated_at": param("now", UTCDateTime()),
    }


def give_back_step(refs: Refs, *, after: str) -> Construct:
    """A refunded send's ``:amount``, returned to the windows ``:buckets`` of key
    ``:api_key_id`` it was counted in (its ``topups.spend_buckets``), once step ``after`` has
    returned a row. A window that has since closed keeps its history unchanged in meaning, as
    its row is no longer read (or was pruned: then nothing changes)."""
    return (
        update(_S)
        .where(
            _S.c.key_id == param("api_key_id", String),
            one_of(_S.c.bucket, "buckets"),
            refs.after(after),
        )
        .values(_given_back())
    )
