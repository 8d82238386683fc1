"""A subscription's states and the moves between them, beside a top-up's (``topup.lifecycle``).

``TRANSITIONS`` is the one table: from-state, to-state, and what the move does besides (its
event, emitted by ``subscriptions.move_state``; the end stamped). A paid period's credit is the
period's (``subscriptions.credit_period``), not a move's: the first makes an ``incomplete``
subscription ``active``, a later one a ``past_due`` one. ``move`` makes every change of a
subscription's status, as one conditional UPDATE (``store.states``): of a payment, a provider's
report and a checkout given up racing for one subscription, exactly one moves it from where it
was. ``canceled`` and ``expired`` are final: no move leaves them.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Row
from sqlalchemy.ext.asyncio import AsyncConnection

from ...store.models import Subscription, table_of
from ...store.states import NEW, NoSuchMove, States

__all__ = [
    "ACTIVE",
    "CANCELED",
    "EXPIRED",
    "INCOMPLETE",
    "PAST_DUE",
    "STATES",
    "TRANSITIONS",
    "Transition",
    "entered",
    "first",
    "into",
    "move",
    "transition",
]

INCOMPLETE: Final = "incomplete"  # its checkout open: holds the merchant's place, not paid
ACTIVE: Final = "active"
PAST_DUE: Final = "past_due"  # a renewal's payment failed; still holds the place
CANCELED: Final = "canceled"  # ended, for good
EXPIRED: Final = "expired"  # its checkout closed or given up unpaid: the place given back
STATES = (NEW, INCOMPLETE, ACTIVE, PAST_DUE, CANCELED, EXPIRED)


@dataclass(frozen=True, slots=True)
class Transition:
    """``event``: its event's type, none when ``None``; ``ends``: ``canceled_at`` stamped.
    Every move into one state does the same (``entered``)."""

    source: str
    target: str
    event: str | None = None
    ends: bool = False


TRANSITIONS: dict[tuple[str, str], Transition] = {
    (t.source, t.target): t
    for t in [
        # A checkout opened: the merchant's place held until it is paid or expires.
        Transition(NEW, INCOMPLETE),
        # Its first period paid (or the provider says it is active).
        Transition(INCOMPLETE, ACTIVE),
        # Its checkout expired, or was given up, or a newer one found it past its expiry.
        Transition(INCOMPLETE, EXPIRED),
        # The provider ended it before it was paid (Stripe's ``incomplete_expired``).
        Transition(INCOMPLETE, CANCELED, event="subscription.canceled", ends=True),
        # Not paid yet is not past due: only a paid subscription falls past due.
        Transition(ACTIVE, PAST_DUE, event="subscription.past_due"),
        Transition(ACTIVE, CANCELED, event="subscription.canceled", ends=True),
        Transition(PAST_DUE, ACTIVE),
        Transition(PAST_DUE, CANCELED, event="subscription.canceled", ends=True),
    ]
}

_SUBSCRIPTIONS: States[Transition] = States("a subscription", table_of(Subscription), TRANSITIONS)


def transition(source: str, target: str) -> Transition:
    """The move from ``source`` to ``target``, or ``NoSuchMove``."""
    return _SUBSCRIPTIONS.move_of(source, target)


def into(target: str) -> tuple[str, ...]:
    """Every state a subscription may move to ``target`` from."""
    return _SUBSCRIPTIONS.into(target)


def entered(target: str) -> Transition:
    """What a move into ``target`` does, whatever it came from, or ``NoSuchMove``."""
    sources = into(target)
    if not sources:
        raise NoSuchMove(f"a subscription never moves to {target}")
    return transition(sources[0], target)


def first(target: str) -> str:
    """The status a new subscription is written with (``INCOMPLETE``)."""
    return _SUBSCRIPTIONS.first(target)


async def move(
    conn: AsyncConnection,
    source: str | Iterable[str],
    target: str,
    now: datetime,
    *where: ColumnElement[bool],
    values: Mapping[str, Any] | None = None,
    returning: Sequence[Any] = (),
) -> Sequence[Row[Any]]:
    """The subscriptions in ``source`` (one state, or any of several) matching ``where`` moved
    to ``target`` (``store.states``), stamped as the move says: the rows moved, none if no
    subscription was there."""
    sources = (source,) if isinstance(source, str) else tuple(source)
    stamped = {**(values or {})}
    if any(transition(each, target).ends for each in sources):
        stamped["canceled_at"] = now
    return await _SUBSCRIPTIONS.move(
        conn, sources, target, now, *where, values=stamped, returning=returning
    )
