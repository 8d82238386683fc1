"""Every balance change goes through here, inside the caller's transaction.

A change is one conditional UPDATE (or upsert) that returns the new balance, plus an append to
``ledger_entries``; nothing ever updates or deletes an entry, so a wallet's balance is always the
sum of its entries. Debits are ``UPDATE … WHERE balance_cents >= :amount``: the row lock (or
SQLite's single writer) makes "never below zero" hold under any concurrency.

The same statement moves the wallet's ``entry_count`` by the number of entries written with the
change (``_moved``), so the count of a wallet's entries is read from the wallet, never counted,
and costs the hot path no statement of its own.

Each entry carries its ``number`` in its wallet, 1, 2, 3, … with no gap: what a merchant reads as
its ledger's numbering, where the table's id runs across every wallet. The statement that moves
the wallet returns its new count (``COUNT``) and the entries written with it are numbered up to
it (``numbered``): the row's lock (or SQLite's one writer) orders every change of a wallet, so
no two entries of it get one number, and none is skipped. It is read from what the change
already returns: no statement more.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    cast,
    func,
    insert,
    literal_column,
    null,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store.compose import Refs
from ..store.expressions import from_rows, param, upsert
from ..store.models import LedgerEntry, Wallet, table_of
from ..store.raw import Conn, Construct, Statement, raw
from ..store.types import UTCDateTime
from ..values.clock import new_id
from . import alerts, grants, refills

__all__ = [
    "COUNT",
    "THROUGH",
    "Entry",
    "Line",
    "amount",
    "append",
    "balance",
    "conditional_debit",
    "credit",
    "ensure_wallet",
    "entries",
    "entries_sum",
    "frozen",
    "given_back",
    "lock_merchants",
    "merchant_owner",
    "merchant_wallet",
    "new_wallet_id",
    "numbered",
    "recipient_credit",
    "recipient_debit",
    "recipient_owner",
    "refund_credit",
    "wallet_credit",
    "wallets_locked",
    "withdraw",
]

_W = table_of(Wallet)
_L = table_of(LedgerEntry)
_INT = BigInteger()
# What every change of a wallet returns: its count of entries after it, the last one's number.
COUNT = "entry_count"
# What a debit returns besides: its wallet's debits in all through it (``grants.recorded``),
# which its entry keeps when it can be given back (``Line.drawn_through``).
THROUGH = "drawn_through"


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
    entry_count: int  # how many ledger entries the wallet has


def _moved(balance: ColumnElement[Any], entries: int) -> dict[str, ColumnElement[Any]]:
    """What every change of a wallet sets: its new ``balance``, its count of entries moved by
    ``entries`` (those written with the change), and the time. The one definition of both, so
    the count stays the number of entries as the balance stays their sum."""
    assert entries >= 1, "every balance change comes with its ledger entries"
    return {
        "balance_cents": balance,
        "entry_count": _W.c.entry_count + literal_column(str(entries)),
        "updated_at": param("now", UTCDateTime()),
    }


def conditional_debit(refs: Refs, *, entries: int = 1, unfrozen: bool = False) -> Construct:
    """Take ``:taken`` from wallet ``:wallet_id`` only while it holds ``:amount``; returns the new
    balance, or no row (and nothing changed). A send that fails at once takes nothing but must
    still be covered (and writes two entries: ``entries``). The row stays locked until commit:
    commit at once.

    ``unfrozen``: only while its environment is not frozen (a payment a credential makes). The
    freeze writes the same row, so each such debit is ordered against it by the row's lock (or
    SQLite's one writer): one that commits after the freeze finds no row.

    The same statement moves the wallet's low-balance alerts and returns the level it told
    (``alerts.told``): each level crossed is told once, whatever races it. What it takes is
    added to the wallet's undrawn debits, which the next change of its credit grants draws from
    them (``grants``): the debit writes no grant."""
    where = [
        _W.c.id == param("wallet_id", String),
        _W.c.balance_cents >= param("amount", _INT),
    ]
    if unfrozen:
        where.append(_W.c.frozen_at.is_(None))
    return (
        update(_W)
        .where(*where)
        .values(
            {
                **_moved(_W.c.balance_cents - param("taken", _INT), entries),
                "undrawn_cents": _W.c.undrawn_cents + param("taken", _INT),
                **alerts.told(_W),
            }
        )
        .returning(
            _W.c.balance_cents,
            _W.c.entry_count,
            refills.crossed(_W).label(refills.DUE),
            alerts.told_level(_W),
            (_W.c.drawn_cents + _W.c.undrawn_cents).label(THROUGH),
        )
    )


def unfrozen_gate(refs: Refs) -> Construct:
    """What stands for the debit of a payment another instrument pays (the merchant's own card
    or payer key): the payer's wallet ``:wallet_id`` only while its environment is not frozen,
    its balance untouched; returns it, or no row. It writes the row the freeze writes, so it is
    ordered against the freeze as ``conditional_debit(unfrozen=True)`` is."""
    return (
        update(_W)
        .where(_W.c.id == param("wallet_id", String), _W.c.frozen_at.is_(None))
        .values({"updated_at": _W.c.updated_at})
        .returning(_W.c.balance_cents, _W.c.entry_count)
    )


def recipient_credit(refs: Refs, *, after: str) -> Construct:
    """Credit ``:amount`` to the recipient's wallet at this merchant (``:env``,
    ``:merchant_id``, ``:platform``, ``:email``), creating it on first use, once step ``after``
    has returned a row; returns its id and new balance. The send and an approval both deliver
    through it."""
    now = param("now", UTCDateTime())
    row = {
        "id": param("recipient_wallet_id", String),
        "env": param("env", String),
        "owner": param("recipient_owner", String),
        "merchant_id": param("merchant_id", String),
        "platform": param("platform", String),
        "email": param("email", String),
        "balance_cents": param("amount", _INT),
        "entry_count": literal_column("1"),  # its ``topup_credit``
        "created_at": now,
        "updated_at": now,
    }
    stmt = from_rows(upsert(_W), [row], where=refs.after(after))
    return stmt.on_conflict_do_update(
        index_elements=[_W.c.env, _W.c.owner],
        set_=_moved(_W.c.balance_cents + stmt.excluded.balance_cents, 1),
    ).returning(_W.c.id, _W.c.balance_cents, _W.c.entry_count)


def recipient_debit(wallet: ColumnElement[Any]) -> Construct:
    """Take ``:amount`` from the recipient's wallet ``wallet`` only while it holds it (a
    redeemed voucher spends its credit); returns its id and new balance, or no row (and
    nothing changed). It comes with its one ``voucher_redeemed`` entry."""
    return (
        update(_W)
        .where(_W.c.id == wallet, _W.c.balance_cents >= param("amount", _INT))
        .values(_moved(_W.c.balance_cents - param("amount", _INT), 1))
        .returning(_W.c.id, _W.c.balance_cents, _W.c.entry_count)
    )


def refund_credit(refs: Refs, *, after: str) -> Construct:
    """Give ``:amount`` back to the merchant's wallet ``:wallet_id`` once step ``after`` has
    returned a row; returns its new balance. Every refund of a top-up goes through it, with its
    one ``topup_refund`` entry and the paid grant it comes back as (``grants.granted``, after
    the wallet's ``grants.settle_steps``)."""
    return (
        update(_W)
        .where(_W.c.id == param("wallet_id", String), refs.after(after))
        .values(_moved(_W.c.balance_cents + param("amount", _INT), 1))
        .returning(_W.c.balance_cents, _W.c.entry_count)
    )


def wallet_credit(refs: Refs, *, wallet: ColumnElement[Any], after: str) -> Construct:
    """Credit ``:amount`` to ``wallet`` once step ``after`` has returned a row, with its one
    entry and its grant (``grants.granted``); returns its new balance. What one merchant pays
    another (an app's charge) lands so."""
    return (
        update(_W)
        .where(_W.c.id == wallet, refs.after(after))
        .values(_moved(_W.c.balance_cents + param("amount", _INT), 1))
        .returning(_W.c.balance_cents, _W.c.entry_count)
    )


@dataclass(frozen=True, slots=True)
class Line:
    """One ledger entry of a composed write: its wallet and signed amount as SQL expressions,
    its number in the wallet (``numbered``), and its env, reference and memo (by default the
    plan's ``:env``, ``:reference``, ``:memo``)."""

    wallet: ColumnElement[Any]
    amount: ColumnElement[Any]
    kind: ColumnElement[Any]  # a fixed name (``const``) or a parameter
    number: ColumnElement[Any] | None = None
    env: ColumnElement[Any] | None = None
    reference: ColumnElement[Any] | None = None
    memo: ColumnElement[Any] | None = None
    # A debit that can be given back: where it ends in its wallet's debits in all, as the
    # debit returned it (``refs.col(step, THROUGH)``), so its give-back finds what it drew.
    drawn_through: ColumnElement[Any] | None = None


def given_back(line: Line, debit: ColumnElement[Any]) -> Line:
    """``line``, the entry of a debit a give-back may return (a send, a payment, an app's
    charge), with its end in its wallet's debits in all, which ``debit`` returned."""
    return replace(line, drawn_through=debit)


def numbered(count: ColumnElement[Any], *lines: Line) -> list[Line]:
    """``lines``, the entries of one change of a wallet that left its count of entries at
    ``count`` (as the change returned it: ``refs.col(step, COUNT)``), numbered in order up to it:
    the change moved the count by as many."""
    last = len(lines) - 1
    return [
        replace(line, number=count if i == last else count - literal_column(str(last - i)))
        for i, line in enumerate(lines)
    ]


def _number_of(line: Line) -> ColumnElement[Any]:
    assert line.number is not None, "an entry has its number in its wallet: ``numbered``"
    return line.number


def _through_of(line: Line) -> ColumnElement[Any]:
    return cast(null(), _INT) if line.drawn_through is None else line.drawn_through


def entries(lines: Sequence[Line], *, after: ColumnElement[bool]) -> Construct:
    """Append one entry per line, at ``:now``, once ``after`` holds: the one writer of ledger
    entries, which are never updated or deleted. Every line is ``numbered``."""
    through = any(line.drawn_through is not None for line in lines)
    rows = [
        {
            "wallet_id": line.wallet,
            "number": _number_of(line),
            "env": param("env", String) if line.env is None else line.env,
            "amount_cents": line.amount,
            "kind": line.kind,
            "reference": param("reference", String) if line.reference is None else line.reference,
            "memo": param("memo", String) if line.memo is None else line.memo,
            "created_at": param("now", UTCDateTime()),
            **({THROUGH: _through_of(line)} if through else {}),
        }
        for line in lines
    ]
    return from_rows(insert(_L), rows, where=after)


def amount() -> ColumnElement[Any]:
    return param("amount", _INT)


def merchant_wallet() -> ColumnElement[Any]:
    return param("wallet_id", String)


def _locked_in_order(*where: ColumnElement[bool]) -> Select[Any]:
    return select(_W.c.id).where(*where).order_by(_W.c.id).with_for_update()


def wallets_locked(*wallets: ColumnElement[Any]) -> Construct:
    """Lock ``wallets`` in the order of their ids: what a change of two merchants' wallets takes
    first (an app's charge: the payer's and its owner's), so two such changes in opposite
    directions wait for one another rather than each holding the wallet the other wants."""
    return _locked_in_order(_W.c.id.in_(wallets))


async def lock_merchants(conn: AsyncConnection, env: str, merchant_ids: Sequence[str]) -> None:
    """``wallets_locked`` for the merchants' wallets of ``env``, in the caller's transaction (a
    charge's refund: the owner's and the payer's)."""
    owners = [merchant_owner(m) for m in merchant_ids]
    await conn.execute(_locked_in_order(_W.c.env == env, _W.c.owner.in_(owners)))


_CREDIT = Statement.of(
    update(_W)
    .where(_W.c.id == param("wallet_id", String))
    .values(_moved(_W.c.balance_cents + param("amount", _INT), 1))
    .returning(_W.c.balance_cents, _W.c.env, _W.c.entry_count)
)
_WITHDRAW = Statement.of(
    update(_W)
    .where(_W.c.id == param("wallet_id", String))
    .values(_moved(_W.c.balance_cents - param("amount", _INT), 1))
    .returning(_W.c.balance_cents)
)


async def credit(
    conn: Conn, wallet_id: str, amount: int, now: datetime, grant: grants.Grant | None
) -> int:
    """Credit the merchant wallet ``amount`` (> 0) as ``grant`` and return the new balance. It
    comes with exactly one entry, which the caller appends in the same transaction
    (``append``): the wallet's count of entries moves by one here. Its undrawn debits are drawn
    from its grants first (``grants.settle``), as before every change of them. ``None``: a
    give-back, whose caller restores the grants the debit was drawn from once its entry is
    appended (``giveback.give_back``)."""
    assert amount > 0
    await grants.settle(conn, wallet_id)
    row = await (await raw(conn)).fetchrow(
        _CREDIT, {"wallet_id": wallet_id, "amount": amount, "now": now}
    )
    assert row is not None, "credit of a wallet that does not exist"
    if grant is not None:
        count = int(row["entry_count"])
        await grants.insert(conn, wallet_id, str(row["env"]), count, amount, grant, now)
    return int(row["balance_cents"])


async def withdraw(conn: Conn, wallet_id: str, amount: int, now: datetime) -> int:
    """Take ``amount`` out of the wallet, whose lock the caller holds, with the one entry it
    appends (``append``): a grant's remainder voided or expired, which the balance holds by the
    grants' invariant. The new balance."""
    row = await (await raw(conn)).fetchrow(
        _WITHDRAW, {"wallet_id": wallet_id, "amount": amount, "now": now}
    )
    assert row is not None, "withdrawal from a wallet that does not exist"
    return int(row["balance_cents"])


_ENSURE = Statement.of(
    upsert(_W)
    .values(
        id=param("wallet_id", String),
        env=param("env", String),
        owner=param("owner", String),
        merchant_id=param("merchant_id", String),
        balance_cents=literal_column("0"),
        created_at=param("now", UTCDateTime()),
        updated_at=param("now", UTCDateTime()),
    )
    .on_conflict_do_nothing(index_elements=[_W.c.env, _W.c.owner])
    .returning(_W.c.id)
)
_OWNED = Statement.of(
    select(_W.c.id).where(_W.c.env == param("env", String), _W.c.owner == param("owner", String))
)


async def ensure_wallet(conn: Conn, env: str, merchant_id: str, now: datetime) -> tuple[str, bool]:
    """The merchant's wallet in ``env``: ``(id, created)``."""
    tx = await raw(conn)
    params = {"env": env, "owner": merchant_owner(merchant_id)}
    created = await tx.fetchrow(
        _ENSURE, {**params, "wallet_id": new_wallet_id(), "merchant_id": merchant_id, "now": now}
    )
    if created is not None:
        return str(created["id"]), True
    existing = await tx.fetchrow(_OWNED, params)
    assert existing is not None
    return str(existing["id"]), False


_BALANCE = Statement.of(
    select(_W.c.id, _W.c.balance_cents, _W.c.entry_count).where(
        _W.c.env == param("env", String), _W.c.owner == param("owner", String)
    )
)


async def balance(conn: Conn, env: str, owner: str) -> Balance | None:
    row = await (await raw(conn)).fetchrow(_BALANCE, {"env": env, "owner": owner})
    if row is None:
        return None
    return Balance(str(row["id"]), int(row["balance_cents"]), int(row["entry_count"]))


def _count_of(wallet: ColumnElement[Any]) -> ColumnElement[Any]:
    """The wallet's count of entries as this transaction left it: read after its change
    (``credit``), whose row lock the transaction holds, so no other change came between."""
    return select(_W.c.entry_count).where(_W.c.id == wallet).scalar_subquery()


@functools.cache
def _append_statement(count: int) -> Statement:
    """``count`` entries, each its own values (``:w<i>``, ``:e<i>``, …), through ``entries``;
    entry ``i`` numbered ``:n<i>`` below its wallet's count (the later entries of its wallet in
    the same append)."""
    lines = [
        Line(
            param(f"w{i}", String),
            param(f"a{i}", _INT),
            param(f"k{i}", String),
            number=_count_of(param(f"w{i}", String)) - param(f"n{i}", _INT),
            env=param(f"e{i}", String),
            reference=param(f"r{i}", String),
            memo=param(f"m{i}", String),
        )
        for i in range(count)
    ]
    return Statement.of(entries(lines, after=true()))


async def append(conn: Conn, entries: list[Entry], now: datetime) -> None:
    """Append entries in one multi-row INSERT, after the change of each wallet they belong to in
    the same transaction (``credit``), numbered in order up to its count; entries are never
    updated or deleted."""
    params: dict[str, Any] = {"now": now}
    for i, e in enumerate(entries):
        params.update(
            {
                f"w{i}": e.wallet_id,
                f"n{i}": sum(later.wallet_id == e.wallet_id for later in entries[i + 1 :]),
                f"e{i}": e.env,
                f"a{i}": e.amount_cents,
                f"k{i}": e.kind,
                f"r{i}": e.reference,
                f"m{i}": e.memo,
            }
        )
    await (await raw(conn)).fetch(_append_statement(len(entries)), params)


async def entries_sum(conn: AsyncConnection, wallet_id: str) -> int:
    stmt = select(func.coalesce(func.sum(_L.c.amount_cents), 0)).where(_L.c.wallet_id == wallet_id)
    return int((await conn.execute(stmt)).scalar_one())


_FROZEN = Statement.of(
    select(_W.c.frozen_at).where(_W.c.id == param("wallet_id", String)).with_for_update()
)


async def frozen(conn: Conn, wallet_id: str) -> bool:
    """Whether the environment of merchant wallet ``wallet_id`` is frozen, the row locked until
    the caller's commit (SQLite's one writer does the same), so a write this allows is ordered
    before any freeze: read off the hot path only (a refusal, a decision)."""
    row = await (await raw(conn)).fetchrow(_FROZEN, {"wallet_id": wallet_id})
    return row is not None and row["frozen_at"] is not None
