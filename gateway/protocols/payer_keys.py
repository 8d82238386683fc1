"""The merchants' payer keys at rest: sealed (AES-GCM, ``keys.Sealer``, bound to the merchant,
the environment and the protocol, so a sealed key copied to another row does not open), the
address beside it in clear; and the one read that opens a key, made by a payer when it makes a
credential (``opened``), never logged; the one kept, still sealed (``held``), for a payer's
``ready`` to judge once whether it opens (``judged``). In the protocols' wing, below their
registry, so a payer reads it; the merchant's operations on its keys are the sellers' wing's
(``sellers.payer_keys``)."""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..store import expressions
from ..store.engine import Database
from ..store.models import PayerKey as Row
from ..store.models import table_of
from .base import PayerKey

__all__ = ["added", "held", "listed", "opened", "removed"]

_K = table_of(Row)


def _context(merchant_id: str, env: str, protocol: str) -> str:
    return f"payer-key:{merchant_id}:{env}:{protocol}"


def _key(merchant_id: str, env: str, protocol: str) -> tuple[Any, ...]:
    return (_K.c.merchant_id == merchant_id, _K.c.env == env, _K.c.protocol == protocol)


async def added(
    conn: AsyncConnection,
    sealer: Sealer,
    merchant_id: str,
    env: str,
    protocol: str,
    key: PayerKey,
    now: datetime,
) -> Any | None:
    """``key`` kept as the merchant's for ``protocol`` in ``env``, the row as written; ``None``
    when one is kept there already (it stays as it was)."""
    sealed = sealer.seal(key.secret, context=_context(merchant_id, env, protocol))
    row = {"merchant_id": merchant_id, "env": env, "protocol": protocol}
    values = {**row, "address": key.address, "key_sealed": sealed, "created_at": now}
    insert = expressions.upsert(_K).values(values).on_conflict_do_nothing(index_elements=list(row))
    return (await conn.execute(insert.returning(*_K.c))).first()


async def listed(conn: AsyncConnection, merchant_id: str, env: str) -> list[Any]:
    """The merchant's keys in ``env``, by protocol."""
    query = select(_K).where(_K.c.merchant_id == merchant_id, _K.c.env == env)
    return list((await conn.execute(query.order_by(_K.c.protocol))).all())


async def removed(conn: AsyncConnection, merchant_id: str, env: str, protocol: str) -> bool:
    """Whether a key of ``protocol`` in ``env`` was there to remove (it is gone now)."""
    done = await conn.execute(delete(_K).where(*_key(merchant_id, env, protocol)))
    return bool(done.rowcount)


async def held(db: Database, merchant_id: str, env: str, protocol: str) -> tuple[str, str] | None:
    """The merchant's key for ``protocol`` in ``env`` as kept, sealed, with the context it is
    sealed under (``judged`` tells whether it opens); ``None`` where none is kept."""
    async with db.read() as conn:
        query = select(_K.c.key_sealed).where(*_key(merchant_id, env, protocol))
        found = (await conn.execute(query)).scalar_one_or_none()
    return None if found is None else (found, _context(merchant_id, env, protocol))


async def opened(
    db: Database, sealer: Sealer, merchant_id: str, env: str, protocol: str
) -> PayerKey | None:
    """The merchant's key for ``protocol`` in ``env``, its secret opened; ``None`` where none is
    set. For making a credential alone: the secret goes no further than the signature."""
    async with db.read() as conn:
        row = (await conn.execute(select(_K).where(*_key(merchant_id, env, protocol)))).first()
    if row is None:
        return None
    secret = sealer.open(row.key_sealed, context=_context(merchant_id, env, protocol))
    return PayerKey(secret, row.address)
