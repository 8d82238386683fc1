"""What the worker does for a payment to a seller (``worker.payments``): one try of its work,
leased as every kind's rows are (``store.queue``), recorded with the move it made, in one
transaction.

- ``pending`` past the inline try's deadline (its request's process died between the debit and
  the credential, or took too long): the credential made again (``Payer.make`` is idempotent on
  the payment's id, so it is the one the first try may have made), then ``authorized``; or, its
  provider failing, or its environment frozen since, ``failed`` and released. No debit is left
  without its credential.
- ``authorized``: its provider asked whether the seller used it (``Payer.used``), at each due
  time (``states.schedule``): used, it moves to ``used`` (what the seller did not take
  credited back); at its expiry (and a grace), or gone at its provider, unused, it is ended
  there (``Payer.revoke``), asked once more, then ``released``: the wallet credited back once,
  however many tries race for it (the move's conditional UPDATE). Its environment frozen, it
  is ended at its provider at once (the freeze makes it due, ``authorizing.end_soon``), and
  released if its provider then says it is gone; else it waits for its expiry as before.

- a payment kept from before today's bounds, whose challenge no longer reads (an expiry past
  ``LONGEST_CHALLENGE_SECONDS``): ended at that bound (``states.held_until``), its amount given
  back, rather than asked about for ever.

- ``pending_approval``: due when its approval window closes (a decision reschedules it, and
  takes any lease's place): ``expired`` and released once (``hold.PaymentHold.expire``, as
  every kind of hold ends at its window's close), however many tries race for it and whatever
  decision races them (the wallet's lock first, then the move's conditional UPDATE, which a
  decision's window condition keeps apart).

A try whose provider does not answer is due again on ``RETRIES``: a use is learned, never
assumed, so nothing is released while its provider cannot say it was not used.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..protocols import registry
from ..protocols.base import Demand, Made, Payer, Use, Wallet
from ..store.engine import Database
from ..store.models import SellerPayment, table_of
from ..store.models import Wallet as WalletRow
from ..values.code_names import Code
from ..values.outcome import ApiError
from ..values.settings import Settings
from . import authorizing
from .hold import PAYMENTS
from .states import (
    AUTHORIZED,
    HELD,
    PENDING,
    QUEUE,
    RELEASED,
    USED,
    held_until,
    make_seconds,
    move,
    release_at,
    schedule,
)

__all__ = ["RETRIES", "attempt", "lease_seconds"]

log = logging.getLogger(__name__)

_P, _WA = table_of(SellerPayment), table_of(WalletRow)
# After a try its provider did not answer: the delays before the next, by tries so far.
RETRIES = (30.0, 120.0, 600.0, 3600.0)
# Past a try's own calls: a try still running is not taken by another.
LEASE_MARGIN_SECONDS = 5.0


def lease_seconds(settings: Settings) -> float:
    """How long a try holds its payment's work: its calls (a look, an end, a look again)."""
    return 3 * make_seconds(settings) + LEASE_MARGIN_SECONDS


def _retry(item: Any, now: datetime) -> datetime:
    return now + timedelta(seconds=RETRIES[min(int(item.attempts), len(RETRIES) - 1)])


async def _record(
    conn: AsyncConnection, item: Any, *, due: datetime | None, error: str | None, now: datetime
) -> bool:
    """The try of the leased ``item`` recorded, by the common rule (``store.queue``): due
    again at ``due`` (``None``: done), while its lease holds; whether it did."""
    values = QUEUE.recorded(
        item.generation, status=QUEUE.due if due is not None else QUEUE.done, at=due, now=now
    )
    values["last_error"] = None if error is None else error[:300]
    found = await conn.execute(
        sa.update(QUEUE.table).where(*QUEUE.holds(item.payment_id, item.generation)).values(values)
    )
    return bool(found.rowcount)


async def _again(db: Database, item: Any, error: str, now: datetime) -> list[str]:
    async with db.transaction() as conn:
        await _record(conn, item, due=_retry(item, now), error=error, now=now)
    return []


async def attempt(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    item: Any,
    sent: Callable[[], None],
    *,
    now: Callable[[], datetime],
) -> list[str]:
    """One try of a payment's leased work (``item``); the deliveries of the move it made."""
    async with db.read() as conn:
        row = (await conn.execute(sa.select(_P).where(_P.c.id == item.payment_id))).one()
    if row.status == HELD:
        sent()
        return await _held(db, sealer, row, item, now())
    if row.status not in (PENDING, AUTHORIZED):
        sent()
        async with db.transaction() as conn:
            await _record(conn, item, due=None, error=None, now=now())
        return []
    payer = registry.payer(row.protocol)
    demand = None
    if payer is not None:
        try:
            # Read as it was read when it was paid: the same demand, whatever the time now.
            demand = payer.demand(settings, row.challenge, row.created_at, env=row.env)
        except Exception:
            log.warning("a paid challenge no longer read", extra={"payment_id": row.id})
    if payer is None or demand is None:
        sent()
        if now() >= release_at(held_until(row)):
            return await _bounded(db, sealer, row, item, now())
        return await _again(db, item, f"no payer reads protocol {row.protocol}", now())
    wallet = Wallet(db, sealer, settings, row.merchant_id, row.env, row.funded_by)
    if row.status == PENDING:
        return await _pending(wallet, payer, demand, row, item, sent, now)
    return await _authorized(wallet, payer, demand, row, item, sent, now)


