"""A row's states and the moves allowed between them: the one rule orders and subscriptions
(``billing.orders.states``, ``billing.subscriptions.states``) are moved by.

Each is a table of moves, from-state to to-state, and every change of its ``status`` column is
one of them made as one conditional UPDATE with the from-state in its WHERE: of two moves racing
from one state, exactly one finds the row there and the other changes nothing (PostgreSQL judges
the WHERE again on the row as the winner left it; SQLite's writer holds the database). A row is
written in its first state by a move from ``NEW`` (no row yet), which the table allows or not as
any other.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, Row, Table, Update, update
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["NEW", "Move", "NoSuchMove", "States"]

NEW = "new"  # before the row is written


class NoSuchMove(LookupError):
    """A move the table does not allow: nothing was written."""


class Move(Protocol):
    """A row of a table of moves: its from-state and its to-state."""

    @property
    def source(self) -> str: ...

    @property
    def target(self) -> str: ...


M = TypeVar("M", bound=Move)


@dataclass(frozen=True)
class States(Generic[M]):
    """The moves of ``table``'s rows (its ``status`` column, stamped in ``updated_at``), each
    keyed by its from-state and to-state."""

    noun: str
    table: Table
    moves: Mapping[tuple[str, str], M]

    def move_of(self, source: str, target: str) -> M:
        """The move from ``source`` to ``target``, or ``NoSuchMove``."""
        found = self.moves.get((source, target))
        if found is None:
            raise NoSuchMove(f"{self.noun} does not go from {source} to {target}")
        return found

    def into(self, target: str) -> tuple[str, ...]:
        """Every state of a written row that may move to ``target``."""
        return tuple(s for (s, t) in self.moves if t == target and s != NEW)

    def first(self, target: str) -> str:
        """The status a new row is written with: ``target``, if a row may start there."""
        return self.move_of(NEW, target).target

    def moving(
        self,
        source: str | Iterable[str],
        target: str,
        now: datetime | ColumnElement[Any],
        *where: ColumnElement[bool],
        values: Mapping[str, Any] | None = None,
        returning: Sequence[Any] = (),
    ) -> Update:
        """The one conditional UPDATE of a move (``move``'s), as a construct: for a plan whose
        first step it is (``store.compose``), its values and ``now`` bound parameters there.
        Raises ``NoSuchMove`` when the table does not allow it."""
        sources = (source,) if isinstance(source, str) else tuple(source)
        if not sources:
            raise NoSuchMove(f"{self.noun} has no state that goes to {target}")
        for each in sources:
            if each == NEW:
                raise NoSuchMove(f"{self.noun} is written in its first state, not moved there")
            self.move_of(each, target)
        status = self.table.c.status
        found = status == sources[0] if len(sources) == 1 else status.in_(sources)
        return (
            update(self.table)
            .where(found, *where)
            .values({**(values or {}), "status": target, "updated_at": now})
            .returning(*(returning or (self.table.c.id,)))
        )

    async def move(
        self,
        conn: AsyncConnection,
        source: str | Iterable[str],
        target: str,
        now: datetime,
        *where: ColumnElement[bool],
        values: Mapping[str, Any] | None = None,
        returning: Sequence[Any] = (),
    ) -> Sequence[Row[Any]]:
        """Every row found in ``source`` (one state, or any of several, each of whose moves to
        ``target`` the table allows) and matching ``where``, moved to ``target`` with ``values``
        in the caller's transaction: the moved rows (``returning``'s columns; the id by
        default), none if no row was there. Raises ``NoSuchMove`` before writing anything."""
        stmt = self.moving(source, target, now, *where, values=values, returning=returning)
        return (await conn.execute(stmt)).all()
