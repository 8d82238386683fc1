"""Payments to sellers held for approval: approve, deny, expire, and the kill switch's cancel,
each a move of the payment's table (``states``) out of ``pending_approval``, as a held send's
decisions are changes of its lifecycle (``topup.approvals``).

A payment a rule of its key's policy holds is debited and waits, nothing made, until
``approval_expires_at`` (``AITOPUP_APPROVAL_TTL_SECONDS`` after it was asked for). Each
decision takes the wallet's lock first (as a freeze and a held send's decision do), then moves
the payment with one conditional UPDATE: of any number of decisions racing (REST, the
dashboard, a mailed link, a Telegram button, the expiry, a freeze) exactly one moves it, and
the others find it moved and change nothing:

- approve (a key with the ``approvals`` scope, not the one that asked, or a person who may
  decide top-ups): ``pending``, its destination bound to the origin it named
  (``bindings``), then its credential made as any payment's is
  (``service.make``: inline, bounded, else the worker), ``payment.authorized``; refused while
  the environment is frozen. If the seller's challenge has expired meanwhile, nothing can be
  paid with it: the payment is ``released`` instead (``payment.released``, its ``reason`` says
  why), its amount back in the wallet and the windows;
- deny: ``denied``, released, ``payment.denied``; the kill switch's cancel is a denial
  recorded as ``freeze``;
- expiry (the worker, at the window's close: ``holds``): ``expired``, released,
  ``payment.expired``.

Whatever the decision, what the payment came to takes the place of the 202 under its
idempotency key, so the agent's retry of its request answers it: the credential once authorized
(as the 201 shows it), or the refusal that says it was denied, expired or released.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..approvals.held import Reasons, Spend, why
from ..callers import Caller, require_scope
from ..ledger import service as ledger
from ..merchants import holds
from ..policies.model import Policy
from ..policies.payees import admits
from ..policies.templates import effective_of
from ..protocols import registry
from ..protocols.base import OWN, Wallet
from ..store.engine import Database
from ..store.models import ApiKeyRow, PolicyTemplate, SellerPayment, table_of
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.codes import CATALOGUE
from ..values.marking import marked
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from . import authorizing, bindings
from .schemas import PaymentCreate, PaymentData
from .service import make, request_hash_of
from .states import (
    AUTHORIZED,
    BY_EXPIRY,
    BY_FREEZE,
    DENIED,
    EXPIRED,
    HELD,
    PENDING,
    RELEASED,
    move,
    pending_until,
)

__all__ = [
    "REASONS",
    "PaymentReview",
    "approve",
    "cancel_held",
    "deny",
    "expire",
    "held",
    "review",
]

_P, _K, _PT = table_of(SellerPayment), table_of(ApiKeyRow), table_of(PolicyTemplate)

# Why a payment was held, in the reader's words (``held.why``).
REASONS = Reasons(
    above=marked("above the paying key's approval line of %(line)s"),
    first=marked("the paying key's first payment to this payee"),
    policy=marked("the paying key's policy at the time of the payment"),
    unbound=marked(
        "its destination is not bound to the origin it names: approving binds it, for this "
        "key's later payments too"
    ),
)
_LATE = "the seller's challenge expired before the payment was approved"


async def _held(conn: AsyncConnection, caller: Caller, payment_id: str) -> Any:
    """The caller's environment's payment ``payment_id``, refused unless this caller may
    decide it now."""
    require_scope(caller, "approvals")
    row = (
        await conn.execute(
            sa.select(_P).where(
                _P.c.id == payment_id,
                _P.c.merchant_id == caller.merchant_id,
                _P.c.env == caller.env,
            )
        )
    ).first()
    if row is None:
        raise ApiError(Code.PAYMENT_NOT_FOUND)
    if row.api_key_id == caller.key_id:
        raise ApiError(Code.KEY_SELF_APPROVAL, transaction_id=payment_id, status=row.status)
    if row.status != HELD:
        raise _lost(row, row.status)
    await holds.refuse_if_ended(conn, row.api_key_id, row, utcnow())
    return row


def _lost(row: Any, status: str | None = None) -> ApiError:
    shown = status or HELD
    return ApiError(
        Code.PAYMENT_NOT_AWAITING_APPROVAL,
        data={"id": row.id, "status": shown},
        transaction_id=row.id,
        status=shown,
    )


# What the words of a payment that came to nothing say of its amount, and what they say of one
# the merchant's own instrument pays, which debited nothing.
_BACK = "its amount is back in the wallet"
_OWN_BACK = (
    "nothing was debited from the wallet (funded_by own); its amount is back in the key's limits"
)


def _said(row: Any, code: Code, message: str | None = None) -> str | None:
    """``message`` (else the catalogue's words for ``code``) as said of ``row``'s amount."""
    if row.funded_by != OWN:
        return message
    return (message or CATALOGUE[code].message).replace(_BACK, _OWN_BACK)


def _released(row: Any, code: Code, status: str, message: str | None = None) -> Outcome:
    """The refusal a held payment that came to nothing leaves under its idempotency key."""
    data = {"id": row.id, "status": status, "released_cents": int(row.amount_cents)}
    said = _said(row, code, message)
    return ApiError(code, said, data=data, transaction_id=row.id, status=status).outcome()


async def _end(
    conn: AsyncConnection,
    sealer: Sealer,
    row: Any,
    target: str,
    now: datetime,
    decided_by: str,
    reply: Outcome,
    reason: str | None = None,
) -> list[str] | None:
    """Held payment ``row`` moved to ``target`` (released) in the caller's transaction, its
    work done and ``reply`` kept under its idempotency key; ``None`` when another move won."""
    told = await move(conn, row, target, now, decided_by=decided_by, reason=reason)
    if told is None:
        return None
    await authorizing.reschedule(conn, row.id, None, now)
    await authorizing.keep(conn, sealer, row, reply)
    return told


async def _decide(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    caller: Caller,
    payment_id: str,
    approving: bool,
    now: datetime,
    spend: Spend | None,
) -> tuple[Any, Outcome]:
    """The decision's own transaction: the payment as it was, and what the decision answers
    (for an approval that moved it to ``pending``, before its credential is made)."""
    async with db.transaction() as conn:
        row = await _held(conn, caller, payment_id)
        # The wallet's lock first, as a freeze's and the expiry's: a frozen environment keeps
        # its held payments held (a denial still gives the money back).
        if await ledger.frozen(conn, row.wallet_id) and approving:
            raise ApiError(Code.ENVIRONMENT_FROZEN, transaction_id=payment_id, status=HELD)
        if spend is not None:
            await spend(conn, now)
        by = caller.key_id
        if not approving:
            reply = _released(row, Code.PAYMENT_APPROVAL_DENIED, DENIED)
            told = await _end(conn, sealer, row, DENIED, now, by, reply)
            if told is None:
                raise _lost(row)
            shown = authorizing.data_of(row, status=DENIED, updated_at=reply.timestamp)
            return row, Outcome(
                Code.PAYMENT_DENIED,
                shown,
                transaction_id=row.id,
                status=DENIED,
                message=_said(row, Code.PAYMENT_DENIED),
                deliveries=told,
            )
        if row.expires_at <= now:
            # Nothing can be paid with an expired challenge: released instead, and said so.
            message = (
                f"The payment was approved, but {_LATE}: nothing was paid; {_BACK}; ask the "
                "seller again"
            )
            reply = _released(row, Code.PAYMENT_CHALLENGE_EXPIRED, RELEASED, message)
            told = await _end(conn, sealer, row, RELEASED, now, by, reply, reason=_LATE)
            if told is None:
                raise _lost(row)
            return row, Outcome(
                reply.code,
                reply.data,
                transaction_id=row.id,
                status=RELEASED,
                message=reply.message,
                deliveries=told,
            )
        if await move(conn, row, PENDING, now, decided_by=by) is None:
            raise _lost(row)
        # A person's approval binds where the money goes to the origin the agent named: that
        # origin in ``allowed_payees`` admits this destination from now on.
        await bindings.bind(
            conn, row.merchant_id, row.env, row.payee_origin, row.destination, by=by, now=now
        )
        # Past the inline try's deadline its work is the worker's: made again, or failed.
        await authorizing.reschedule(conn, row.id, pending_until(settings, now), now)
        making = {"id": row.id, "status": PENDING}
        kept = Outcome(Code.PAYMENT_IN_PROGRESS, making, transaction_id=row.id, status=PENDING)
        await authorizing.keep(conn, sealer, row, kept)
    return row, Outcome(Code.PAYMENT_IN_PROGRESS, making, deliveries=[row.id])


async def approve(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    caller: Caller,
    payment_id: str,
    *,
    spend: Spend | None = None,
) -> Outcome:
    """Approve a held payment: ``pending``, then its credential made (inline, within
    ``AITOPUP_PAYMENT_TIMEOUT_SECONDS``, else by the worker) for the key that asked, whose
    replay shows it; this answer never does. Released instead when its challenge has expired.
    ``spend``: the one-time link it is made with (``approvals.links``)."""
    now = utcnow()
    async with db.read() as conn:
        asked_for = await _held(conn, caller, payment_id)
    payer = registry.payer(asked_for.protocol)
    demand = None
    if payer is not None:
        try:
            demand = payer.demand(
                settings, asked_for.challenge, asked_for.created_at, env=asked_for.env
            )
        except ApiError:
            demand = None  # the worker reads it again, and fails it if it still cannot
    funded = asked_for.funded_by
    wallet = Wallet(db, sealer, settings, asked_for.merchant_id, asked_for.env, funded)
    if payer is not None and demand is not None:
        # What making it needs (the treasury's instrument, the merchant's own) is judged
        # before the approval moves it: refused, it stays held, nothing made or released.
        await payer.ready(wallet, demand)
    row, decided = await _decide(db, sealer, settings, caller, payment_id, True, now, spend)
    if decided.code != Code.PAYMENT_IN_PROGRESS:
        return decided  # released: its challenge had expired
    made = None
    if payer is not None and demand is not None:
        asked = PaymentCreate.model_validate(
            {"url": row.url, "challenge": row.challenge, "description": row.description}
        )
        made = await make(wallet, payer, demand, row.id, request_hash_of(asked))
    work = [*decided.deliveries, *(made.deliveries if made is not None else [])]
    if made is not None and made.status not in (AUTHORIZED, PENDING, None):
        return Outcome(
            made.code,
            made.data,
            transaction_id=row.id,
            status=made.status,
            message=made.message,
            deliveries=work,
        )
    status = AUTHORIZED if made is not None and made.status == AUTHORIZED else PENDING
    shown = authorizing.data_of(row, status=status, updated_at=decided.timestamp)
    return Outcome(
        Code.PAYMENT_APPROVED, shown, transaction_id=row.id, status=status, deliveries=work
    )


async def deny(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    caller: Caller,
    payment_id: str,
    *,
    spend: Spend | None = None,
) -> Outcome:
    """Deny a held payment: released to the wallet and the key's windows, ``payment.denied``.
    ``spend``: the one-time link it is made with (``approvals.links``)."""
    now = utcnow()
    return (await _decide(db, sealer, settings, caller, payment_id, False, now, spend))[1]


async def expire(
    conn: AsyncConnection, sealer: Sealer, row: Any, now: datetime
) -> list[str] | None:
    """Held payment ``row``, its window closed at ``now``, expired in the caller's transaction
    (which holds its wallet's lock: ``ledger.frozen``): released, ``payment.expired``; the
    deliveries, or ``None`` if it was decided first. Its work is the caller's to record."""
    reply = _released(row, Code.PAYMENT_APPROVAL_EXPIRED, EXPIRED)
    told = await move(conn, row, EXPIRED, now, decided_by=BY_EXPIRY)
    if told is None:
        return None
    await authorizing.keep(conn, sealer, row, reply)
    return told


async def cancel_held(
    conn: AsyncConnection, sealer: Sealer, merchant_id: str, env: str, now: datetime
) -> tuple[int, list[str]]:
    """The kill switch's cancel, in the freeze's transaction (which holds the wallet's lock):
    every payment of the environment held for approval denied and released once, as
    ``freeze``; one decided first is left as decided. How many, and the deliveries."""
    found = await conn.execute(
        sa.select(_P).where(_P.c.merchant_id == merchant_id, _P.c.env == env, _P.c.status == HELD)
    )
    message = (
        "The kill switch cancelled this payment while it was held for approval: nothing was "
        f"paid; {_BACK}"
    )
    cancelled, work = 0, []
    for row in found.all():
        reply = _released(row, Code.PAYMENT_APPROVAL_DENIED, DENIED, message)
        # Whatever its window: a freeze ends every hold, closed or not.
        told = await _cancel(conn, sealer, row, now, reply)
        if told is not None:
            cancelled += 1
            work += told
    return cancelled, work


async def _cancel(
    conn: AsyncConnection, sealer: Sealer, row: Any, now: datetime, reply: Outcome
) -> list[str] | None:
    """``row`` denied by the freeze: as a decision while its window is open; past its close,
    as the expiry it is due for."""
    if row.approval_expires_at is not None and row.approval_expires_at <= now:
        expired = _released(row, Code.PAYMENT_APPROVAL_EXPIRED, EXPIRED)
        told = await move(conn, row, EXPIRED, now, decided_by=BY_EXPIRY)
        reply = expired
    else:
        told = await move(conn, row, DENIED, now, decided_by=BY_FREEZE)
    if told is None:
        return None
    await authorizing.reschedule(conn, row.id, None, now)
    await authorizing.keep(conn, sealer, row, reply)
    return told


# --- What a person deciding reads.


@dataclass(frozen=True, slots=True)
class PaymentReview:
    """A held payment as the person deciding it reads it (the dashboard's alone): why it was
    held, in the reader's words with ``held_line`` (cents) as ``%(line)s``, and the key that
    asked for it."""

    payment: PaymentData
    held_because: str
    sent_by: str  # the paying key's display prefix
    sent_by_name: str | None = None
    held_line: int | None = None


def _reason(policy: Policy, row: Any) -> tuple[str, int | None]:
    """Why payment ``row`` was held, by the key's policy as it acts (under its template's)."""
    allowed = policy.allowed_payees
    unbound = (
        allowed is not None and admits(allowed, row.payee_origin, row.destination, ()) == "origin"
    )
    return why(policy, int(row.amount_cents), REASONS, unbound=unbound)


def _read() -> Any:
    return (
        sa.select(
            _P,
            _K.c.display_prefix,
            _K.c.name.label("key_name"),
            _K.c.policy.label("key_policy"),
            _PT.c.policy.label("template_policy"),
        )
        .join(_K, _K.c.id == _P.c.api_key_id)
        .outerjoin(_PT, _PT.c.id == _K.c.template_id)
    )


def _reviewed(row: Any) -> PaymentReview:
    policy = effective_of(row.key_policy, row.template_policy)
    because, line = _reason(policy, row)
    return PaymentReview(
        authorizing.data_of(row), because, f"{row.display_prefix}…", row.key_name, line
    )


async def review(db: Database, caller: Caller, payment_id: str) -> Outcome:
    """The caller's environment's payment ``payment_id`` with why it was held and who asked
    for it (``PaymentReview``), or ``PAYMENT_NOT_FOUND``."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                _read().where(
                    _P.c.id == payment_id,
                    _P.c.merchant_id == caller.merchant_id,
                    _P.c.env == caller.env,
                )
            )
        ).first()
    if row is None:
        raise ApiError(Code.PAYMENT_NOT_FOUND)
    found = _reviewed(row)
    return Outcome(Code.SUCCESS, found, transaction_id=row.id, status=row.status)


async def held(db: Database, caller: Caller, *, limit: int) -> Outcome:
    """The caller's environment's payments awaiting approval (each a ``PaymentReview``),
    oldest first (the first to expire), at most ``limit`` (``meta.has_more``: more wait)."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                _read()
                .where(
                    _P.c.merchant_id == caller.merchant_id,
                    _P.c.env == caller.env,
                    _P.c.status == HELD,
                )
                .order_by(_P.c.id)
                .limit(limit + 1)
            )
        ).all()
    found = [_reviewed(row) for row in rows[:limit]]
    return Outcome(Code.SUCCESS, found, meta={"has_more": len(rows) > limit})
