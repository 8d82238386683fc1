"""How each kind of hold's rows close with the key that asked for them (``merchants.holds``):
one ``Closing`` a kind, written beside its table (``models.topups``, ``models.payments``) and
added for a kind registered at run time by the hold registry (``holds.registry``), so
what closes holds when a key ends asks this list and names no kind's table."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, TextClause

__all__ = ["Closing", "closes", "closings", "drop"]


@dataclass(frozen=True, slots=True)
class Closing:
    """A kind's held rows as their key's end closes them: its ``table`` (with ``api_key_id``
    and ``approval_expires_at``), ``held`` what of it is still held (as its partial index of
    held windows writes it, so the index proves the statement's predicate), and ``work``, the
    column of its own work's table (``store.queue``'s shape) naming a held row, that work made
    due at the close, for a kind whose work ends it (none: the expiry's ``due`` finds it)."""

    table: Table
    held: ColumnElement[bool] | TextClause
    work: "Column[Any] | None" = None

    @property
    def created(self) -> "Column[Any] | None":
        """When a row was held, if its table says (the sweep of windows past any bound)."""
        return self.table.c.get("created_at")


_CLOSINGS: dict[str, Closing] = {}


def closes(closing: Closing) -> Closing:
    """``closing``'s kind closed with its key from now on (one a table)."""
    _CLOSINGS.setdefault(closing.table.name, closing)
    return closing


def drop(table: Table) -> None:
    """The closing of a kind no longer registered taken away."""
    _CLOSINGS.pop(table.name, None)


def closings() -> list[Closing]:
    """Every kind's closing, in the order they were added."""
    return list(_CLOSINGS.values())
