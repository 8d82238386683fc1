"""One page of a list newest first by id, after a cursor (the last id of the page before):
asked for one row more than the page, so whether more follow is known without a count. Every
cursor list (top-ups, endpoints, deliveries, keys, mail, templates) pages this way."""

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select

__all__ = ["newest_first", "split"]

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
