"""A give-back: a debit's money that never left (a held send denied or expired, a send
cancelled or failed, a payment released, failed or used for less, an app's charge refunded)
comes back to the grants it was drawn from, with their category and expiry.

The debit wrote no grant (``grants``): its entry keeps where it ends in its wallet's debits in
all (``ledger_entries.drawn_through``), and the settle that drew it recorded the spans of that
total it took from each grant (``credit_draws``). The give-back settles the wallet first (a
debit still undrawn is drawn now, in the draw order, as if nothing came back), then returns the
last ``amount`` cents of the debit's span to the grants whose spans meet it: each grant gets
back what it gave, no more, so its remainder stays within its amount, and the spans lose what
was given back, so no cent of them is given back twice. A grant past its expiry
(or voided) by then is emptied again at once (``expiry.empty_dead``), with its ``credit.expired``
event: credit that should have expired never outlives its expiry through a hold. A debit
without a span (written before spans were kept) comes back as a paid grant.

The spans are history, pruned with the rest of it (``prune``, the worker's retention): a
wallet's spans up to the end of its last debit older than the horizon
(``AITOPUP_RETENTION_DAYS``) and older than every debit of it still held (a send pending or
held, a payment pending, held or authorized), whose give-back is still to come; but never the
spans of a debit whose give-back may come at any age (an app's charge not yet refunded, an
order's refund pending at its provider), so a late refund still restores the grants it drew.

The invariant holds after it: the balance the give-back's own credit raised by ``amount`` is
matched by the remainders it restored (or the paid grant), less what expired at once with its
entry.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, String, case, delete, func, insert, or_, select, text, update

from ..store.expressions import param
from ..store.models import (
    HELD_STATUSES,
    PAYMENTS_HOLDING,
    Charge,
    CreditDraw,
    CreditGrant,
    LedgerEntry,
    OrderRefund,
    SellerPayment,
    Topup,
    table_of,
)
from ..store.raw import Conn, Raw, Statement, raw
from ..store.types import UTCDateTime
from . import expiry, grants

__all__ = ["give_back", "prune"]

_G = table_of(CreditGrant)
_D = table_of(CreditDraw)
_L = table_of(LedgerEntry)
_T, _P = table_of(Topup), table_of(SellerPayment)
_CH, _R = table_of(Charge), table_of(OrderRefund)
_INT = BigInteger()

_THROUGH = Statement.of(
    select(_L.c.drawn_through)
    .where(
        _L.c.reference == param("reference", String),
        _L.c.wallet_id == param("wallet_id", String),
        _L.c.drawn_through.is_not(None),
    )
    # The debit of the amount given back first: of two refunds of one order, the one reversed.
    .order_by(case((_L.c.amount_cents == -param("amount", _INT), 0), else_=1), _L.c.id.desc())
    .limit(1)
)
_SPANS = Statement.of(
    select(_D.c.id, _D.c.grant_id, _D.c.from_cents, _D.c.to_cents)
    .where(
        _D.c.wallet_id == param("wallet_id", String),
        _D.c.to_cents > param("low", _INT),
        _D.c.from_cents < param("high", _INT),
    )
    .order_by(_D.c.id)
)
_TRIM = Statement.of(
    update(_D)
    .where(_D.c.id == param("span_id", _INT))
    .values(from_cents=param("from_cents", _INT), to_cents=param("to_cents", _INT))
)
_DROP = Statement.of(delete(_D).where(_D.c.id == param("span_id", _INT)))
_ADD = Statement.of(
    insert(_D).values(
        wallet_id=param("wallet_id", String),
        grant_id=param("grant_id", String),
        from_cents=param("from_cents", _INT),
        to_cents=param("to_cents", _INT),
    )
)
_RESTORE = Statement.of(
    update(_G)
    .where(_G.c.id == param("grant_id", String))
    .values(remaining_cents=_G.c.remaining_cents + param("cents", _INT))
)


async def _cut(db: Raw, wallet_id: str, span: dict[str, Any], low: int, high: int) -> None:
    """``span`` less ``[low, high)``, given back: what is left of it before and after, so no
    cent of a span is ever given back twice."""
    start, end = int(span["from_cents"]), int(span["to_cents"])
    pieces = [(a, b) for a, b in ((start, min(end, low)), (max(start, high), end)) if a < b]
    if not pieces:
        await db.count(_DROP, {"span_id": span["id"]})
        return
    first, *rest = pieces
    await db.count(_TRIM, {"span_id": span["id"], "from_cents": first[0], "to_cents": first[1]})
    for a, b in rest:
        row = {"wallet_id": wallet_id, "grant_id": span["grant_id"], "from_cents": a, "to_cents": b}
        await db.count(_ADD, row)


async def give_back(
    conn: Conn, *, wallet_id: str, reference: str, amount: int, now: datetime
) -> list[str]:
    """``amount`` of the debit ``reference`` of merchant wallet ``wallet_id`` back to the grants
    it was drawn from, after the give-back's credit of the wallet's balance and its entry, the
    wallet's last, in the caller's transaction (a paid grant made for it takes the entry's
    number): the deliveries of the ``credit.expired`` events of what expired at once."""
    wallet = await grants.settle(conn, wallet_id)
    assert wallet is not None, "a give-back to a wallet that does not exist"
    db = await raw(conn)
    asked = {"reference": reference, "wallet_id": wallet_id, "amount": amount}
    found = await db.fetchrow(_THROUGH, asked)
    back: dict[str, int] = {}
    if found is not None:
        high = int(found["drawn_through"])
        low = high - amount
        params = {"wallet_id": wallet_id, "low": low, "high": high}
        for span in await db.fetch(_SPANS, params):
            start, end = int(span["from_cents"]), int(span["to_cents"])
            met = min(end, high) - max(start, low)
            back[span["grant_id"]] = back.get(span["grant_id"], 0) + met
            await _cut(db, wallet_id, span, low, high)
    for grant_id, cents in back.items():
        await db.count(_RESTORE, {"grant_id": grant_id, "cents": cents})
    rest = amount - sum(back.values())
    if rest > 0:
        number = int(wallet["entry_count"])
        await grants.insert(conn, wallet_id, str(wallet["env"]), number, rest, grants.PAID, now)
    _, deliveries = await expiry.empty_dead(conn, wallet, now)
    return deliveries


def _prunable() -> Any:
    """The spans no give-back can reach any more: each ends at or before the end of its
    wallet's last debit written before ``:cutoff`` and before its oldest debit still held.
    Debits end in the order they are written (``drawn_through`` is their running total), so
    every later debit, held or not, begins at or after that end."""
    held = _L.alias("held")
    still_held = (
        select(_T.c.id)
        .where(text(HELD_STATUSES))
        .union_all(select(_P.c.id).where(text(PAYMENTS_HOLDING)))
    )
    oldest_held = (
        select(func.min(held.c.created_at))
        .where(held.c.wallet_id == _D.c.wallet_id, held.c.reference.in_(still_held))
        # Two levels down, SQLAlchemy would not correlate it by itself: it took the spans' table
        # as its own, and read the oldest held debit of every wallet instead of this one's.
        .correlate(_D)
        .scalar_subquery()
    )
    edge = (
        select(func.max(_L.c.drawn_through))
        .where(
            _L.c.wallet_id == _D.c.wallet_id,
            _L.c.drawn_through.is_not(None),
            _L.c.created_at < param("cutoff", UTCDateTime()),
            or_(oldest_held.is_(None), _L.c.created_at < oldest_held),
        )
        .scalar_subquery()
    )
    return (
        select(_D.c.id)
        .where(_D.c.to_cents <= edge, ~_refundable_debit_meets().exists())
        .limit(param("batch", _INT))
    )


def _refundable_debit_meets() -> Any:
    """A debit of the span's wallet whose give-back may still come whatever its age, meeting
    the span: an app's charge never refunded (a charge is refunded once, at any time), or an
    order's refund still pending at its provider (refused, its debit is given back). These
    spans stay, one or two a charge, so a late refund restores the grants it drew, their
    category and expiry kept; they go once it is refunded."""
    late = (
        select(_CH.c.id)
        .where(_CH.c.refunded_cents == 0)
        .union_all(select(_R.c.order_id).where(_R.c.status == "pending"))
    )
    debit = _L.alias("refundable")
    return (
        select(debit.c.id)
        .where(
            debit.c.wallet_id == _D.c.wallet_id,
            debit.c.drawn_through.is_not(None),
            debit.c.reference.in_(late),
            # The debit's span, [drawn_through + amount, drawn_through) (a debit is negative),
            # meets the span.
            debit.c.drawn_through > _D.c.from_cents,
            debit.c.drawn_through + debit.c.amount_cents < _D.c.to_cents,
        )
        .correlate(_D)
    )


_PRUNE = Statement.of(delete(_D).where(_D.c.id.in_(_prunable())).returning(_D.c.id))


async def prune(conn: Conn, *, now: datetime, days: int, batch: int) -> int:
    """Up to ``batch`` spans past the horizon of ``days`` that no give-back can reach deleted
    (``_prunable``); how many went."""
    cutoff = now - timedelta(days=days)
    return len(await (await raw(conn)).fetch(_PRUNE, {"cutoff": cutoff, "batch": batch}))
