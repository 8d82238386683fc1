"""The treasury reconciled against its providers: each payment the treasury paid out that is not
yet released (``authorized`` or ``used``, ``funded_by`` ``wallet``) asked of its provider again,
as the worker asks it (``Payer.used``: Stripe's issued token and what was captured with it; the
chain's authorization state for x402), and what the provider says beside what the ledger holds.
A drift is a payment the provider says was used where the ledger does not (yet) say so, or used
for another amount, or not used where the ledger says it was. Read only: the worker's looks
(``holds``) are what move a payment; this tells the operator (``aitopup treasury --reconcile``)
what they have not caught up with, or what disagrees."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from keys import Sealer

from ...protocols import registry
from ...protocols.base import WALLET, Wallet
from ...store.db import Database
from ...store.models import SellerPayment, table_of
from ...values.settings import Settings
from .authorizing import open_made
from .states import AUTHORIZED, USED, make_seconds

__all__ = ["Drift", "drifts"]

log = logging.getLogger(__name__)

_P = table_of(SellerPayment)
MOST = 500  # the newest payments out looked at in one run


@dataclass(frozen=True, slots=True)
class Drift:
    payment_id: str
    env: str
    protocol: str
    ledger: str  # the payment's status, and what the ledger says the seller took
    provider: str  # what the provider says: unused, used (and how much), gone; or unanswered


async def drifts(db: Database, sealer: Sealer, settings: Settings, now: datetime) -> list[Drift]:
    """Where the treasury's providers and its ledger disagree, newest payments first."""
    query = (
        sa.select(_P)
        .where(_P.c.funded_by == WALLET, _P.c.status.in_([AUTHORIZED, USED]))
        .order_by(_P.c.id.desc())
        .limit(MOST)
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    found = []
    for row in rows:
        payer = registry.payer(row.protocol)
        taken = int(row.used_cents or 0)
        ours = f"{row.status} {taken}"
        if payer is None or row.made_sealed is None:
            found.append(Drift(row.id, row.env, row.protocol, ours, "no payer reads it"))
            continue
        try:
            demand = payer.demand(settings, row.challenge, row.created_at, env=row.env)
            assert demand is not None
            wallet = Wallet(db, sealer, settings, row.merchant_id, row.env, row.funded_by)
            made = open_made(sealer, row.id, row.made_sealed)
            async with asyncio.timeout(make_seconds(settings)):
                use, cents = await payer.used(wallet, demand, made, now=now)
        except Exception:
            log.warning("a payment out not reconciled", extra={"payment_id": row.id})
            found.append(Drift(row.id, row.env, row.protocol, ours, "unanswered"))
            continue
        agrees = (use == "used" and row.status == USED and cents == taken) or (
            use != "used" and row.status == AUTHORIZED
        )
        if not agrees:
            found.append(Drift(row.id, row.env, row.protocol, ours, f"{use} {cents}"))
    return found