async def _bounded(
    db: Database, sealer: Sealer, row: Any, item: Any, finished: datetime
) -> list[str]:
    """A payment whose challenge its payer no longer reads (one kept from before today's
    bounds: an expiry in year 2200 or 9999), past its bound: ended there, its amount given
    back, where it would be asked about for ever. Its provider cannot be asked without the
    demand, so a credential it made is left to its own expiry (the treasury's reconciliation
    finds one a seller used)."""
    log.warning("a payment ended at its bound, unread", extra={"payment_id": row.id})
    async with db.transaction() as conn:
        if not await _record(conn, item, due=None, error=None, now=finished):
            return []
        if row.status == PENDING:
            refused = ApiError(Code.PAYMENT_CHALLENGE_EXPIRED)
            done = await authorizing.fail(conn, sealer, row, refused, finished)
            return [] if done is None else done.deliveries
        told = await move(conn, row, RELEASED, finished, reason=_PAST_BOUND)
    return told or []


_PAST_BOUND = "the seller's challenge outlived today's bound on its expiry: ended there"


async def _pending(
    wallet: Wallet,
    payer: Payer,
    demand: Demand,
    row: Any,
    item: Any,
    sent: Callable[[], None],
    now: Callable[[], datetime],
) -> list[str]:
    made: Made | None = None
    refused = None
    if await _frozen(wallet.db, row.wallet_id):
        # The kill switch pulled since the debit: no credential is made now, the money goes back.
        refused = ApiError(Code.ENVIRONMENT_FROZEN)
    else:
        try:
            async with asyncio.timeout(make_seconds(wallet.settings)):
                made = await payer.make(wallet, demand, payment_id=row.id)
        except Exception as exc:
            if not isinstance(exc, (ApiError, TimeoutError)):
                log.warning("a payer's make failed", extra={"payment_id": row.id}, exc_info=True)
            refused = authorizing.refusal_of(exc)
    sent()
    finished = now()
    async with wallet.db.transaction() as conn:
        if made is not None:
            due = schedule(0, finished, held_until(row))
            if not await _record(conn, item, due=due, error=None, now=finished):
                return []
            done = await authorizing.authorize(conn, wallet.sealer, row, made, finished)
        else:
            assert refused is not None
            if not await _record(conn, item, due=None, error=refused.message, now=finished):
                return []
            done = await authorizing.fail(conn, wallet.sealer, row, refused, finished)
    return [] if done is None else done.deliveries


async def _held(db: Database, sealer: Sealer, row: Any, item: Any, now: datetime) -> list[str]:
    """A held payment's work: expired once its approval window has closed, else due then."""
    closes = row.approval_expires_at
    if closes is not None and now < closes:
        async with db.transaction() as conn:
            await _record(conn, item, due=closes, error=None, now=now)
        return []
    # Ended as every kind of hold ends at its window's close (``Hold.expire``), its work done
    # with it: a try racing this one then records nothing.
    return await PAYMENTS.expire(db, sealer, row.id, now) or []


async def _frozen(db: Database, wallet_id: str) -> bool:
    async with db.read() as conn:
        found = await conn.execute(sa.select(_WA.c.frozen_at).where(_WA.c.id == wallet_id))
        return found.scalar_one_or_none() is not None


async def _authorized(
    wallet: Wallet,
    payer: Payer,
    demand: Demand,
    row: Any,
    item: Any,
    sent: Callable[[], None],
    now: Callable[[], datetime],
) -> list[str]:
    made = authorizing.open_made(wallet.sealer, row.id, row.made_sealed)
    ending = now() >= release_at(held_until(row))
    # The kill switch: a credential its provider can end is ended now. One it cannot (an x402
    # authorization, a sandbox token) is still "unused" after the end, and stays held until its
    # expiry: a seller may yet take it, so releasing it sooner could pay twice.
    frozen = not ending and await _frozen(wallet.db, row.wallet_id)
    bound = make_seconds(wallet.settings)
    try:
        async with asyncio.timeout(bound):
            use, taken = await payer.used(wallet, demand, made, now=now())
        if use == "unused" and (ending or frozen):
            async with asyncio.timeout(bound):
                await payer.revoke(wallet, demand, made)
            async with asyncio.timeout(bound):
                use, taken = await payer.used(wallet, demand, made, now=now())
    except Exception as exc:
        sent()
        log.warning("a payment's use not known", extra={"payment_id": row.id}, exc_info=True)
        return await _again(wallet.db, item, f"use not known: {type(exc).__name__}", now())
    sent()
    return await _looked(wallet.db, row, item, use, taken, ending, now())


async def _looked(
    db: Database, row: Any, item: Any, use: Use, taken: int, ending: bool, finished: datetime
) -> list[str]:
    """What the provider said of an authorized payment's use, recorded: used, released, or
    looked at again later."""
    amount = int(row.amount_cents)
    async with db.transaction() as conn:
        if use == "used":
            if not await _record(conn, item, due=None, error=None, now=finished):
                return []
            used = max(0, min(int(taken), amount))
            if used != taken:
                log.warning("a seller took more than it was paid", extra={"payment_id": row.id})
            told = await move(conn, row, USED, finished, used_cents=used)
        elif use == "gone" or ending:
            if not await _record(conn, item, due=None, error=None, now=finished):
                return []
            told = await move(conn, row, RELEASED, finished)
        else:
            due = schedule(int(item.attempts) + 1, finished, held_until(row))
            await _record(conn, item, due=due, error=None, now=finished)
            told = None
    return told or []
