"""Whether an endpoint's payload filter passes an event's body, as SQL each store runs inside
the fan-out's own statement (``outbox``): the rule is ``values.payload_filters``.

PostgreSQL matches the filter's SQL/JSON path (``webhook_endpoints.filter_path``) with
``jsonb_path_match``; SQLite calls the rule itself on the filter's JSON
(``webhook_endpoints.filter``), a function each of its connections is given (``register``). An
endpoint without a filter passes every event, and neither store looks at the body for it.
"""

from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Boolean

from ..values.payload_filters import SQLITE_FUNCTION, matches_text
from .models import WebhookEndpoint, table_of

__all__ = ["dropped", "has_filter", "passes", "register"]

_EP = table_of(WebhookEndpoint)


class _Judged(ColumnElement[bool]):
    """The endpoint's filter on ``body``: ``passes`` (or none), or, ``negated``, drops it."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012 (SQLAlchemy declares this a list)
        ("body", InternalTraversal.dp_clauseelement),
        ("negated", InternalTraversal.dp_boolean),
    ]

    def __init__(self, body: ColumnElement[Any], *, negated: bool) -> None:
        self.body = body
        self.negated = negated

    @property
    def _from_objects(self) -> list[Any]:
        # What the body reads (an earlier step's value), so the statement selects from it.
        return [*self.body._from_objects, _EP]


@compiles(_Judged, "postgresql")
def _judged_postgresql(element: _Judged, compiler: SQLCompiler, **kw: Any) -> str:
    path = compiler.process(_EP.c.filter_path, **kw)
    body = compiler.process(element.body, **kw)
    # silent: what would be an error in the path is no match, never a failed write.
    match = (
        f"jsonb_path_match(CAST({body} AS JSONB), CAST({path} AS JSONPATH), "
        "CAST('{}' AS JSONB), TRUE)"
    )
    if element.negated:
        return f"({path} IS NOT NULL AND NOT {match})"
    return f"({path} IS NULL OR {match})"


@compiles(_Judged, "sqlite")
def _judged_sqlite(element: _Judged, compiler: SQLCompiler, **kw: Any) -> str:
    saved = compiler.process(_EP.c.filter, **kw)
    match = f"{SQLITE_FUNCTION}({saved}, {compiler.process(element.body, **kw)})"
    if element.negated:
        return f"({saved} IS NOT NULL AND NOT {match})"
    return f"({saved} IS NULL OR {match})"


def passes(body: ColumnElement[Any]) -> ColumnElement[bool]:
    """The endpoint has no filter, or its filter passes the event ``body`` (JSON text)."""
    return _Judged(body, negated=False)


def dropped(body: ColumnElement[Any]) -> ColumnElement[bool]:
    """The endpoint has a filter, and it drops the event ``body``."""
    return _Judged(body, negated=True)


def has_filter() -> ColumnElement[bool]:
    """The endpoint has a filter (the column the store's own match reads)."""
    return _HasFilter()


class _HasFilter(ColumnElement[bool]):
    inherit_cache = True
    type = Boolean()
    _traverse_internals = []  # noqa: RUF012 (SQLAlchemy declares this a list)

    @property
    def _from_objects(self) -> list[Any]:
        return [_EP]


@compiles(_HasFilter, "postgresql")
def _has_filter_postgresql(element: _HasFilter, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(_EP.c.filter_path, **kw)} IS NOT NULL)"


@compiles(_HasFilter, "sqlite")
def _has_filter_sqlite(element: _HasFilter, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(_EP.c.filter, **kw)} IS NOT NULL)"


def register(connection: Any) -> None:
    """Give a SQLite connection (``sqlite3``'s, or SQLAlchemy's adapter of aiosqlite's, which
    has the same method) the filter's function; deterministic, as the rule is."""
    connection.create_function(SQLITE_FUNCTION, 2, matches_text, deterministic=True)
