"""A key's spend per window, counted by the store under its limit.

Each window a send counts in is one upsert of ``key_spend`` that adds the amount and carries the
limit; the table's CHECK (``spent_cents <= limit_cents``) refuses the statement that would pass
it, and with it the whole write (``store.raw.CheckViolated``). So the check and the count are one
write: concurrent sends queue on the row's lock (or SQLite's single writer) and no interleaving
can overspend, on either rendering of the send's plan, which holds these steps after the debit.

The same upsert notes the send that first took the window to its soft limit (``alerted_by``):
one ``key.budget_low`` for the windows it crossed is written with it, so once a window.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    case,
    literal_column,
    null,
    or_,
    select,
    update,
)

from ..clock import rfc3339
from ..store.compose import NO_REFS, Refs, Step, one_of, param, upsert
from ..store.models import KeySpend, table_of
from ..store.raw import Conn, Construct, Raw, Statement, raw
from ..store.types import UTCDateTime
from ..webhooks import outbox
from .rules import Counted, paid_window

__all__ = [
    "BUDGET_LOW",
    "BUDGET_STEP",
    "LIMIT_CHECK",
    "count_delivered",
    "count_steps",
    "give_back",
    "spend_params",
    "spent",
]

_S = table_of(KeySpend)
_INT = BigInteger()

BUDGET_LOW = "key.budget_low"
# The plan's step of that event; its deliveries are ``budget_low_deliveries``.
BUDGET_STEP = "budget_low"
LIMIT_CHECK = "ck_key_spend_within_limit"  # the constraint whose refusal is a limit reached


def _count(refs: Refs, name: str, after: str) -> Construct:
    """Add ``:taken`` to window ``:<name>_bucket`` of key ``:api_key_id`` under
    ``:<name>_limit``, once step ``after`` returned a row; returns the new spend and the send
    that crossed the soft limit ``:<name>_soft`` (null when none is set)."""
    taken, soft, txn = param("taken", _INT), param(f"{name}_soft", _INT), param("txn_id", String)
    values = select(
        param("api_key_id", String),
        param(f"{name}_bucket", String),
        taken,
        param(f"{name}_limit", _INT),
        case((taken >= soft, txn), else_=null()),
        param("now", UTCDateTime()),
    ).where(refs.after(after))
    stmt = upsert(_S).from_select(
        ["key_id", "bucket", "spent_cents", "limit_cents", "alerted_by", "updated_at"], values
    )
    total = _S.c.spent_cents + stmt.excluded.spent_cents
    return stmt.on_conflict_do_update(
        index_elements=[_S.c.key_id, _S.c.bucket],
        set_={
            "spent_cents": total,
            "limit_cents": stmt.excluded.limit_cents,
            "alerted_by": case(
                (_S.c.alerted_by.is_(None) & (total >= soft), txn), else_=_S.c.alerted_by
            ),
            "updated_at": stmt.excluded.updated_at,
        },
    ).returning(_S.c.spent_cents, _S.c.alerted_by)


def count_steps(windows: Sequence[tuple[str, bool]], *, after: str) -> list[Step]:
    """Per window (its step name, and whether it has a soft limit) its count; then, if any has a
    soft limit, one ``key.budget_low`` for the windows this send took past theirs."""
    found = [Step(name, _counter(name, after)) for name, _ in windows]
    soft = [name for name, has_soft in windows if has_soft]
    if not soft:
        return found

    def crossed(refs: Refs, name: str) -> ColumnElement[bool]:
        return refs.col(name, "alerted_by") == param("txn_id", String)

    def any_crossed(refs: Refs) -> ColumnElement[bool]:
        return or_(*(crossed(refs, name) for name in soft))

    def fills(refs: Refs) -> dict[str, ColumnElement[Any]]:
        marks: dict[str, ColumnElement[Any]] = {}
        for name in soft:
            marks[_spent_mark(name)] = refs.col(name, "spent_cents")
            marks[_crossed_mark(name)] = case(
                (crossed(refs, name), literal_column("'true'")), else_=literal_column("'false'")
            )
        return marks

    return found + outbox.event_steps(BUDGET_STEP, after=any_crossed, fills=fills)


def _counter(name: str, after: str) -> Callable[[Refs], Construct]:
    return lambda refs: _count(refs, name, after)


def _spent_mark(name: str) -> str:
    return f"$spent:{name}"


def _crossed_mark(name: str) -> str:
    return f"$crossed:{name}"


def spend_params(
    counted: Sequence[Counted], *, key_id: str, percent: int | None, env: str, now: datetime
) -> dict[str, Any]:
    """The parameters of ``count_steps`` for ``counted``."""
    params: dict[str, Any] = {}
    windows = []
    for c in counted:
        params[f"{c.name}_bucket"] = c.bucket
        params[f"{c.name}_limit"] = c.limit_cents
        params[f"{c.name}_soft"] = c.soft_cents
        if c.soft_cents is not None:
            windows.append(
                {
                    "interval": c.interval,
                    "limit_cents": c.limit_cents,
                    "spent_cents": _spent_mark(c.name),
                    "crossed": _crossed_mark(c.name),
                    "resets_at": None if c.resets_at is None else rfc3339(c.resets_at),
                }
            )
    if windows:
        data = {"key_id": key_id, "soft_limit_percent": percent, "windows": windows}
        params.update(outbox.event_params(BUDGET_STEP, BUDGET_LOW, now, env, data))
    return params


_SPENT = Statement.of(
    select(_S.c.bucket, _S.c.spent_cents).where(
        _S.c.key_id == param("key_id", String), one_of(_S.c.bucket, "buckets")
    )
)


async def spent(tx: Raw, key_id: str, buckets: Sequence[str]) -> dict[str, int]:
    """What key ``key_id`` has spent in each of ``buckets`` (absent: nothing yet)."""
    rows = await tx.fetch(_SPENT, {"key_id": key_id, "buckets": list(buckets)})
    return {str(r["bucket"]): int(r["spent_cents"]) for r in rows}


_GIVE_BACK = Statement.of(
    update(_S)
    .where(_S.c.key_id == param("key_id", String), one_of(_S.c.bucket, "buckets"))
    .values(
        spent_cents=_S.c.spent_cents - param("amount", _INT),
        updated_at=param("now", UTCDateTime()),
    )
)


async def give_back(
    conn: Conn, key_id: str, buckets: Sequence[str] | None, amount: int, now: datetime
) -> None:
    """A refunded send's amount, returned to the windows it was counted in (its
    ``topups.spend_buckets``); a window that has since closed keeps its history unchanged
    in meaning, as its row is no longer read."""
    if not buckets:
        return
    tx = await raw(conn)
    await tx.fetch(
        _GIVE_BACK, {"key_id": key_id, "buckets": list(buckets), "amount": amount, "now": now}
    )


_COUNT_PAID = Statement.of(_count(NO_REFS, "paid", after=""))


async def count_delivered(
    conn: Conn, key_id: str, email: str, amount: int, txn_id: str, now: datetime
) -> None:
    """A send delivered later than it was made (an approval): its recipient is now one the key
    has paid."""
    known = paid_window(email)
    params = {
        "api_key_id": key_id,
        "paid_bucket": known.bucket,
        "paid_limit": known.limit_cents,
        "paid_soft": None,
        "taken": amount,
        "txn_id": txn_id,
        "now": now,
    }
    await (await raw(conn)).fetch(_COUNT_PAID, params)
