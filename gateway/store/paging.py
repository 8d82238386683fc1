"""One page of a list newest first by id, after a cursor (the last id of the page before):
asked for one row more than the page, so whether more follow is known without a count. Every
cursor list (top-ups, endpoints, deliveries, keys, mail, templates) pages this way.

A list of the webhook history pages in windows of time (``recent_first``): on PostgreSQL that
history is partitioned by week on its time-ordered ids (``store.partitions``), and a statement
no key bounds is planned over every partition (a year of weeks: some 15 ms to plan a page that
runs in 0.3). Bounded below by the floor of the ids made ``RECENT`` before the page's top, it is
planned over the two or three weeks that bound reaches; only a page that window does not fill
reads on below it, in a second statement. The same statements on SQLite, where the bound is an
index range like the cursor's."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row, Select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..values.clock import id_floor, id_time

__all__ = ["RECENT", "newest_first", "recent_first", "split"]

# The first window of a page of history: two weeks before its top (now, or the cursor's time).
RECENT = timedelta(days=14)

T = TypeVar("T")
S = TypeVar("S", bound=Select[Any])


def newest_first(stmt: S, id_column: ColumnElement[Any], *, limit: int, cursor: str | None) -> S:
    """``stmt``'s rows after ``cursor``, newest first, ``limit`` and one more."""
    if cursor is not None:
        stmt = stmt.where(id_column < cursor)
    return stmt.order_by(id_column.desc()).limit(limit + 1)


def split(rows: Sequence[T], limit: int) -> tuple[Sequence[T], bool]:
    """The page among ``rows`` (read by ``newest_first``) and whether more follow it."""
    return rows[:limit], len(rows) > limit


async def recent_first(
    conn: AsyncConnection,
    stmt: Select[Any],
    id_column: ColumnElement[Any],
    *,
    prefix: str,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> tuple[Sequence[Row[Any]], bool]:
    """``newest_first``'s page of ``stmt`` (and whether more follow), its ids made by
    ``new_id(prefix)``: read first within ``RECENT`` before its top, then, if that leaves the
    page short, below it. A cursor that is no id of ``prefix`` is read in one statement."""
    top = now if cursor is None else id_time(prefix, cursor)
    if top is None:
        page = newest_first(stmt, id_column, limit=limit, cursor=cursor)
        return split((await conn.execute(page)).all(), limit)
    since = id_floor(prefix, top - RECENT)
    page = newest_first(stmt.where(id_column >= since), id_column, limit=limit, cursor=cursor)
    rows = list((await conn.execute(page)).all())
    if len(rows) <= limit:
        rest = newest_first(stmt, id_column, limit=limit - len(rows), cursor=since)
        rows += (await conn.execute(rest)).all()
    return split(rows, limit)
