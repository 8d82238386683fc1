"""Budgets: windows that several keys and app connections of one merchant and environment draw
on together (their policies' ``budgets``).

A budget is a row of ``budgets`` (its name, its windows, whether it is frozen); its spend is
counted in ``key_spend`` under its id, by the one statement that counts a payment in its key's
windows (``policies.spend``), so a payment is admitted only if the key and every budget it draws
on have room, under the one CHECK, in the payment's own transaction, on both stores.

A policy may name only budgets of its merchant and environment (``check_policy``, which locks
them, so a budget cannot be deleted while a policy naming it is being stored), and a budget is
deleted only while nothing draws on it: no key, connection or policy template names it. A key
that draws on a budget may freeze it, never unfreeze, change or delete it: no key loosens what
holds it (2317).
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..policies import rules, spend
from ..policies.model import BudgetLimits, Policy, load
from ..policies.usage import read
from ..store.engine import Database
from ..store.expressions import one_of, param
from ..store.models import ApiKeyRow, Budget, KeySpend, Merchant, PolicyTemplate, Topup, table_of
from ..store.raw import Statement, raw
from ..values.clock import new_id, rfc3339, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from .schemas import BudgetCreate, BudgetData, BudgetUpdate, Drawer

__all__ = [
    "MAX_BUDGETS_PER_ENV",
    "Owner",
    "check_policy",
    "create_budget",
    "delete_budget",
    "drawn",
    "freeze",
    "freeze_budget",
    "get_budget",
    "held_draws",
    "list_budgets",
    "update_budget",
]

MAX_BUDGETS_PER_ENV = 100  # each is listed with its spend and drawers: the list stays one page

_B, _K, _S, _M = table_of(Budget), table_of(ApiKeyRow), table_of(KeySpend), table_of(Merchant)
_T, _PT = table_of(Topup), table_of(PolicyTemplate)


@dataclass(frozen=True, slots=True)
class Owner:
    """Who acts on budgets: a merchant's environment, and the acting key's own policy
    (``None``: a dashboard member, who holds no limits)."""

    merchant_id: str
    env: str
    bound: Policy | None = None


# On the payment's path: the driver's read-only door, which never waits for the writer.
_DRAWN = Statement.of(
    sa.select(_B.c.id, _B.c.name, _B.c.frozen, _B.c.windows, _B.c.thresholds_percent).where(
        one_of(_B.c.id, "ids"),
        _B.c.merchant_id == param("merchant_id", sa.String),
        _B.c.env == param("env", sa.String),
    )
)


def _drawn(row: Any) -> rules.Drawn:
    stored = row.windows if isinstance(row.windows, str) else json.dumps(row.windows)
    windows = BudgetLimits.model_validate_json(stored)  # strict: read as the JSON it is
    levels = row.thresholds_percent
    if isinstance(levels, str):
        levels = json.loads(levels)
    thresholds = tuple(sorted(int(v) for v in levels or ()))
    return rules.Drawn(str(row.id), str(row.name), bool(row.frozen), windows, thresholds)


async def drawn(db: Database, merchant_id: str, env: str, ids: Sequence[str]) -> list[rules.Drawn]:
    """The budgets ``ids`` of a merchant's environment as a payment reads them; one the store
    no longer has is left out, and the payment's judge refuses it (``rules.judge``)."""
    if not ids:  # a key that draws on no budget pays no read for them
        return []
    found = await db.run(
        lambda tx: tx.fetch(_DRAWN, {"ids": list(ids), "merchant_id": merchant_id, "env": env}),
        read_only=True,
    )
    return [_drawn(SimpleNamespace(**r)) for r in found]


async def check_policy(conn: AsyncConnection, merchant_id: str, env: str, policy: Policy) -> None:
    """Refuse (``BUDGET_NOT_IN_ENV``) a policy naming a budget its merchant does not have in
    ``env``; the budgets it names are locked until the caller's transaction ends, so none is
    deleted meanwhile."""
    if not policy.budgets:
        return
    found = await conn.execute(
        sa.select(_B.c.id)
        .where(_B.c.id.in_(list(policy.budgets)), _B.c.merchant_id == merchant_id, _B.c.env == env)
        .with_for_update()
    )
    known = {str(r.id) for r in found}
    missing = [b for b in policy.budgets if b not in known]
    if missing:
        raise ApiError(Code.BUDGET_NOT_IN_ENV, data={"budgets": missing})


