"""``balance.low`` and ``balance.recovered``: a merchant wallet's levels, told as the balance
crosses them, whatever moved the money.

A wallet has up to ``MAX_LEVELS`` levels (``wallets.low_thresholds_cents``; none set: its one
``low_balance_threshold_cents``). A change from ``after + taken`` to ``after`` crosses level
``L`` when ``after < L <= after + taken``. Where the alerts stand is kept on the wallet's own row,
moved by the statement that moves the balance, so racing changes are ordered by the row's lock
(or SQLite's one writer) and each level is told once:

- the debit (``ledger.conditional_debit``) sets ``told`` from ``low_level_of``: the lowest level
  it crossed that is below every level told since the balance was last on the safe side
  (``low_told_cents``); it starts a period at the highest level it crossed (``low_from_cents``),
  and returns the level it told (``LEVEL``), so the event is written only then
  (``balance_low_steps``): in order (SQLite) not even run otherwise. A debit that crosses several
  levels tells one ``balance.low``, of the lowest; a level is told again only after a recovery.
- a credit is followed in its transaction by ``recover``: one ``balance.recovered`` once the
  balance is back a margin above the highest level crossed in the period, which ends it, while
  the merchant's levels may re-arm this hour (``policies.levels``: a one-cent charge and its
  refund across a level, forty times, tell it once).
"""

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import BigInteger, ColumnElement, String, Table, case, func, select, update

from .. import outbox
from ..policies import levels
from ..store.compose import Plan, Refs, Step, steps
from ..store.expressions import param
from ..store.models import Wallet, table_of
from ..store.raw import Conn, Statement, raw
from ..store.types import UTCDateTime

__all__ = [
    "BALANCE_LOW",
    "BALANCE_RECOVERED",
    "LEVEL",
    "MAX_LEVELS",
    "LowParams",
    "balance_low_steps",
    "low_data",
    "low_level_of",
    "low_params",
    "recover",
    "told",
    "told_level",
]

BALANCE_LOW = "balance.low"
BALANCE_RECOVERED = "balance.recovered"
MAX_LEVELS = 5
LEVEL = "low_level"  # what the debit returns: the level it told, else null
# Stands in an alert's body for the level, known only inside the write.
LEVEL_MARK = "$low_level"

_INT = BigInteger()
_W = table_of(Wallet)
log = logging.getLogger(__name__)


def _levels() -> list[ColumnElement[Any]]:
    """``:low_l0`` … ascending, the unused ones null (a comparison with null never holds)."""
    return [param(f"low_l{i}", _INT) for i in range(MAX_LEVELS)]


def _crossed(level: ColumnElement[Any], before: ColumnElement[Any]) -> ColumnElement[bool]:
    return (before - param("taken", _INT) < level) & (level <= before)


def low_level_of(wallets: Table) -> ColumnElement[Any]:
    """In the debit's ``SET`` (the row's values before it): the lowest level it crosses below
    every level told in the period, else null."""
    before, told_ = wallets.c.balance_cents, wallets.c.low_told_cents
    return case(
        *((_crossed(lv, before) & (told_.is_(None) | (lv < told_)), lv) for lv in _levels())
    )


def told(wallets: Table) -> dict[str, ColumnElement[Any]]:
    """What the debit sets of the wallet's alerts: the level it told (``low_level_of``), the
    event that tells it (``:low_id``), and, starting a period, the highest level it crossed."""
    before = wallets.c.balance_cents
    level = low_level_of(wallets)
    highest = case(*((_crossed(lv, before), lv) for lv in reversed(_levels())))
    return {
        "low_told_cents": func.coalesce(level, wallets.c.low_told_cents),
        "low_event": case((level.is_not(None), param("low_id", String)), else_=wallets.c.low_event),
        "low_from_cents": case(
            (wallets.c.low_told_cents.is_(None), highest), else_=wallets.c.low_from_cents
        ),
    }


def told_level(wallets: Table) -> ColumnElement[Any]:
    """In the debit's ``RETURNING`` (the row's values after it): the level it told, else null."""
    return case((wallets.c.low_event == param("low_id", String), wallets.c.low_told_cents)).label(
        LEVEL
    )


def low_data(after: Any, level: Any, levels: Sequence[int]) -> dict[str, Any]:
    """``balance.low``'s body. ``threshold_cents`` is the level crossed;
    ``low_balance_threshold_cents`` (deprecated) means what it means everywhere else, the
    wallet's setting: its highest level (``levels``, highest first), which with one level, as
    every wallet had before lists, is the level crossed too."""
    return {
        "balance_cents": after,
        "threshold_cents": level,
        "thresholds_cents": list(levels),
        "low_balance_threshold_cents": levels[0] if levels else level,
        "currency": "USD",
    }


