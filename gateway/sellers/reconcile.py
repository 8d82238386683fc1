"""The treasury reconciled against its providers: each payment the treasury paid out that is not
yet released (``authorized`` or ``used``, ``funded_by`` ``wallet``) asked of its provider again,
as the worker asks it (``Payer.used``: Stripe's issued token and what was captured with it; the
chain's authorization state for x402), and what the provider says beside what the ledger holds.
A drift is a payment the provider says was used where the ledger does not (yet) say so, or used
for another amount, or not used where the ledger says it was. Read only: the worker's looks
(``holds``) are what move a payment; this tells the operator (``aitopup treasury --reconcile``)
what they have not caught up with, or what disagrees; the worker runs it on the reconciliation's
schedule (``check``), keeps each rail's result for the admin API and tells the operator of a
mismatch once."""

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from keys import Sealer

from ..protocols import registry
from ..protocols.base import WALLET, Wallet
from ..store.engine import Database
from ..store.expressions import upsert
from ..store.models import SellerPayment, TreasuryCheck, TreasuryFloat, table_of
from ..values.settings import Settings
from . import treasury_alerts
from .authorizing import open_made
from .states import AUTHORIZED, USED, make_seconds

__all__ = ["ENVS", "Drift", "check", "drifts"]

log = logging.getLogger(__name__)

_P = table_of(SellerPayment)
_C = table_of(TreasuryCheck)
_F = table_of(TreasuryFloat)
MOST = 500  # the newest payments out looked at in one run
MOST_SHOWN = 20  # the drifts a rail's check keeps and its mail lists
ENVS = ("staging", "live")


@dataclass(frozen=True, slots=True)
class Drift:
    payment_id: str
    env: str
    protocol: str
    ledger: str  # the payment's status, and what the ledger says the seller took
    provider: str  # what the provider says: unused, used (and how much), gone; or unanswered


async def drifts(db: Database, sealer: Sealer, settings: Settings, now: datetime) -> list[Drift]:
    """Where the treasury's providers and its ledger disagree, newest payments first."""
    return (await _asked(db, sealer, settings, now))[0]


async def _asked(
    db: Database, sealer: Sealer, settings: Settings, now: datetime
) -> tuple[list[Drift], Counter[tuple[str, str]]]:
    """The drifts, and how many payments out of each rail were asked about."""
    query = (
        sa.select(_P)
        .where(_P.c.funded_by == WALLET, _P.c.status.in_([AUTHORIZED, USED]))
        .order_by(_P.c.id.desc())
        .limit(MOST)
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    found = []
    looked: Counter[tuple[str, str]] = Counter((row.env, row.protocol) for row in rows)
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
    return found, looked


async def check(db: Database, sealer: Sealer, settings: Settings, now: datetime) -> list[str]:
    """Every rail of every environment reconciled, as the worker's ``treasury_reconcile`` runs
    it: its payments out asked of the provider (``drifts``), and the provider's balance of the
    treasury's instrument, where it tells one (``Payer.treasury_cents``), beside what the
    ledger has out; the result kept per rail (``treasury_checks``, the admin API's treasury
    read), and a mismatch told to the operator once (``treasury_alerts.tell_drift``). The
    mails to wake for."""
    found, looked = await _asked(db, sealer, settings, now)
    async with db.read() as conn:
        out = {
            (r.env, r.protocol): int(r.outstanding_cents) for r in await conn.execute(sa.select(_F))
        }
    mails: list[str] = []
    for payer in registry.payers():
        for env in ENVS:
            rail = (env, payer.name)
            detail = [
                f"{d.payment_id}: ledger {d.ledger}, provider {d.provider}"
                for d in found
                if (d.env, d.protocol) == rail
            ]
            try:
                async with asyncio.timeout(make_seconds(settings)):
                    balance = await payer.treasury_cents(db, sealer, settings, env)
            except Exception:
                log.warning(
                    "a treasury's balance not read", extra={"env": env, "protocol": payer.name}
                )
                balance = None
                # The rail's own figure first: the payments' lines after it may be cut.
                detail.insert(0, "the provider's balance: unanswered")
            if balance is not None and balance < out.get(rail, 0):
                detail.insert(
                    0,
                    f"the provider's balance, {balance} cents, is below what is out, "
                    f"{out.get(rail, 0)} cents",
                )
            row = {
                "env": env,
                "protocol": payer.name,
                "checked_at": now,
                "looked": looked[rail],
                "drifts": len(detail),
                "detail": json.dumps(detail[:MOST_SHOWN]),
                "provider_cents": balance,
            }
            mails += await _kept(db, sealer, settings, row, detail[:MOST_SHOWN], now)
    return mails


async def _kept(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    row: dict[str, Any],
    detail: list[str],
    now: datetime,
) -> list[str]:
    """The rail's check written; a mismatch not told yet told, once; none re-arms it."""
    changed = {k: v for k, v in row.items() if k not in ("env", "protocol")}
    if not row["drifts"]:
        changed["told_at"] = None
    stmt = upsert(_C).values(**row, told_at=None)
    stmt = stmt.on_conflict_do_update(index_elements=[_C.c.env, _C.c.protocol], set_=changed)
    async with db.transaction() as conn:
        await conn.execute(stmt)
        if not row["drifts"]:
            return []
        claimed = await conn.execute(
            sa.update(_C)
            .where(_C.c.env == row["env"], _C.c.protocol == row["protocol"], _C.c.told_at.is_(None))
            .values(told_at=now)
        )
        if claimed.rowcount != 1:
            return []
        return await treasury_alerts.tell_drift(conn, sealer, settings, row, detail, now)