async def _drawers(conn: AsyncConnection, merchant_id: str, env: str) -> dict[str, list[Drawer]]:
    """Per budget, what draws on it: the keys and connections (not revoked) whose own policy
    names it, and the policy templates that name it (every key and connection under one draws
    on it, and is refused while it is gone). The one list of what draws on a budget: its read
    shows it, and its delete is refused while it has one."""
    rows = await conn.execute(
        sa.select(_K.c.id, _K.c.name, _K.c.app_id, _K.c.policy)
        .where(_K.c.merchant_id == merchant_id, _K.c.env == env, _K.c.revoked_at.is_(None))
        .order_by(_K.c.id)
    )
    found: dict[str, list[Drawer]] = {}
    for r in rows:
        for budget_id in load(r.policy).budgets:
            found.setdefault(budget_id, []).append(
                Drawer(key_id=r.id, name=r.name, app_id=r.app_id)
            )
    templates = await conn.execute(
        sa.select(_PT.c.id, _PT.c.name, _PT.c.policy)
        .where(_PT.c.merchant_id == merchant_id, _PT.c.env == env)
        .order_by(_PT.c.id)
    )
    for t in templates:
        for budget_id in load(t.policy).budgets:
            found.setdefault(budget_id, []).append(
                Drawer(key_id=None, name=t.name, app_id=None, template_id=t.id)
            )
    return found


async def _data(
    conn: AsyncConnection, row: Any, drawers: dict[str, list[Drawer]], now: datetime
) -> BudgetData:
    budget = _drawn(row)
    windows = await read(await raw(conn), budget.id, rules.budget_calendar(budget, now))
    return BudgetData(
        id=budget.id,
        env=str(row.env),
        name=budget.name,
        windows=budget.windows,
        thresholds_percent=list(budget.thresholds),
        frozen=budget.frozen,
        spend=windows,
        drawn_by=drawers.get(budget.id, []),
        created_at=rfc3339(row.created_at),
        updated_at=rfc3339(row.updated_at),
    )


async def _row(conn: AsyncConnection, owner: Owner, budget_id: str, *, lock: bool = False) -> Any:
    stmt = sa.select(_B).where(
        _B.c.id == budget_id, _B.c.merchant_id == owner.merchant_id, _B.c.env == owner.env
    )
    if lock:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    if row is None:
        raise ApiError(Code.BUDGET_NOT_FOUND, data={"budget_id": budget_id})
    return row


def _held_by(owner: Owner, budget_id: str) -> None:
    """Refuse a key that draws on ``budget_id`` loosening it (2317)."""
    if owner.bound is not None and budget_id in owner.bound.budgets:
        raise ApiError(
            Code.KEY_LIMIT_NOT_GRANTABLE, data={"fields": ["budgets"], "budget_id": budget_id}
        )


async def _read(conn: AsyncConnection, owner: Owner, budget_id: str) -> BudgetData:
    row = await _row(conn, owner, budget_id)
    drawers = await _drawers(conn, owner.merchant_id, owner.env)
    return await _data(conn, row, drawers, utcnow())


async def create(conn: AsyncConnection, owner: Owner, body: BudgetCreate) -> BudgetData:
    """A new budget, at most ``MAX_BUDGETS_PER_ENV`` per merchant and environment: creates for
    one merchant take turns on its row, so concurrent ones cannot both see room."""
    await conn.execute(sa.select(_M.c.id).where(_M.c.id == owner.merchant_id).with_for_update())
    standing = sa.select(sa.func.count()).where(
        _B.c.merchant_id == owner.merchant_id, _B.c.env == owner.env
    )
    if (await conn.execute(standing)).scalar_one() >= MAX_BUDGETS_PER_ENV:
        raise ApiError(Code.BUDGET_COUNT_LIMIT_REACHED, data={"limit": MAX_BUDGETS_PER_ENV})
    _levels_told(body.windows, body.thresholds_percent)
    now = utcnow()
    budget_id = new_id("bgt")
    await conn.execute(
        sa.insert(_B).values(
            id=budget_id,
            merchant_id=owner.merchant_id,
            env=owner.env,
            name=body.name,
            windows=body.windows.stored(),
            thresholds_percent=list(body.thresholds_percent),
            frozen=False,
            created_at=now,
            updated_at=now,
        )
    )
    return await _read(conn, owner, budget_id)


def _levels_told(windows: BudgetLimits, levels: Sequence[int]) -> None:
    """Alert levels are crossed on a calendar window's spend (``budget.threshold``); a rolling
    window's spend frees as it ages and no level is told of it, so levels on a budget whose only
    window is rolling are refused where they are set rather than accepted and never heard of.
    Beside a calendar window they are told of that window's spend."""
    rolling = [limit.hours is not None for limit in windows.limits]
    if levels and rolling and all(rolling):
        raise ApiError(Code.BUDGET_LEVELS_ON_ROLLING_WINDOW, data={"field": "thresholds_percent"})


async def update(
    conn: AsyncConnection, owner: Owner, budget_id: str, body: BudgetUpdate
) -> BudgetData:
    """PATCH: the fields present replace the stored ones. New windows take effect from the next
    payment; what was spent in the current windows stays counted."""
    row = await _row(conn, owner, budget_id, lock=True)
    _held_by(owner, budget_id)
    # What the budget will be once changed: its levels must be ones it can tell.
    stored = _drawn(row)
    levels = stored.thresholds if body.thresholds_percent is None else body.thresholds_percent
    _levels_told(body.windows or stored.windows, levels)
    values: dict[str, Any] = {"updated_at": utcnow()}
    if body.name is not None:
        values["name"] = body.name
    if body.windows is not None:
        values["windows"] = body.windows.stored()
    if body.thresholds_percent is not None:
        values["thresholds_percent"] = list(body.thresholds_percent)
    await conn.execute(sa.update(_B).where(_B.c.id == budget_id).values(values))
    return await _read(conn, owner, budget_id)


