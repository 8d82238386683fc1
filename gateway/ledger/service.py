"""Every balance change goes through here, inside the caller's transaction.

A change is one conditional UPDATE (or upsert) that returns the new balance, plus an append to
``ledger_entries``; nothing ever updates or deletes an entry, so a wallet's balance is always the
sum of its entries. Debits are ``UPDATE … WHERE balance_cents >= :amount``: the row lock (or
SQLite's single writer) makes "never below zero" hold under any concurrency.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..clock import new_id
from ..store.db import Database
from ..store.models import LedgerEntry, Wallet, table_of
from ..store.raw import Conn, Statement, raw

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
    "new_wallet_id",
    "recipient_owner",
]

_W = table_of(Wallet)
_L = table_of(LedgerEntry)


def new_wallet_id() -> str:
    return new_id("wal")


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


_DEBIT = Statement(
    """UPDATE wallets SET balance_cents = balance_cents - :amount, updated_at = :now
    WHERE id = :wallet_id AND balance_cents >= :amount RETURNING balance_cents""",
    ("balance_cents",),
)
_CREDIT = Statement(
    """UPDATE wallets SET balance_cents = balance_cents + :amount, updated_at = :now
    WHERE id = :wallet_id RETURNING balance_cents""",
    ("balance_cents",),
)
_CREDIT_RECIPIENT = Statement(
    """INSERT INTO wallets (id, env, owner, merchant_id, platform, email, balance_cents,
        created_at, updated_at)
    VALUES (:id, :env, :owner, NULL, :platform, :email, :amount, :now, :now)
    ON CONFLICT (env, owner) DO UPDATE
    SET balance_cents = wallets.balance_cents + :amount, updated_at = :now
    RETURNING id, balance_cents""",
    ("id", "balance_cents"),
)


async def debit(conn: Conn, wallet_id: str, amount: int, now: datetime) -> int | None:
    """Take ``amount`` if the wallet holds it and return the new balance; ``None`` (and nothing
    changed) if it does not. The row stays locked until commit: debit last, commit at once."""
    row = await (await raw(conn)).fetchrow(
        _DEBIT, {"wallet_id": wallet_id, "amount": amount, "now": now}
    )
    return None if row is None else int(row["balance_cents"])


async def credit(conn: Conn, wallet_id: str, amount: int, now: datetime) -> int:
    row = await (await raw(conn)).fetchrow(
        _CREDIT, {"wallet_id": wallet_id, "amount": amount, "now": now}
    )
    assert row is not None, "credit of a wallet that does not exist"
    return int(row["balance_cents"])


async def credit_recipient(
    conn: Conn, env: str, platform: str, email: str, amount: int, now: datetime
) -> Balance:
    """Credit the recipient's wallet, creating it on first use, in one statement."""
    row = await (await raw(conn)).fetchrow(
        _CREDIT_RECIPIENT,
        {
            "id": new_wallet_id(),
            "env": env,
            "owner": recipient_owner(platform, email),
            "platform": platform,
            "email": email,
            "amount": amount,
            "now": now,
        },
    )
    assert row is not None
    return Balance(row["id"], int(row["balance_cents"]))


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


def _append_statement(count: int) -> Statement:
    rows = ", ".join(f"(:w{i}, :e{i}, :a{i}, :k{i}, :r{i}, :m{i}, :now)" for i in range(count))
    # Only placeholders are formatted in; values are always bound.
    sql = "INSERT INTO ledger_entries (wallet_id, env, amount_cents, kind, reference, memo, "
    return Statement(sql + f"created_at) VALUES {rows}")


_APPEND = {count: _append_statement(count) for count in (1, 2, 3)}


async def append(conn: Conn, entries: list[Entry], now: datetime) -> None:
    """Append entries in one multi-row INSERT; entries are never updated or deleted."""
    params: dict[str, Any] = {"now": now}
    for i, e in enumerate(entries):
        params.update(
            {
                f"w{i}": e.wallet_id,
                f"e{i}": e.env,
                f"a{i}": e.amount_cents,
                f"k{i}": e.kind,
                f"r{i}": e.reference,
                f"m{i}": e.memo,
            }
        )
    statement = _APPEND.get(len(entries)) or _append_statement(len(entries))
    await (await raw(conn)).fetch(statement, params)


async def entries_sum(conn: AsyncConnection, wallet_id: str) -> int:
    stmt = select(func.coalesce(func.sum(_L.c.amount_cents), 0)).where(_L.c.wallet_id == wallet_id)
    return int((await conn.execute(stmt)).scalar_one())
