"""A give-back: a debit's money that never left (a held send denied or expired, a send
cancelled or failed, a payment released, failed or used for less, an app's charge refunded)
comes back to the grants it was drawn from, with their category and expiry.

The debit wrote no grant (``grants``): its entry keeps where it ends in its wallet's debits in
all (``ledger_entries.drawn_through``), and the settle that drew it recorded the spans of that
total it took from each grant (``credit_draws``). The give-back settles the wallet first (a
debit still undrawn is drawn now, in the draw order, as if nothing came back), then returns the
last ``amount`` cents of the debit's span to the grants whose spans meet it: each grant gets
back what it gave, no more, so its remainder stays within its amount. A grant past its expiry
(or voided) by then is emptied again at once (``expiry.empty_dead``), with its ``credit.expired``
event: credit that should have expired never outlives its expiry through a hold. A debit
without a span (written before spans were kept) comes back as a paid grant.

The invariant holds after it: the balance the give-back's own credit raised by ``amount`` is
matched by the remainders it restored (or the paid grant), less what expired at once with its
entry.
"""

from datetime import datetime

from sqlalchemy import BigInteger, String, select, update

from ..store.compose import param
from ..store.models import CreditDraw, CreditGrant, LedgerEntry, table_of
from ..store.raw import Conn, Statement, raw
from . import expiry, grants

__all__ = ["give_back"]

_G = table_of(CreditGrant)
_D = table_of(CreditDraw)
_L = table_of(LedgerEntry)
_INT = BigInteger()

_THROUGH = Statement.of(
    select(_L.c.drawn_through)
    .where(
        _L.c.reference == param("reference", String),
        _L.c.wallet_id == param("wallet_id", String),
        _L.c.drawn_through.is_not(None),
    )
    .order_by(_L.c.id.desc())
    .limit(1)
)
_SPANS = Statement.of(
    select(_D.c.grant_id, _D.c.from_cents, _D.c.to_cents)
    .where(
        _D.c.wallet_id == param("wallet_id", String),
        _D.c.to_cents > param("low", _INT),
        _D.c.from_cents < param("high", _INT),
    )
    .order_by(_D.c.id)
)
_RESTORE = Statement.of(
    update(_G)
    .where(_G.c.id == param("grant_id", String))
    .values(remaining_cents=_G.c.remaining_cents + param("cents", _INT))
)


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
    found = await db.fetchrow(_THROUGH, {"reference": reference, "wallet_id": wallet_id})
    back: dict[str, int] = {}
    if found is not None:
        high = int(found["drawn_through"])
        low = high - amount
        params = {"wallet_id": wallet_id, "low": low, "high": high}
        for span in await db.fetch(_SPANS, params):
            met = min(int(span["to_cents"]), high) - max(int(span["from_cents"]), low)
            back[span["grant_id"]] = back.get(span["grant_id"], 0) + met
    for grant_id, cents in back.items():
        await db.count(_RESTORE, {"grant_id": grant_id, "cents": cents})
    rest = amount - sum(back.values())
    if rest > 0:
        number = int(wallet["entry_count"])
        await grants.insert(conn, wallet_id, str(wallet["env"]), number, rest, grants.PAID, now)
    _, deliveries = await expiry.empty_dead(conn, wallet, now)
    return deliveries
