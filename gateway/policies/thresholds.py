"""Alerts at levels of a spend window's limit: a key's (``thresholds_percent`` of its policy,
or its one ``soft_limit_percent``) and a budget's (its ``thresholds_percent``).

A window is a period: its row of ``key_spend`` (``policies.spend``) keeps where its levels stand
(``told_cents``, the highest told; ``next_cents``, the next line), and a new window starts with
none told. The send's count marks a window it takes to its next line, a give-back one it takes
back under its lowest level after some were told; ``alert`` then claims the marked windows of
its owners with one conditional UPDATE (``alert_event_id``), so a sender and the worker's
``budget_alerts`` job racing for them tell each once, and in the same transaction writes:

- ``key.budget_threshold`` / ``budget.threshold``: once per window and level, of the highest
  level reached where spend passed several before the alert ran (``crossed_percent`` lists
  them all), and moves the next line past the spend;
- ``key.budget_recovered`` / ``budget.recovered``: once, when a give-back took the window back
  a margin under its lowest level, which ends the run: its levels may be told again, while the
  merchant's levels may re-arm this hour (``levels``: the one rule of every level).

A key with ``soft_limit_percent`` alone keeps ``key.budget_low`` as it was: its windows in one
event, once a window, never recovered.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String, select, text, update

from .. import outbox
from ..store.engine import Database
from ..store.expressions import one_of, param
from ..store.models import ALERT_DUE, ApiKeyRow, Budget, KeySpend, PolicyTemplate, table_of
from ..store.raw import Raw, Statement
from ..values.clock import rfc3339
from . import levels
from .rules import Counted
from .templates import effective_of
from .windows import window_of

__all__ = [
    "BUDGET_RECOVERED",
    "BUDGET_THRESHOLD",
    "KEY_LOW",
    "KEY_RECOVERED",
    "KEY_THRESHOLD",
    "Alerting",
    "alert",
    "alerting_of",
    "alerts_due",
]

KEY_LOW = "key.budget_low"
KEY_THRESHOLD = "key.budget_threshold"
KEY_RECOVERED = "key.budget_recovered"
BUDGET_THRESHOLD = "budget.threshold"
BUDGET_RECOVERED = "budget.recovered"
NEVER = 2**62  # the next line of a window whose every level was told: no spend reaches it

_S, _K, _PT, _B = (
    table_of(KeySpend),
    table_of(ApiKeyRow),
    table_of(PolicyTemplate),
    table_of(Budget),
)
_INT = BigInteger()


@dataclass(frozen=True, slots=True)
class Alerting:
    """Whose windows a payment may have made due: the rows' owners (keys, consents, budgets)."""

    owners: tuple[str, ...]


def alerting_of(key_id: str, counted: Sequence[Counted]) -> Alerting | None:
    """The owners of ``counted``'s windows that have a soft line (``None``: none has)."""
    owners = sorted({c.budget_id or key_id for c in counted if c.soft_cents is not None})
    return Alerting(tuple(owners)) if owners else None


@dataclass(frozen=True, slots=True)
class _Owner:
    merchant_id: str
    env: str
    kind: str  # key, budget, or legacy (a key with ``soft_limit_percent`` alone)
    percents: tuple[int, ...]  # lowest first
    soft_percent: int | None = None  # a legacy key's


_CLAIM = Statement.of(
    update(_S)
    .where(one_of(_S.c.key_id, "owners"), text(ALERT_DUE))
    .values(alert_event_id=param("claim", String))
    .returning(
        _S.c.key_id,
        _S.c.bucket,
        _S.c.spent_cents,
        _S.c.limit_cents,
        _S.c.soft_cents,
        _S.c.told_cents,
        _S.c.next_cents,
    )
)
_SETTLE = Statement.of(
    update(_S)
    .where(_S.c.key_id == param("owner", String), _S.c.bucket == param("bucket", String))
    .values(
        told_cents=param("told", _INT),
        next_cents=param("next", _INT),
        alerted_by=None,
        alert_event_id=None,
    )
)
_KEYS = Statement.of(
    select(_K.c.id, _K.c.merchant_id, _K.c.env, _K.c.policy, _PT.c.policy.label("template"))
    .outerjoin(_PT, _PT.c.id == _K.c.template_id)
    .where(one_of(_K.c.id, "owners"))
)
_BUDGETS = Statement.of(
    select(_B.c.id, _B.c.merchant_id, _B.c.env, _B.c.thresholds_percent).where(
        one_of(_B.c.id, "owners")
    )
)


async def _owners(tx: Raw, ids: Iterable[str]) -> dict[str, _Owner]:
    owners = {"owners": sorted(set(ids))}
    found: dict[str, _Owner] = {}
    for r in await tx.fetch(_KEYS, owners):
        policy = effective_of(r["policy"], r["template"])
        kind = "legacy" if policy.thresholds_percent is None else "key"
        found[str(r["id"])] = _Owner(
            str(r["merchant_id"]),
            str(r["env"]),
            kind,
            policy.alert_percents,
            policy.soft_limit_percent,
        )
    for r in await tx.fetch(_BUDGETS, owners):
        levels = r["thresholds_percent"]
        levels = json.loads(levels) if isinstance(levels, str) else levels
        percents = tuple(sorted(int(v) for v in levels or ()))
        found[str(r["id"])] = _Owner(str(r["merchant_id"]), str(r["env"]), "budget", percents)
    return found


