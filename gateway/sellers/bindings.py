"""The destinations a person bound to an origin, per merchant and environment: what an origin in
a key's ``allowed_payees`` admits (``policies.payees``), so a url an agent names never chooses
where the money goes.

A binding is written by a person's act alone: approving a payment held because its destination
was not bound to the origin it named (``approvals``), or the merchant's own list (REST under
``/payments/bindings`` with the ``approvals`` scope, and the dashboard's Payments page). A
payment's own request never writes one; a payment whose challenge the gateway met at the
origin itself needs none (``payees.Payee.proven``).
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..callers import Caller, require_scope
from ..store.engine import Database
from ..store.expressions import param, upsert
from ..store.models import PayeeBinding, table_of
from ..store.paging import newest_first, split
from ..store.raw import Raw, Statement
from ..values.clock import new_id, rfc3339, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, CursorMeta, Outcome
from .schemas import BindingCreate, BindingData

__all__ = ["add", "bind", "bound", "listed", "remove"]

_B = table_of(PayeeBinding)

_BOUND = Statement.of(
    sa.select(_B.c.id)
    .where(
        _B.c.merchant_id == param("merchant_id", sa.String),
        _B.c.env == param("env", sa.String),
        _B.c.origin == param("origin", sa.String),
        _B.c.destination == param("destination", sa.String),
    )
    .limit(1)
)


async def bound(tx: Raw, merchant_id: str, env: str, origin: str, destination: str) -> bool:
    """Whether a person bound ``destination`` to ``origin`` in ``merchant_id``'s ``env``."""
    found = await tx.fetch(
        _BOUND,
        {"merchant_id": merchant_id, "env": env, "origin": origin, "destination": destination},
    )
    return bool(found)


async def bind(
    conn: AsyncConnection,
    merchant_id: str,
    env: str,
    origin: str,
    destination: str,
    *,
    by: str,
    now: datetime,
) -> None:
    """``destination`` bound to ``origin`` by ``by`` (a key, ``user:<id>``), in the caller's
    transaction; one bound already stays as it was (who bound it first, when)."""
    row = {
        "id": new_id("pb"),
        "merchant_id": merchant_id,
        "env": env,
        "origin": origin,
        "destination": destination,
        "bound_by": by,
        "created_at": now,
    }
    keys = [_B.c.merchant_id, _B.c.env, _B.c.origin, _B.c.destination]
    await conn.execute(upsert(_B).values(row).on_conflict_do_nothing(index_elements=keys))


# --- The merchant's own list: a person's act (the ``approvals`` scope), never an agent's.


def _data(row: Any) -> BindingData:
    return BindingData(
        id=row.id,
        origin=row.origin,
        destination=row.destination,
        bound_by=row.bound_by,
        created_at=rfc3339(row.created_at),
    )


def _mine(caller: Caller) -> Any:
    return sa.and_(_B.c.merchant_id == caller.merchant_id, _B.c.env == caller.env)


async def add(db: Database, caller: Caller, body: BindingCreate) -> Outcome:
    """``body.destination`` bound to ``body.origin`` by ``caller``; one bound already is
    answered as it stands."""
    require_scope(caller, "approvals")
    now = utcnow()
    async with db.transaction() as conn:
        await bind(
            conn,
            caller.merchant_id,
            caller.env,
            body.origin,
            body.destination,
            by=caller.key_id,
            now=now,
        )
        row = (
            await conn.execute(
                sa.select(_B).where(
                    _mine(caller), _B.c.origin == body.origin, _B.c.destination == body.destination
                )
            )
        ).one()
    return Outcome(Code.CREATED, _data(row))


async def listed(db: Database, caller: Caller, *, limit: int, cursor: str | None) -> Outcome:
    """The environment's bindings, newest first, after ``cursor``."""
    require_scope(caller, "approvals")
    stmt = newest_first(sa.select(_B).where(_mine(caller)), _B.c.id, limit=limit, cursor=cursor)
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    page, more = split(rows, limit)
    items = [_data(row) for row in page]
    return Outcome(Code.SUCCESS, items, meta=CursorMeta.of(items, limit, more).model_dump())


async def remove(db: Database, caller: Caller, binding_id: str) -> Outcome:
    """Binding ``binding_id`` removed: its origin no longer admits its destination (a payment
    there is held for a person again)."""
    require_scope(caller, "approvals")
    async with db.transaction() as conn:
        gone = await conn.execute(sa.delete(_B).where(_mine(caller), _B.c.id == binding_id))
    if not gone.rowcount:
        raise ApiError(Code.PAYEE_BINDING_NOT_FOUND)
    return Outcome(Code.DELETED)
