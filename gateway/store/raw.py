"""Driver-level statements for the hot path.

SQLAlchemy Core's per-statement machinery (cache keys, execution contexts, result metadata)
costs more CPU than the statements the hot path runs (figures: ``docs/performance.md``), so they
go straight to asyncpg or aiosqlite instead: either inside the transaction SQLAlchemy began on a
connection (``raw(conn)``), or on a driver connection of the database's own (``Database.run``).
Everything else uses Core.

A statement is a Core construct (``Statement.of``), compiled once per dialect on first use:
``$n`` with PostgreSQL's casts for asyncpg, named ``:name`` for sqlite3; or, for a fixed text,
written once with ``:name`` parameters. Values are bound the way the Core column types store
them, so rows written here read back through Core unchanged.
"""

import json
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.dialects.sqlite import aiosqlite as sqlite_aiosqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import UpdateBase

__all__ = ["CheckViolated", "Conn", "Construct", "Raw", "Statement", "UniqueViolated", "raw"]


class CheckViolated(Exception):
    """A statement would have broken the CHECK constraint ``name``, so it changed nothing: a
    write that counts under a limit (``key_spend``) is refused by the store itself."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class UniqueViolated(Exception):
    """A statement would have written a second row of ``table`` under one of its unique keys,
    so it changed nothing: an idempotency key's answer written last in its payment's plan finds
    the key taken (``idempotency.answer_step``)."""

    def __init__(self, table: str) -> None:
        super().__init__(table)
        self.table = table


_SQLITE_CHECK = "CHECK constraint failed: "
_SQLITE_UNIQUE = "UNIQUE constraint failed: "

# What ``Statement.of`` takes: a Core INSERT, UPDATE or DELETE (with RETURNING or not) or SELECT.
Construct = UpdateBase | Select[Any]

_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")
# The last datetime formatted, and its text: a transaction binds the same ``now`` in most of its
# statements. One tuple, swapped whole, so threads sharing it never see a mismatched pair.
_last_datetime: tuple[datetime | None, str] = (None, "")


def _sqlite_datetime(value: datetime) -> str:
    global _last_datetime
    last, text = _last_datetime
    if last is not value:
        # SQLAlchemy's own SQLite DATETIME text, "%Y-%m-%d %H:%M:%S.%f" in UTC, written by
        # ``isoformat`` at half the cost of ``strftime`` (the offset it appends is cut off).
        utc = value if value.tzinfo is UTC else value.astimezone(UTC)
        text = utc.isoformat(" ", "microseconds")[:26]
        _last_datetime = (value, text)
    return text


# sqlite3 turns a value into SQLite's own as it binds it, by its type's adapter: only a datetime
# (the text SQLAlchemy stores) and a list parameter (``compose.one_of``, as JSON text) are handed
# to Python, every other value is bound in C. Converting them in Python, a statement's values one
# by one, was 7% of a send's bytecodes on SQLite (a plan binds about a hundred). Registered once
# for the process, as sqlite3's own adapters are: nothing else here binds these types to sqlite3
# (SQLAlchemy's Core converts its own values before its driver sees them).
sqlite3.register_adapter(datetime, _sqlite_datetime)
sqlite3.register_adapter(list, json.dumps)


def _with_constants(params: dict[str, Any], constants: dict[str, Any]) -> dict[str, Any]:
    """What a statement is bound: ``params`` with the statement's ``constants`` (a construct's
    literals) over them. A statement takes only its own names from what it is handed (a plan
    hands every step the parameters of all its steps), and SQLAlchemy names a statement's
    literals apart from its parameters, so a literal's name another step's parameter shares
    still means the literal here."""
    return {**params, **constants} if constants else params


def _names(sql: str) -> tuple[str, ...]:
    """The ``:name`` parameters of ``sql``, each once, in order of first use."""
    return tuple(dict.fromkeys(_PARAM.findall(sql)))


class Statement:
    """``columns`` names what the statement returns, in order (aiosqlite's one-trip
    ``execute_fetchall`` gives bare tuples). ``sqlite`` is the text sqlite3 runs, with ``:name``
    parameters, and their names; ``asyncpg`` the text asyncpg runs and the parameter names in
    ``$n`` order. Each comes with the values the statement carries itself (a construct's
    literals), bound with every run."""

    def __init__(self, sql: str, columns: tuple[str, ...] = ()) -> None:
        self._text = " ".join(sql.split())
        self.columns = columns

    @classmethod
    def of(cls, construct: Construct) -> "Statement":
        """A SQLAlchemy Core construct, compiled once per dialect on first use."""
        return _Compiled(construct)

    @property
    def sql(self) -> str:
        return self.sqlite[0]

    @cached_property
    def sqlite(self) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        return self._text, _names(self._text), {}

    @cached_property
    def asyncpg(self) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        names = self.sqlite[1]  # ``$n`` numbers them in the same order of first use

        def number(match: re.Match[str]) -> str:
            return f"${names.index(match.group(1)) + 1}"

        return _PARAM.sub(number, self._text), names, {}


_SQLITE = sqlite_aiosqlite.dialect(paramstyle="named")
# SQLAlchemy leaves the asyncpg dialect's constructor unannotated.
_POSTGRES = postgresql_asyncpg.dialect()  # type: ignore[no-untyped-call]


class _Compiled(Statement):
    """The same construct as SQLite's and as asyncpg's text, each compiled on first use.
    SQLAlchemy renders each dialect's placeholders, and from the typed parameters the casts
    PostgreSQL needs."""

    def __init__(self, construct: Construct) -> None:
        self._construct = construct
        returned = getattr(construct, "exported_columns", ())
        self.columns = tuple(str(column.name) for column in returned)

    @cached_property
    def sqlite(self) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        compiled = self._construct.compile(dialect=_SQLITE)
        sql = " ".join(str(compiled).split())
        return sql, _names(sql), _constants(compiled)

    @cached_property
    def asyncpg(self) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        compiled = self._construct.compile(dialect=_POSTGRES)
        names = tuple(compiled.positiontup or ())
        return " ".join(compiled.string.split()), names, _constants(compiled)


def _constants(compiled: Any) -> dict[str, Any]:
    """A literal in a construct (``generation + 1``, ``status = 'pending'``) is a bound
    parameter with its value; the named parameters of ``compose.param`` have none."""
    names = compiled.bind_names
    return {names[bind]: bind.value for bind in compiled.binds.values() if not bind.required}


def _violated(exc: sqlite3.IntegrityError) -> CheckViolated | UniqueViolated | None:
    """A CHECK constraint's refusal as ``CheckViolated``, a unique key's as ``UniqueViolated``
    (SQLite names its columns, ``table.column, …``); none for any other integrity error."""
    message = str(exc)
    if message.startswith(_SQLITE_CHECK):
        return CheckViolated(message.removeprefix(_SQLITE_CHECK))
    if message.startswith(_SQLITE_UNIQUE):
        return UniqueViolated(message.removeprefix(_SQLITE_UNIQUE).split(".", 1)[0])
    return None


class Raw:
    """The driver connection behind one ``AsyncConnection``.

    ``inline``: ``driver`` is a plain ``sqlite3.Connection`` and this code already runs on the
    thread that owns it (``Database.run``), so each statement executes at once, without
    suspending the coroutine that awaits it."""

    def __init__(self, driver: Any, is_sqlite: bool, *, inline: bool = False) -> None:
        self._driver = driver
        self.is_sqlite = is_sqlite
        self._inline = inline
        # True while a statement is awaited: ``Database.run`` tells a statement's suspension
        # from any other.
        self.in_statement = False

    @property
    def driver(self) -> Any:
        """The driver's own connection (``Database``'s group commit begins on it)."""
        return self._driver

    async def fetch(self, statement: Statement, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.is_sqlite:
            sql, _, constants = statement.sqlite
            bound = _with_constants(params, constants)
            try:
                if self._inline:
                    rows = self._driver.execute(sql, bound).fetchall()
                else:
                    # One trip to aiosqlite's thread: execute and fetch together.
                    rows = await self._driver.execute_fetchall(sql, bound)
            except sqlite3.IntegrityError as exc:
                if (violated := _violated(exc)) is not None:
                    raise violated from None
                raise
            return [dict(zip(statement.columns, row, strict=True)) for row in rows]
        sql, names, constants = statement.asyncpg
        params = _with_constants(params, constants)
        self.in_statement = True
        try:
            # map, not a generator: no Python frame resumed for each of a plan's hundred values
            records = await self._driver.fetch(sql, *map(params.__getitem__, names))
        except asyncpg.CheckViolationError as exc:
            raise CheckViolated(exc.constraint_name or "") from None
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolated(exc.table_name or "") from None
        finally:
            self.in_statement = False
        return [dict(record) for record in records]

    async def count(self, statement: Statement, params: dict[str, Any]) -> int:
        """The rows ``statement`` (a write without RETURNING) wrote: where whether it wrote is
        all a caller needs, SQLite's RETURNING, which buffers its rows in a table of their own,
        costs a write a third again."""
        if self.is_sqlite:
            sql, _, constants = statement.sqlite
            bound = _with_constants(params, constants)
            try:
                if self._inline:
                    written: int = self._driver.execute(sql, bound).rowcount
                    return written
                cursor = await self._driver.execute(sql, bound)
                written = cursor.rowcount
                await cursor.close()
                return written
            except sqlite3.IntegrityError as exc:
                if (violated := _violated(exc)) is not None:
                    raise violated from None
                raise
        sql, names, constants = statement.asyncpg
        params = _with_constants(params, constants)
        self.in_statement = True
        try:
            status: str = await self._driver.execute(sql, *map(params.__getitem__, names))
        except asyncpg.CheckViolationError as exc:
            raise CheckViolated(exc.constraint_name or "") from None
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolated(exc.table_name or "") from None
        finally:
            self.in_statement = False
        return int(status.rsplit(" ", 1)[-1])  # the command tag: "INSERT 0 1", "UPDATE 3"

    async def fetchrow(self, statement: Statement, params: dict[str, Any]) -> dict[str, Any] | None:
        rows = await self.fetch(statement, params)
        return rows[0] if rows else None

    async def executemany(self, statement: Statement, rows: list[dict[str, Any]]) -> None:
        """One statement for many parameter sets: one trip to aiosqlite's thread, or asyncpg's
        pipelined ``executemany``."""
        await self.executemany_each([statement], rows)

    async def executemany_each(
        self, statements: Sequence[Statement], rows: list[dict[str, Any]]
    ) -> None:
        """Each statement in turn over the same parameter sets: on SQLite each binds its own
        names of them (sqlite3 reads them out, adapting datetimes and lists), on PostgreSQL each
        picks its own in order."""
        if not rows:
            return
        if self.is_sqlite:
            for statement in statements:
                sql, _, constants = statement.sqlite
                each = [_with_constants(row, constants) for row in rows] if constants else rows
                if self._inline:
                    self._driver.executemany(sql, each)
                else:
                    await self._driver.executemany(sql, each)
            return
        for statement in statements:
            sql, names, constants = statement.asyncpg
            rows_of = [_with_constants(row, constants) for row in rows] if constants else rows
            self.in_statement = True
            try:
                await self._driver.executemany(sql, [tuple(r[n] for n in names) for r in rows_of])
            finally:
                self.in_statement = False

    def timestamp(self, value: Any) -> datetime | None:
        """A timestamp column as the driver returned it, as an aware UTC datetime (SQLite hands
        back the text SQLAlchemy stored)."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        if value.tzinfo is UTC:  # asyncpg's, already
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        """The statements of this block commit together: in a transaction of their own on a
        PostgreSQL connection in autocommit (``Database.run(each_statement=True)``), in the
        one already open elsewhere."""
        if self.is_sqlite or self._driver.is_in_transaction():
            yield
            return
        await self.fetch(_BEGIN, {})
        try:
            yield
        except BaseException:
            await self.fetch(_ROLLBACK, {})
            raise
        await self.fetch(_COMMIT, {})

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: what runs inside is undone if it raises, the rest is kept."""
        await self.fetch(_SAVEPOINT, {})
        try:
            yield
        except BaseException:
            await self.fetch(_ROLLBACK_TO, {})
            raise
        finally:
            await self.fetch(_RELEASE, {})


_BEGIN = Statement("BEGIN")
_COMMIT = Statement("COMMIT")
_ROLLBACK = Statement("ROLLBACK")
# The same statements on both backends; one name suffices because savepoints nest by scope.
_SAVEPOINT = Statement("SAVEPOINT hot")
_ROLLBACK_TO = Statement("ROLLBACK TO SAVEPOINT hot")
_RELEASE = Statement("RELEASE SAVEPOINT hot")

# What the write paths take: a SQLAlchemy connection, or a driver connection already unwrapped.
Conn = AsyncConnection | Raw


_BEGIN_ON_POSTGRES = "SELECT 1"


async def raw(conn: Conn) -> Raw:
    """The driver behind ``conn``, inside ``conn``'s transaction if it has begun one.

    On SQLite the driver begins with SQLAlchemy's BEGIN (``store.sqlite``), so nothing is sent
    here. SQLAlchemy's asyncpg adapter begins only before a statement of its own, and offers no
    public way to begin sooner: a driver statement run first would run outside the transaction,
    in autocommit. So when the adapter has not begun yet, one statement of SQLAlchemy's makes
    it begin (a trip, on the Core paths only: the hot path runs on ``Database.run``)."""
    if isinstance(conn, Raw):
        return conn
    pooled = await conn.get_raw_connection()
    driver = pooled.driver_connection
    if driver is None:
        raise RuntimeError("the connection was closed")
    sqlite = conn.dialect.name == "sqlite"
    if not sqlite and conn.in_transaction() and not driver.is_in_transaction():
        await conn.exec_driver_sql(_BEGIN_ON_POSTGRES)
    return Raw(driver, sqlite)
