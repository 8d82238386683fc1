"""Every balance change goes through here, inside the caller's transaction.

A change is one conditional UPDATE (or upsert) that returns the new balance, plus an append to
``ledger_entries``; nothing ever updates or deletes an entry, so a wallet's balance is always the
sum of its entries. Debits are ``UPDATE … WHERE balance_cents >= :amount``: the row lock (or
SQLite's single writer) makes "never below zero" hold under any concurrency.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..clock import new_id
from ..store.db import Database
from ..store.models import LedgerEntry, Wallet, table_of

__all__ = [
    "Entry",
    "append",
    "balance",
    "credit",
    "credit_recipient",
    "debit",
    "ensure_wallet",
    "entries_sum",
    "merchant_owner",
    "recipient_owner",
]

_W = table_of(Wallet)
_L = table_of(LedgerEntry)


def merchant_owner(merchant_id: str) -> str:
    return f"m:{merchant_id}"


def recipient_owner(platform: str, email: str) -> str:
    return f"r:{platform}:{email}"


@dataclass(frozen=True, slots=True)
class Entry:
    wallet_id: str
    env: str
    amount_cents: int
    kind: str
    reference: str | None = None
    memo: str | None = None


@dataclass(frozen=True, slots=True)
class Balance:
    wallet_id: str
    balance_cents: int


async def debit(
    conn: AsyncConnection, env: str, owner: str, amount: int, now: datetime
) -> Balance | None:
    """Take ``amount`` if the wallet holds it; ``None`` (and nothing changed) if it does not."""
    stmt = (
        update(_W)
        .where(_W.c.env == env, _W.c.owner == owner, _W.c.balance_cents >= amount)
        .values(balance_cents=_W.c.balance_cents - amount, updated_at=now)
        .returning(_W.c.id, _W.c.balance_cents)
    )
    row = (await conn.execute(stmt)).first()
    return None if row is None else Balance(row.id, row.balance_cents)


async def credit(conn: AsyncConnection, wallet_id: str, amount: int, now: datetime) -> int:
    stmt = (
        update(_W)
        .where(_W.c.id == wallet_id)
        .values(balance_cents=_W.c.balance_cents + amount, updated_at=now)
        .returning(_W.c.balance_cents)
    )
    return int((await conn.execute(stmt)).scalar_one())


async def credit_recipient(
    conn: AsyncConnection,
    db: Database,
    env: str,
    platform: str,
    email: str,
    amount: int,
    now: datetime,
) -> Balance:
    """Credit the recipient's wallet, creating it on first use, in one statement."""
    stmt = db.insert(_W).values(
        id=new_id("wal"),
        env=env,
        owner=recipient_owner(platform, email),
        merchant_id=None,
        platform=platform,
        email=email,
        balance_cents=amount,
        created_at=now,
        updated_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[_W.c.env, _W.c.owner],
        set_={"balance_cents": _W.c.balance_cents + amount, "updated_at": now},
    ).returning(_W.c.id, _W.c.balance_cents)
    row = (await conn.execute(stmt)).one()
    return Balance(row.id, row.balance_cents)


async def ensure_wallet(
    conn: AsyncConnection, db: Database, env: str, merchant_id: str, now: datetime
) -> tuple[str, bool]:
    """The merchant's wallet in ``env``: ``(id, created)``."""
    owner = merchant_owner(merchant_id)
    stmt = (
        db.insert(_W)
        .values(
            id=new_id("wal"),
            env=env,
            owner=owner,
            merchant_id=merchant_id,
            balance_cents=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[_W.c.env, _W.c.owner])
        .returning(_W.c.id)
    )
    created = (await conn.execute(stmt)).scalar()
    if created is not None:
        return str(created), True
    existing = await conn.execute(select(_W.c.id).where(_W.c.env == env, _W.c.owner == owner))
    return str(existing.scalar_one()), False


async def balance(conn: AsyncConnection, env: str, owner: str) -> Balance | None:
    row = (
        await conn.execute(
            select(_W.c.id, _W.c.balance_cents).where(_W.c.env == env, _W.c.owner == owner)
        )
    ).first()
    return None if row is None else Balance(row.id, row.balance_cents)


async def append(conn: AsyncConnection, entries: list[Entry], now: datetime) -> None:
    await conn.execute(
        insert(_L),
        [
            {
                "wallet_id": e.wallet_id,
                "env": e.env,
                "amount_cents": e.amount_cents,
                "kind": e.kind,
                "reference": e.reference,
                "memo": e.memo,
                "created_at": now,
            }
            for e in entries
        ],
    )


async def entries_sum(conn: AsyncConnection, wallet_id: str) -> int:
    stmt = select(func.coalesce(func.sum(_L.c.amount_cents), 0)).where(_L.c.wallet_id == wallet_id)
    return int((await conn.execute(stmt)).scalar_one())
