"""The kinds of hold (``approvals.held.Hold``): a kind is one module and one line in
``_BUILT_IN`` below, and nothing that meets holds names one. The one-time links' decision and page
(``doors``), a Telegram button's press, the dashboard's inbox and its navigation's count, the
kill switch (``freezes``) and the expiry (``worker.expiry``) each ask every hold here, in this
order.

``register`` adds a kind at run time (a test's made-up one) and ``registered`` does so for the
length of a ``with`` block; a name already taken, or ids another kind's pattern matches too,
are refused."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Table

from ..approvals.held import Hold
from ..sellers.hold import PAYMENTS
from ..store import held as closed
from ..topup.hold import SENDS
from ..values.code_names import Code

__all__ = [
    "gone",
    "held_tables",
    "holding",
    "holds",
    "named",
    "register",
    "registered",
    "unregister",
]

# One line per kind.
_BUILT_IN: tuple[Hold, ...] = (SENDS, PAYMENTS)

_HOLDS: dict[str, Hold] = {hold.name: hold for hold in _BUILT_IN}


def register(hold: Hold) -> Hold:
    """Hold ``hold``'s kind from now on; a name taken already is refused."""
    if hold.name in _HOLDS:
        raise ValueError(f"a kind of hold is already registered as {hold.name!r}")
    _HOLDS[hold.name] = hold
    closed.closes(hold.closing)  # closed with its key as every other kind (``merchants.holds``)
    return hold


def unregister(name: str) -> None:
    """Take a kind added by ``register`` away (the built-in ones stay)."""
    if any(hold.name == name for hold in _BUILT_IN):
        raise ValueError(f"{name!r} is built in")
    hold = _HOLDS.pop(name, None)
    if hold is not None:
        closed.drop(hold.table)


@contextmanager
def registered(hold: Hold) -> Iterator[Hold]:
    """``hold`` registered for the length of the block (a test's made-up kind)."""
    register(hold)
    try:
        yield hold
    finally:
        unregister(hold.name)


def holds() -> list[Hold]:
    """Every kind, the built-in ones first, then in order of registration."""
    return list(_HOLDS.values())


def held_tables() -> list[Table]:
    """Every kind's table of held rows, in the registry's order (the navigation's count)."""
    return [hold.table for hold in _HOLDS.values()]


def gone() -> frozenset[Code]:
    """The codes of a link's decision that found nothing left to decide: the link spent or
    unknown, its hold's key revoked or expired, or the row no longer held (each kind's
    ``not_held``: decided meanwhile by another door, or ended)."""
    ended = (Code.APPROVAL_LINK_INVALID, Code.HELD_KEY_REVOKED, Code.HELD_KEY_EXPIRED)
    return frozenset((*ended, *(hold.not_held for hold in _HOLDS.values())))


def named(name: str) -> Hold | None:
    """The kind an approval link records as ``name``, if one is registered."""
    return _HOLDS.get(name)


def holding(held_id: str) -> Hold | None:
    """The kind whose ids ``held_id`` is one of, if any."""
    return next((hold for hold in _HOLDS.values() if hold.ids.fullmatch(held_id)), None)
