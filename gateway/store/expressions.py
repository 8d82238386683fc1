"""SQL pieces that render per store, for the steps of a plan (``compose``) and the writes
outside one: a typed parameter, an upsert, a fixed name, a column one of a list parameter, a
CTE run once, JSON text into a JSON column, a JSON object's text, an INSERT of rows given as
mappings. Each is one construct; where the stores' SQL differs, it compiles to each store's
own."""

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Insert,
    Select,
    Table,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import CTE, True_
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeEngine

__all__ = [
    "const",
    "from_floor",
    "from_rows",
    "json_object",
    "json_text",
    "materialized",
    "one_of",
    "param",
    "upsert",
]


def param(name: str, type_: TypeEngine[Any] | type[TypeEngine[Any]]) -> BindParameter[Any]:
    """A named, typed parameter: its type gives PostgreSQL's cast."""
    return BindParameter(name, type_=type_)


def upsert(table: Table) -> postgresql.Insert:
    """An INSERT that may take ``ON CONFLICT … DO UPDATE``: SQLAlchemy renders the same clause
    for SQLite, which shares PostgreSQL's syntax. (SQLite wants a ``WHERE`` in the ``SELECT``
    of an ``INSERT … SELECT … ON CONFLICT``, to tell it from a join's ``ON``.)"""
    return postgresql.insert(table)


def const(value: str) -> ColumnElement[Any]:
    """A fixed name written into the SQL (a kind, a status): never a value from outside."""
    assert "'" not in value
    return literal_column(f"'{value}'")


class _OneOf(ColumnElement[bool]):
    """``column`` is one of the list bound as the one parameter ``values``: a single statement
    whatever the list's length, each value looked up by the column's index."""

    inherit_cache = True
    # Visited for the parameters a step binds; SQLAlchemy declares this a list.
    _traverse_internals = [  # noqa: RUF012
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], values: BindParameter[Any]) -> None:
        self.column = column
        self.values = values


@compiles(_OneOf, "postgresql")
def _one_of_postgresql(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} = ANY({values})"


@compiles(_OneOf, "sqlite")
def _one_of_sqlite(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    # The list arrives as JSON text (``raw``): SQLite has no array parameters.
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} IN (SELECT value FROM json_each({values}))"  # noqa: S608 (compiled SQL)


def materialized(query: Select[Any], name: str) -> CTE:
    """``query`` as a CTE that runs once, for a statement over the rows it picks: as a plain
    subquery PostgreSQL may run it again for each row it updates, and with a ``LIMIT`` (each
    run skipping what the last locked, or finding rows committed since) pick more than it
    should; and joined or matched as one query, the planner of a table without statistics may
    read a whole index for the rows it picks (a due index, an endpoint's deliveries), where
    picked first, alone, they are each looked up by their key."""
    return query.cte(name).prefix_with("MATERIALIZED", dialect="postgresql")


def one_of(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``column`` is one of the values of the list parameter ``name``."""
    return _OneOf(column, param(name, ARRAY(column.type)))


class _FromFloor(ColumnElement[bool]):
    """``column``, a partition key, at ``floor`` or above: PostgreSQL plans only the partitions
    that range reaches (the value bound, each statement planned with it), and SQLite's one
    table has no partitions, nor a reason to weigh the key's range against its other indexes."""

    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012
        ("column", InternalTraversal.dp_clauseelement),
        ("floor", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], floor: BindParameter[Any]) -> None:
        self.column = column
        self.floor = floor


@compiles(_FromFloor, "postgresql")
def _from_floor_postgresql(element: _FromFloor, compiler: SQLCompiler, **kw: Any) -> str:
    column, floor = compiler.process(element.column, **kw), compiler.process(element.floor, **kw)
    return f"{column} >= {floor}"


@compiles(_FromFloor, "sqlite")
def _from_floor_sqlite(element: _FromFloor, compiler: SQLCompiler, **kw: Any) -> str:
    return "1"


def from_floor(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``column`` at the parameter ``name`` or above, on PostgreSQL (``_FromFloor``)."""
    return _FromFloor(column, param(name, column.type))


class _JsonText(ColumnElement[Any]):
    """JSON text into a JSON column: PostgreSQL wants the cast, SQLite keeps text as it is (its
    own CAST would give the text numeric affinity)."""

    inherit_cache = True
    _traverse_internals = [("text", InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, text: ColumnElement[Any]) -> None:
        self.text = text


@compiles(_JsonText, "postgresql")
def _json_text_postgresql(element: _JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.text, **kw)} AS JSON)"


@compiles(_JsonText, "sqlite")
def _json_text_sqlite(element: _JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.text, **kw))


def json_text(text: ColumnElement[Any]) -> ColumnElement[Any]:
    return _JsonText(text)


class _JsonObject(ColumnElement[Any]):
    """A JSON object's text, built by the store from names and values: PostgreSQL's
    ``json_build_object`` as text, SQLite's ``json_object``."""

    inherit_cache = True
    _traverse_internals = [("values", InternalTraversal.dp_clauseelement_list)]  # noqa: RUF012

    def __init__(self, pairs: Mapping[str, ColumnElement[Any]]) -> None:
        self.values = [item for name, value in pairs.items() for item in (const(name), value)]


def _json_object_args(element: _JsonObject, compiler: SQLCompiler, **kw: Any) -> str:
    return ", ".join(compiler.process(value, **kw) for value in element.values)


@compiles(_JsonObject, "postgresql")
def _json_object_postgresql(element: _JsonObject, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(json_build_object({_json_object_args(element, compiler, **kw)}) AS TEXT)"


@compiles(_JsonObject, "sqlite")
def _json_object_sqlite(element: _JsonObject, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_object({_json_object_args(element, compiler, **kw)})"


def json_object(pairs: Mapping[str, ColumnElement[Any]]) -> ColumnElement[Any]:
    """The text of a JSON object of ``pairs`` (names written into the SQL, never from outside),
    as the store builds it: a number stays a number, NULL is ``null``."""
    return _JsonObject(pairs)


_I = TypeVar("_I", bound=Insert)


def from_rows(
    stmt: _I, rows: Sequence[Mapping[str, ColumnElement[Any]]], *, where: ColumnElement[bool]
) -> _I:
    """``INSERT … SELECT`` of ``rows``, each a mapping of column name to value, while ``where``
    holds: a name and its value stand together, so none can slip out of line. Where ``where``
    is plain true (a step run in order once its source wrote) and one row's values read no
    table, the row is ``VALUES``: SQLite copies an ``INSERT … SELECT`` with ``RETURNING`` or a
    conflict clause to a table of its own first, and a ``VALUES`` row it writes as it goes
    (``inline``: without the primary key SQLAlchemy would otherwise have it return)."""
    names = list(rows[0])
    if not all(list(row) == names for row in rows):
        raise ValueError("every row names the same columns")
    selects = [select(*row.values()).where(where) for row in rows]
    if len(rows) == 1 and isinstance(where, True_) and not selects[0].columns_clause_froms:
        return stmt.inline().values(dict(rows[0]))
    return stmt.from_select(names, selects[0] if len(selects) == 1 else union_all(*selects))
