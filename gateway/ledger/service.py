"""Every balance change goes through here, inside the caller's transaction.

A change is one conditional UPDATE (or upsert) that returns the new balance, plus an append to
``ledger_entries``; nothing ever updates or deletes an entry, so a wallet's balance is always the
sum of its entries. Debits are ``UPDATE … WHERE balance_cents >= :amount``: the row lock (or
SQLite's single writer) makes "never below zero" hold under any concurrency.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    func,
    insert,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from ..clock import new_id
from ..store.compose import NO_REFS, Refs, param, upsert
from ..store.db import Database
from ..store.models import LedgerEntry, Wallet, table_of
from ..store.raw import Conn, Construct, Statement, raw
from ..store.types import UTCDateTime

__all__ = [
    "Entry",
    "Line",
    "amount",
    "append",
    "balance",
    "conditional_debit",
    "credit",
    "debit",
    "ensure_wallet",
    "entries",
    "entries_sum",
    "merchant_owner",
    "merchant_wallet",
    "new_wallet_id",
    "recipient_credit",
    "recipient_owner",
]

_W = table_of(Wallet)
_L = table_of(LedgerEntry)
_INT = BigInteger()


def new_wallet_id() -> str:
    return new_id("wal")


def merchant_owner(merchant_id: str) -> str:
    return f"m:{merchant_id}"


def recipient_owner(merchant_id: str, platform: str, email: str) -> str:
    """A recipient's wallet belongs to one merchant: no merchant learns what another sent."""
    return f"r:{merchant_id}:{platform}:{email}"


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


def conditional_debit(refs: Refs) -> Construct:
    """Take ``:taken`` from wallet ``:wallet_id`` only while it holds ``:amount``; returns the new
    balance, or no row (and nothing changed). A send that fails at once takes nothing but must
    still be covered. The row stays locked until commit: commit at once."""
    return (
        update(_W)
        .where(_W.c.id == param("wallet_id", String), _W.c.balance_cents >= param("amount", _INT))
        .values(
            balance_cents=_W.c.balance_cents - param("taken", _INT),
            updated_at=param("now", UTCDateTime()),
        )
        .returning(_W.c.balance_cents)
    )


def recipient_credit(refs: Refs, *, after: str) -> Construct:
    """Credit ``:amount`` to the recipient's wallet at this merchant (``:env``,
    ``:merchant_id``, ``:platform``, ``:email``), creating it on first use, once step ``after``
    has returned a row; returns its id and new balance."""
    values = select(
        param("recipient_wallet_id", String),
        param("env", String),
        param("recipient_owner", String),
        param("merchant_id", String),
        param("platform", String),
        param("email", String),
        param("amount", _INT),
        param("now", UTCDateTime()),
        param("now", UTCDateTime()),
    ).where(refs.after(after))
    columns = ["id", "env", "owner", "merchant_id", "platform", "email", "balance_cents"]
    stmt = upsert(_W).from_select(
        [*columns, "created_at", "updated_at"],
        values,
    )
    return stmt.on_conflict_do_update(
        index_elements=[_W.c.env, _W.c.owner],
        set_={
            "balance_cents": _W.c.balance_cents + stmt.excluded.balance_cents,
            "updated_at": stmt.excluded.updated_at,
        },
    ).returning(_W.c.id, _W.c.balance_cents)


@dataclass(frozen=True, slots=True)
class Line:
    """One ledger entry of a composed write: its wallet and signed amount as SQL expressions."""

    wallet: ColumnElement[Any]
    amount: ColumnElement[Any]
    kind: ColumnElement[Any]  # a fixed name (``const``) or a parameter


def entries(lines: Sequence[Line], *, after: ColumnElement[bool]) -> Construct:
    """Append one entry per line, with ``:env``, ``:reference``, ``:memo`` and ``:now``, once
    ``after`` holds; entries are never updated or deleted."""
    rows = [
        select(
            line.wallet,
            param("env", String),
            line.amount,
            line.kind,
            param("reference", String),
            param("memo", String),
            param("now", UTCDateTime()),
        ).where(after)
        for line in lines
    ]
    columns = ["wallet_id", "env", "amount_cents", "kind", "reference", "memo", "created_at"]
    return insert(_L).from_select(columns, rows[0] if len(rows) == 1 else union_all(*rows))


def amount() -> ColumnElement[Any]:
    return param("amount", _INT)


def merchant_wallet() -> ColumnElement[Any]:
    return param("wallet_id", String)


_DEBIT = Statement.of(conditional_debit(NO_REFS))
_CREDIT = Statement(
    """UPDATE wallets SET balance_cents = balance_cents + :amount, updated_at = :now
    WHERE id = :wallet_id RETURNING balance_cents""",
    ("balance_cents",),
)


async def debit(conn: Conn, wallet_id: str, amount: int, now: datetime) -> int | None:
    """Take ``amount`` if the wallet holds it and return the new balance; ``None`` (and nothing
    changed) if it does not. The row stays locked until commit: debit last, commit at once."""
    row = await (await raw(conn)).fetchrow(
        _DEBIT, {"wallet_id": wallet_id, "amount": amount, "taken": amount, "now": now}
    )
    return None if row is None else int(row["balance_cents"])


async def credit(conn: Conn, wallet_id: str, amount: int, now: datetime) -> int:
    row = await (await raw(conn)).fetchrow(
        _CREDIT, {"wallet_id": wallet_id, "amount": amount, "now": now}
    )
    assert row is not None, "credit of a wallet that does not exist"
    return int(row["balance_cents"])


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
