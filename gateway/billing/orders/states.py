"""A funding order's states and the moves between them, beside a top-up's (``topup.lifecycle``).

``TRANSITIONS`` is the one table: from-state, to-state, and what the move does besides (its
coupon's use, the credit, the receipt and ``order.paid``, each done by ``orders`` in the move's
transaction, read from here). ``move`` makes every change of an order's status, as one
conditional UPDATE (``store.states``): of a payment, a cancel, a provider's report and the expiry
sweep racing for one pending order, exactly one moves it.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Row
from sqlalchemy.ext.asyncio import AsyncConnection

from ...store.models import FundingOrder, table_of
from ...store.states import NEW, States

__all__ = [
    "COMPLETED",
    "EXPIRED",
    "FAILED",
    "GIVE_BACK",
    "PAID",
    "PENDING",
    "STATES",
    "TAKE",
    "TRANSITIONS",
    "Transition",
    "first",
    "move",
    "transition",
]

PENDING: Final = "pending"  # open: payable until its ``expires_at`` (none: until reported)
COMPLETED: Final = "completed"  # paid and credited
FAILED: Final = "failed"  # refused, cancelled or voided: never credited
EXPIRED: Final = "expired"  # its checkout closed unpaid
STATES = (NEW, PENDING, COMPLETED, FAILED, EXPIRED)

# The event of an order paid: written once, by the one completion every channel's goes through.
PAID: Final = "order.paid"
# What a move does to the order's coupon's use in its environment (``coupon_uses``).
TAKE: Final = "take"
GIVE_BACK: Final = "give_back"


@dataclass(frozen=True, slots=True)
class Transition:
    """``coupon``: its coupon's use taken (``TAKE``) or given back (``GIVE_BACK``); ``credit``:
    the merchant's wallet credited the order's ``credit_cents``; ``receipt``: its receipt
    numbered; ``event``: its event's type, none when ``None``."""

    source: str
    target: str
    coupon: str | None = None
    credit: bool = False
    receipt: bool = False
    event: str | None = None


TRANSITIONS: dict[tuple[str, str], Transition] = {
    (t.source, t.target): t
    for t in [
        # A checkout or an invoice, opened at its provider first; its coupon's use taken with it.
        Transition(NEW, PENDING, coupon=TAKE),
        # A redemption code: credited as it is written, no payment, no receipt.
        Transition(NEW, COMPLETED, credit=True),
        # Paid, whoever reports it first.
        Transition(PENDING, COMPLETED, credit=True, receipt=True, event=PAID),
        Transition(PENDING, FAILED, coupon=GIVE_BACK),
        Transition(PENDING, EXPIRED, coupon=GIVE_BACK),
        # A provider that settles late: paid while its page was open, reported after the
        # order expired here. The payer paid, so it is credited and takes its use again.
        Transition(EXPIRED, COMPLETED, coupon=TAKE, credit=True, receipt=True, event=PAID),
    ]
}

_ORDERS: States[Transition] = States("a funding order", table_of(FundingOrder), TRANSITIONS)


def transition(source: str, target: str) -> Transition:
    """The move from ``source`` to ``target``, or ``NoSuchMove``."""
    return _ORDERS.move_of(source, target)


def first(target: str) -> str:
    """The status a new order is written with (``PENDING`` or ``COMPLETED``)."""
    return _ORDERS.first(target)


async def move(
    conn: AsyncConnection,
    source: str | Iterable[str],
    target: str,
    now: datetime,
    *where: ColumnElement[bool],
    values: Mapping[str, Any] | None = None,
    returning: Sequence[Any] = (),
) -> Sequence[Row[Any]]:
    """The orders in ``source`` matching ``where`` moved to ``target`` (``store.states``): the
    rows moved, none if no order was there."""
    return await _ORDERS.move(conn, source, target, now, *where, values=values, returning=returning)