class LowParams(TypedDict):
    """What the debit and ``balance_low_steps`` bind (its event steps are called ``low``)."""

    low_l0: int | None
    low_l1: int | None
    low_l2: int | None
    low_l3: int | None
    low_l4: int | None
    low_id: str
    low_type: str
    low_payload: str
    low_prefix: str
    low_trigger: str


def low_params(env: str, levels: Sequence[int], now: datetime) -> LowParams:
    """The parameters of the debit's alerts and ``balance_low_steps`` for a wallet's
    ``levels``; the balance and the level are filled in by the write."""
    event_id = outbox.new_event_id()
    shown = sorted(set(levels), reverse=True)[:MAX_LEVELS]
    up: list[int | None] = [*sorted(shown), *([None] * (MAX_LEVELS - len(shown)))]
    data = low_data(outbox.BALANCE_MARK, LEVEL_MARK, shown)
    return {
        "low_l0": up[0],
        "low_l1": up[1],
        "low_l2": up[2],
        "low_l3": up[3],
        "low_l4": up[4],
        "low_id": event_id,
        "low_type": BALANCE_LOW,
        "low_payload": outbox.event_body(event_id, BALANCE_LOW, now, env, data),
        "low_prefix": outbox.delivery_prefix(event_id),
        "low_trigger": "auto",
    }


def _fills(step: str) -> outbox.Fills:
    return lambda refs: {LEVEL_MARK: refs.col(step, LEVEL)}


def balance_low_steps(debit: str) -> list[Step]:
    """The event and its deliveries when step ``debit`` (``ledger.conditional_debit``, which
    returns ``balance_cents`` and ``LEVEL``) told a level."""
    return outbox.event_steps(
        "low",
        after=lambda refs: refs.col(debit, LEVEL).is_not(None),
        balance_after=lambda refs: refs.col(debit, "balance_cents"),
        fills=_fills(debit),
        when=(debit, LEVEL),
    )


def _recovering() -> list[ColumnElement[bool]]:
    """Wallet ``:wallet_id`` in a period whose balance is back a margin above the highest level
    crossed in it (``levels.margin_of``): a real recovery."""
    w = _W
    return [
        w.c.id == param("wallet_id", String),
        w.c.low_told_cents.is_not(None),
        w.c.balance_cents >= w.c.low_from_cents + levels.margin_of(w.c.low_from_cents),
    ]


def _recovered(refs: Refs) -> Any:
    """Ends the period of wallet ``:wallet_id`` once it recovered (``_recovering``); returns
    the balance and the level."""
    w = _W
    return (
        update(w)
        .where(*_recovering())
        .values(
            low_told_cents=None,
            low_event=param("recovered_id", String),
            updated_at=param("now", UTCDateTime()),
        )
        .returning(w.c.balance_cents, w.c.low_from_cents.label(LEVEL))
    )


_RECOVERING = Statement.of(select(_W.c.id).where(*_recovering()))
_RECOVER = Plan(
    steps(
        Step("recover", _recovered, required=True),
        outbox.event_steps(
            "recovered",
            after=lambda refs: refs.after("recover"),
            balance_after=lambda refs: refs.col("recover", "balance_cents"),
            fills=_fills("recover"),
        ),
    )
)


async def recover(
    conn: Conn, *, wallet_id: str, merchant_id: str, env: str, now: datetime
) -> list[str]:
    """After a credit of merchant wallet ``wallet_id``, in its transaction (whose row lock
    orders it against every other change): ``balance.recovered`` if the credit took the balance
    back a margin above its levels, while the merchant's levels may re-arm this hour
    (``policies.levels``); the deliveries to wake for."""
    db = await raw(conn)
    if await db.fetchrow(_RECOVERING, {"wallet_id": wallet_id}) is None:
        return []
    if not await levels.rearmed(db, env, merchant_id, now):
        log.warning(
            "balance.recovered of %s left out: its levels re-armed enough this hour", wallet_id
        )
        return []
    event_id = outbox.new_event_id()
    data = {"balance_cents": outbox.BALANCE_MARK, "threshold_cents": LEVEL_MARK, "currency": "USD"}
    params = {
        "wallet_id": wallet_id,
        "merchant_id": merchant_id,
        "env": env,
        "now": now,
        "recovered_id": event_id,
        "recovered_type": BALANCE_RECOVERED,
        "recovered_payload": outbox.event_body(event_id, BALANCE_RECOVERED, now, env, data),
        "recovered_prefix": outbox.delivery_prefix(event_id),
        "recovered_trigger": "auto",
    }
    applied = await _RECOVER.run(db, params)
    return [] if applied is None else applied.ids("recovered_deliveries")