def _window(row: dict[str, Any]) -> dict[str, Any]:
    found = window_of(str(row["bucket"]))
    resets = None if found is None or found.resets_at is None else rfc3339(found.resets_at)
    return {
        "interval": None if found is None else found.interval,
        "limit_cents": int(row["limit_cents"]),
        "spent_cents": int(row["spent_cents"]),
        "resets_at": resets,
    }


def _judged(
    row: dict[str, Any], owner: _Owner
) -> tuple[int | None, int | None, str | None, dict[str, Any]]:
    """Where a claimed window's levels stand after its alert (told, next line), and what it
    tells: ``("threshold" | "recovered" | None, the level's part of the body)``."""
    limit, spent = int(row["limit_cents"]), int(row["spent_cents"])
    told = None if row["told_cents"] is None else int(row["told_cents"])
    lines = [(p, limit * p // 100) for p in owner.percents]
    if not lines:
        return None, None, None, {}
    if told is not None and spent < lines[0][1] - levels.margin(lines[0][1]):
        if owner.kind == "legacy":  # ``key.budget_low`` is once a window: nothing to tell
            return told, row["next_cents"], None, {}
        return None, None, "recovered", {"threshold_percent": lines[0][0]}
    crossed = [
        (p, cents) for p, cents in lines if cents <= spent and (told is None or cents > told)
    ]
    reached = [cents for _, cents in crossed] + ([] if told is None else [told])
    if not reached:  # marked, then given back before its alert: nothing told yet
        return None, None, None, {}
    highest = max(reached)
    next_line = min((cents for _, cents in lines if cents > highest), default=NEVER)
    if not crossed:
        return highest, next_line, None, {}
    part = {
        "threshold_percent": crossed[-1][0],
        "crossed_percent": [p for p, _ in crossed],
        "thresholds_percent": list(owner.percents),
    }
    return highest, next_line, "threshold", part


_TYPES = {
    ("key", "threshold"): (KEY_THRESHOLD, "key_id"),
    ("key", "recovered"): (KEY_RECOVERED, "key_id"),
    ("budget", "threshold"): (BUDGET_THRESHOLD, "budget_id"),
    ("budget", "recovered"): (BUDGET_RECOVERED, "budget_id"),
}


async def alert(db: Database, who: Alerting, now: datetime) -> list[str] | None:
    """The alerts due on the windows of ``who``'s owners, which it claims and moves on, in one
    transaction; their delivery ids, or None if nothing was due (or another process claimed it
    first)."""

    async def work(tx: Raw) -> list[str] | None:
        claimed = await tx.fetch(
            _CLAIM, {"owners": list(who.owners), "claim": outbox.new_event_id()}
        )
        if not claimed:
            return None
        owners = await _owners(tx, (str(r["key_id"]) for r in claimed))
        deliveries: list[str] = []
        legacy: dict[str, list[dict[str, Any]]] = {}
        for row in sorted(claimed, key=lambda r: (str(r["key_id"]), str(r["bucket"]))):
            owner_id = str(row["key_id"])
            owner = owners.get(owner_id)
            told, next_line, told_what, part = (
                (None, None, None, {}) if owner is None else _judged(row, owner)
            )
            if (
                owner is not None
                and told_what == "recovered"
                and not await levels.rearmed(tx, owner.env, owner.merchant_id, now)
            ):  # re-armed enough this hour: its levels stay told
                told, next_line, told_what = row["told_cents"], row["next_cents"], None
            settle = {"owner": owner_id, "bucket": row["bucket"], "told": told, "next": next_line}
            await tx.fetch(_SETTLE, settle)
            if owner is None or told_what is None:
                continue
            if owner.kind == "legacy":
                legacy.setdefault(owner_id, []).append({**_window(row), "crossed": True})
                continue
            type_, named = _TYPES[(owner.kind, told_what)]
            data = {named: owner_id, **_window(row), **part}
            deliveries += await outbox.emit(
                tx, env=owner.env, merchant_id=owner.merchant_id, type_=type_, data=data, now=now
            )
        for owner_id, windows in legacy.items():
            owner = owners[owner_id]
            data = {
                "key_id": owner_id,
                "soft_limit_percent": owner.soft_percent,
                "windows": windows,
            }
            deliveries += await outbox.emit(
                tx, env=owner.env, merchant_id=owner.merchant_id, type_=KEY_LOW, data=data, now=now
            )
        return deliveries

    return await db.run(work)


_DUE = Statement.of(
    select(_S.c.key_id).where(text(ALERT_DUE)).group_by(_S.c.key_id).limit(param("limit", _INT))
)


async def alerts_due(db: Database, limit: int = 100) -> list[Alerting]:
    """Owners with a window marked and no alert written: left by a process that stopped between
    a payment and its alert, or by a give-back (the worker's ``budget_alerts`` job writes
    them)."""
    rows = await db.run(lambda tx: tx.fetch(_DUE, {"limit": limit}), read_only=True)
    return [Alerting((str(r["key_id"]),)) for r in rows]
