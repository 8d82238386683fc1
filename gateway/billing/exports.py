"""CSV exports of a merchant's ledger, top-ups and orders over a date range, streamed.

Rows are read a page at a time by key (``id`` after the last one sent), each page in a read of
its own, and written out as CSV before the next is read: the process holds one page, whatever
the range holds. Both ends are bounded before the first byte is sent: the range by
``AITOPUP_FUNDING_EXPORT_MAX_DAYS``, the rows it holds by ``AITOPUP_FUNDING_EXPORT_MAX_ROWS``
(counted first, so a refusal is an envelope, never a cut-off file). No secret is exported: not a
voucher, not a checkout link.

Every line goes through one writer (``_write``). A text cell a spreadsheet would read as a
formula (one that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return: an accepted
address such as ``=cmd|'/c calc'!A0@example.org``, a memo) is written with a single quote in
front, as OWASP's "CSV Injection" advises; every text cell is quoted. Numbers (the amounts, which
may be negative) are never text: they are written as they are, unquoted, and stay numbers.
"""

import csv
import io
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, func, select

from ..callers import Caller
from ..ledger import service as ledger
from ..store.engine import Database
from ..store.models import FundingOrder, LedgerEntry, Topup, table_of
from ..values.clock import rfc3339, rfc3339_or_none
from ..values.code_names import Code
from ..values.outcome import ApiError
from ..values.settings import Settings

__all__ = ["PAGE_ROWS", "Kind", "csv_export"]

Kind = Literal["ledger", "topups", "orders"]
PAGE_ROWS = 1000

_L = table_of(LedgerEntry)
_T = table_of(Topup)
_O = table_of(FundingOrder)


@dataclass(frozen=True, slots=True)
class _Shape:
    table: Any
    columns: tuple[str, ...]
    line: Callable[[Any], Sequence[Any]]


def _ledger_line(r: Any) -> Sequence[Any]:
    return (
        r.id,
        rfc3339(r.created_at),
        r.env,
        r.kind,
        r.amount_cents,
        r.reference,
        r.memo,
        r.number,
    )


def _topup_line(r: Any) -> Sequence[Any]:
    return (
        r.id,
        rfc3339(r.created_at),
        r.env,
        r.platform,
        r.amount_cents,
        r.recipient_email,
        r.status,
        r.failure_reason,
    )


def _order_line(r: Any) -> Sequence[Any]:
    return (
        r.id,
        rfc3339(r.created_at),
        r.env,
        r.kind,
        r.provider,
        r.provider_session_id,
        r.pack_id,
        r.pack_name,
        r.credit_cents,
        r.price_cents,
        r.tier_discount_cents,
        r.discount_cents,
        r.amount_cents,
        r.currency,
        r.status,
        r.provider_status,
        rfc3339_or_none(r.completed_at),
    )


_SHAPES: dict[str, _Shape] = {
    "ledger": _Shape(
        _L,
        # The entry's number in its wallet last: a reader by position finds nothing moved.
        ("id", "created_at", "env", "type", "amount_cents", "reference", "description",
         "number"),
        _ledger_line,
    ),
    "topups": _Shape(
        _T,
        ("id", "created_at", "env", "platform", "amount_cents", "recipient_email", "status",
         "failure_reason"),
        _topup_line,
    ),
    "orders": _Shape(
        _O,
        ("id", "created_at", "env", "kind", "provider", "provider_reference", "pack_id", "name",
         "credit_cents", "price_cents", "tier_discount_cents", "coupon_discount_cents",
         "amount_paid_cents", "currency", "status", "provider_status", "completed_at"),
        _order_line,
    ),
}  # fmt: skip


# What a spreadsheet takes as the start of a formula (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A text cell that could start a formula gets a single quote in front; numbers as they are."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _write(rows: Sequence[Sequence[Any]]) -> str:
    """The CSV lines of ``rows``: the one writer of every export (text quoted, numbers not)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return out.getvalue()


async def _mine(
    db: Database, caller: Caller, kind: str
) -> tuple[list[ColumnElement[bool]] | None, int | None]:
    """The caller's rows of ``kind`` in its env (None when it has no wallet, so no ledger), and
    how many there are at most when that is known without counting: the wallet's own count of
    its entries (``ledger.balance``)."""
    if kind == "ledger":
        async with db.read() as conn:
            wallet = await ledger.balance(
                conn, caller.env, ledger.merchant_owner(caller.merchant_id)
            )
        if wallet is None:
            return None, 0
        return [_L.c.wallet_id == wallet.wallet_id], wallet.entry_count
    table = _SHAPES[kind].table
    return [table.c.merchant_id == caller.merchant_id, table.c.env == caller.env], None


async def csv_export(
    db: Database,
    settings: Settings,
    caller: Caller,
    kind: str,
    start: datetime,
    end: datetime,
) -> AsyncIterator[str]:
    """The CSV of ``kind`` from ``start`` (inclusive) to ``end`` (exclusive): checked and
    counted here, then an iterator of pages of text for a streamed reply."""
    if not start < end or end - start > timedelta(days=settings.funding_export_max_days):
        raise ApiError(Code.EXPORT_RANGE_INVALID)
    shape = _SHAPES[kind]
    mine, at_most = await _mine(db, caller, kind)
    where: list[ColumnElement[bool]] = []
    if mine is not None:
        table = shape.table
        where = [*mine, table.c.created_at >= start, table.c.created_at < end]
        count = 0
        # A ledger no longer than the limit cannot hold a range longer than it: not counted.
        if at_most is None or at_most > settings.funding_export_max_rows:
            async with db.read() as conn:
                count = (await conn.execute(select(func.count()).where(*where))).scalar_one()
        if count > settings.funding_export_max_rows:
            raise ApiError(
                Code.EXPORT_RANGE_INVALID,
                f"The range holds {count} rows, more than the "
                f"{settings.funding_export_max_rows} an export may: narrow it",
            )
    return _pages(db, shape, where if mine is not None else None)


async def _pages(
    db: Database, shape: _Shape, where: list[ColumnElement[bool]] | None
) -> AsyncIterator[str]:
    yield _write([shape.columns])
    if where is None:
        return
    table = shape.table
    last: Any = None
    while True:
        stmt: Select[Any] = select(table).where(*where).order_by(table.c.id).limit(PAGE_ROWS)
        if last is not None:
            stmt = stmt.where(table.c.id > last)
        async with db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        if not rows:
            return
        last = rows[-1].id
        yield _write([shape.line(row) for row in rows])
        if len(rows) < PAGE_ROWS:
            return