async def delete(conn: AsyncConnection, owner: Owner, budget_id: str) -> BudgetData:
    """Delete a budget nothing draws on (``BUDGET_DRAWN_ON`` otherwise), with its windows. The
    budget is locked first, so no policy comes to name it meanwhile (``check_policy``)."""
    row = await _row(conn, owner, budget_id, lock=True)
    _held_by(owner, budget_id)
    drawers = await _drawers(conn, owner.merchant_id, owner.env)
    if drawers.get(budget_id):
        raise ApiError(
            Code.BUDGET_DRAWN_ON,
            data={"drawn_by": [d.model_dump() for d in drawers[budget_id]]},
        )
    gone = await _data(conn, row, drawers, utcnow())
    await conn.execute(sa.delete(_S).where(_S.c.key_id == budget_id))
    await conn.execute(sa.delete(_B).where(_B.c.id == budget_id))
    return gone


async def freeze_budget(
    db: Database, merchant: str, env: str, budget_id: str, frozen: bool
) -> BudgetData:
    """Freeze (``frozen``) or unfreeze budget ``budget_id`` of merchant ``merchant``'s ``env``:
    a frozen budget admits no payment that draws on it, from the next payment on. The one
    freeze every door and the environment's kill switch call."""
    owner = Owner(merchant, env)
    async with db.transaction() as conn:
        await _row(conn, owner, budget_id, lock=True)
        await conn.execute(
            sa.update(_B).where(_B.c.id == budget_id).values(frozen=frozen, updated_at=utcnow())
        )
        return await _read(conn, owner, budget_id)


async def held_draws(
    db: Database, merchant_id: str, env: str, txn_ids: Sequence[str]
) -> dict[str, list[str]]:
    """Per top-up of ``txn_ids`` (of a merchant's ``env``), the names of the budgets it was
    counted in (its kept windows, ``spend.kept``): what a held send draws on, for the approvals
    inbox. A budget since deleted is left out."""
    if not txn_ids:
        return {}
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(_T.c.id, _T.c.spend_buckets).where(
                    _T.c.id.in_(list(txn_ids)), _T.c.merchant_id == merchant_id, _T.c.env == env
                )
            )
        ).all()
        drawn = {
            r.id: spend.give_back_params(list(r.spend_buckets or []))["budget_ids"] for r in rows
        }
        ids = sorted({b for found in drawn.values() for b in found})
        names = {}
        if ids:
            named = await conn.execute(
                sa.select(_B.c.id, _B.c.name).where(
                    _B.c.id.in_(ids), _B.c.merchant_id == merchant_id, _B.c.env == env
                )
            )
            names = {str(r.id): str(r.name) for r in named}
    return {txn: [names[b] for b in found if b in names] for txn, found in drawn.items()}


# --- Operations: each opens its own read or transaction and answers an ``Outcome``.


async def create_budget(db: Database, owner: Owner, body: BudgetCreate) -> Outcome:
    async with db.transaction() as conn:
        made = await create(conn, owner, body)
    return Outcome(Code.CREATED, made)


async def list_budgets(db: Database, owner: Owner) -> Outcome:
    """Every budget of the environment, oldest first, each with its spend and drawers."""
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(_B)
            .where(_B.c.merchant_id == owner.merchant_id, _B.c.env == owner.env)
            .order_by(_B.c.id)
        )
        drawers = await _drawers(conn, owner.merchant_id, owner.env)
        now = utcnow()
        found = [await _data(conn, r, drawers, now) for r in rows.all()]
    return Outcome(Code.SUCCESS, found)


async def get_budget(db: Database, owner: Owner, budget_id: str) -> Outcome:
    async with db.read() as conn:
        found = await _read(conn, owner, budget_id)
    return Outcome(Code.SUCCESS, found)


async def update_budget(db: Database, owner: Owner, budget_id: str, body: BudgetUpdate) -> Outcome:
    async with db.transaction() as conn:
        changed = await update(conn, owner, budget_id, body)
    return Outcome(Code.SUCCESS, changed)


async def delete_budget(db: Database, owner: Owner, budget_id: str) -> Outcome:
    async with db.transaction() as conn:
        gone = await delete(conn, owner, budget_id)
    return Outcome(Code.DELETED, gone)


async def freeze(db: Database, owner: Owner, budget_id: str, frozen: bool) -> Outcome:
    """``freeze_budget`` for a door: a key drawing on the budget may freeze it, not unfreeze
    it."""
    if not frozen:
        _held_by(owner, budget_id)
    return Outcome(
        Code.SUCCESS, await freeze_budget(db, owner.merchant_id, owner.env, budget_id, frozen)
    )
