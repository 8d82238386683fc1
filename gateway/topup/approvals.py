"""Sends held for approval: approve, deny, and expiry.

A send above its key's approval line (``gateway.policies``) is debited and counted at once and
waits as ``pending_approval`` with ``approval_expires_at``. Each decision is a change of the
lifecycle (``lifecycle.move``), whose plan finds the row still held and locks it, so of an approve
racing a deny (or the expiry sweep) exactly one changes the row and the others change nothing:

- approve: delivered as any send would be (staging's magic recipients apply now), the recipient
  credited, ``topup.delivered``; with an upstream set for its platform and env, ``fulfilling``
  instead (pending, its upstream work written in the same plan), which the upstream then
  finishes as it finishes a send (``doors.approve``: the inline try, else the worker);
- deny: ``denied``, refunded to the wallet and to the key's windows, ``topup.approval_denied``;
- expiry (the worker's sweep, ``AITOPUP_APPROVAL_TTL_SECONDS`` after the send): ``expired``,
  refunded likewise, ``topup.approval_expired``;
- the kill switch's cancel (``cancel_held``): ``denied`` as ``freeze``, refunded as a denial.

``review`` is what a person deciding reads first (the dashboard's top-up and confirmation
pages): the top-up as ``GET /topup/{id}`` shows it, why it was held and who decided it
(``decisions``), and the upstream that fulfils it with our reference there, in one read.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer, mint_voucher_code

from ..approvals.held import Spend
from ..budgets.service import held_draws
from ..callers import Caller, require_scope
from ..ledger import service as ledger
from ..mail import caps
from ..merchants import holds
from ..merchants import service as merchants
from ..store.engine import Database
from ..store.models import AWAITING_APPROVAL, Topup, table_of
from ..store.rows import CoreRow
from ..upstreams import config as upstream_config
from ..upstreams import work
from ..values import statuses
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.money import quota_of
from ..values.outcome import ApiError, Outcome
from . import decisions, lifecycle
from .reads import read_one, topup_data
from .schemas import TopupData
from .service import FAILED_REASON, HELD, magic_outcome

__all__ = ["Review", "approve", "cancel_held", "deny", "due", "expire", "review"]

_T = table_of(Topup)


async def _held(conn: AsyncConnection, caller: Caller, txn_id: str) -> Any:
    """The caller's top-up ``txn_id``, refused unless this key may decide it now."""
    require_scope(caller, "approvals")
    row = (
        await conn.execute(
            select(_T).where(
                _T.c.id == txn_id, _T.c.merchant_id == caller.merchant_id, _T.c.env == caller.env
            )
        )
    ).first()
    if row is None:
        raise ApiError(Code.TRANSACTION_NOT_FOUND)
    if row.api_key_id == caller.key_id:
        raise ApiError(Code.KEY_SELF_APPROVAL, transaction_id=txn_id, status=row.status)
    if row.status != HELD:
        raise ApiError(Code.TOPUP_NOT_AWAITING_APPROVAL, transaction_id=txn_id, status=row.status)
    await holds.refuse_if_ended(conn, row.api_key_id, row, utcnow())
    return row


@dataclass(frozen=True, slots=True)
class Review:
    """A top-up as the person deciding it reads it; the dashboard's alone, no envelope carries
    it."""

    topup: TopupData
    decision: decisions.Decision | None  # None: never held for approval
    fulfilment: dict[str, str] | None = None  # an upstream's: provider and our reference
    budgets: tuple[str, ...] = ()  # the names of the budgets it draws on, as the inbox shows them
    quota: int | None = None  # through an upstream whose codes hold quota: shown beside the cents


async def review(db: Database, sealer: Sealer, caller: Caller, txn_id: str) -> Outcome:
    """The caller's top-up ``txn_id`` (``TRANSACTION_NOT_FOUND`` otherwise) with its hold and
    decision, read together so the page shows one moment of both."""
    async with db.read() as conn:
        found = await read_one(conn, sealer, caller, txn_id)
        decided = await decisions.decision(conn, caller, txn_id)
        upstream = await work.fulfilment_of(conn, txn_id)
        quota = None
        if upstream is not None:  # its quota, where its upstream's codes hold quota
            where = await upstream_config.redemption(
                conn, caller.merchant_id, caller.env, found.platform, upstream["provider"]
            )
            if where.quota_per_usd is not None:
                quota = quota_of(found.amount_cents, where.quota_per_usd)
    drawn = await held_draws(db, caller.merchant_id, caller.env, [txn_id])
    return Outcome(
        Code.SUCCESS,
        Review(found, decided, upstream, tuple(drawn.get(txn_id, ())), quota),
        transaction_id=found.id,
        status=found.status,
    )


def _lost(row: CoreRow) -> ApiError:
    return ApiError(Code.TOPUP_NOT_AWAITING_APPROVAL, transaction_id=row.id)


async def _decide(
    db: Database,
    sealer: Sealer,
    caller: Caller,
    txn_id: str,
    now: datetime,
    target: str | None,
    inline_seconds: float = 0.0,
    gates: caps.Gates | None = None,
    spend: Spend | None = None,
) -> Outcome:
    """``txn_id`` leaves ``pending_approval`` for ``target`` (an approval: what staging's magic
    recipients make of a delivery, and a delivery through an upstream is ``fulfilling``, its
    work due once the inline try's ``inline_seconds`` and a margin have passed) while it is
    still held and its window open; refused if another decision (or the expiry) got there
    first. ``spend``: the credential this decision is made with, spent in its transaction once
    nothing else refuses it."""
    async with db.transaction() as conn:
        row = await _held(conn, caller, txn_id)
        # A frozen environment keeps its held sends held: none is delivered until unfrozen (the
        # lock orders this decision against a freeze); a denial gives the money back. Every
        # decision takes the wallet's lock first, as a freeze does, before the top-up's: a
        # denial's refund would otherwise lock them the other way round and deadlock an approval.
        frozen = await ledger.frozen(conn, caller.wallet_id)
        if target != statuses.DENIED and frozen:
            raise ApiError(Code.ENVIRONMENT_FROZEN, transaction_id=txn_id, status=row.status)
        if spend is not None:
            await spend(conn, now)
        how: dict[str, Any] = {}
        if target is None:
            target = magic_outcome(row.env, row.recipient_email)
            provider = None
            if target == statuses.DELIVERED and caller.upstreams is not False:
                provider = await work.provider_in(conn, row.merchant_id, row.env, row.platform)
            if provider is not None:
                target = lifecycle.FULFILLING
                margin = inline_seconds + work.LEASE_MARGIN_SECONDS
                how["fulfil"] = (provider, now + timedelta(seconds=margin))
        if target == statuses.FAILED:
            how["failure_reason"] = FAILED_REASON
        gate = None
        if target == statuses.DELIVERED:
            voucher = mint_voucher_code(row.env)
            how["voucher_sealed"] = sealer.seal(voucher, context=row.id)
            how["voucher_hash"] = sealer.lookup(voucher)
            if gates is not None:  # the caps on voucher mails: ``mail.caps``
                on = bool(row.notify_recipient) and await merchants.notify_recipients(
                    conn, row.merchant_id
                )
                gate = await gates.take(row.merchant_id, row.env, row.recipient_email, on=on)
                how["mail_gate"] = gate
        asked = lifecycle.ChangeRequest(
            row, target, wallet_id=caller.wallet_id, now=now, decided_by=caller.key_id, **how
        )
        moved = await lifecycle.move(conn, asked)
        if moved is None:
            raise _lost(row)
    changed, deliveries = moved
    moving = lifecycle.transition(HELD, target)
    assert moving.code is not None
    hide = not caller.sees_codes(upstream=False)
    data = topup_data(changed, sealer, hide_voucher=hide).model_dump()
    if "fulfil" in how:
        data["fulfilment"] = work.fulfilment_ref(how["fulfil"][0], work.reference(row.id))
    if gate is not None:
        data["mail"] = gate.word(row.env)
    return Outcome(
        moving.code,
        data,
        transaction_id=changed.id,
        status=changed.status,
        deliveries=deliveries,
        handed_upstream=moving.fulfil,
    )


async def approve(
    db: Database,
    sealer: Sealer,
    caller: Caller,
    txn_id: str,
    *,
    now: datetime | None = None,
    inline_seconds: float = 0.0,
    gates: caps.Gates | None = None,
    spend: Spend | None = None,
) -> Outcome:
    """Deliver a held send (a key with the ``approvals`` scope, not the one that sent it), or
    hand it to its upstream (pending, ``fulfilment`` in its data). ``gates``: the caps on
    voucher mails its delivery counts in (``mail.caps``; the door settles them); ``spend``:
    the one-time link it is made with (``approvals.links``)."""
    return await _decide(
        db, sealer, caller, txn_id, now or utcnow(), None, inline_seconds, gates, spend
    )


async def deny(
    db: Database,
    sealer: Sealer,
    caller: Caller,
    txn_id: str,
    *,
    now: datetime | None = None,
    inline_seconds: float = 0.0,
    spend: Spend | None = None,
) -> Outcome:
    """Refuse a held send: refunded to the wallet and the key's windows. ``spend``: the
    one-time link it is made with (``approvals.links``)."""
    return await _decide(db, sealer, caller, txn_id, now or utcnow(), statuses.DENIED, spend=spend)


async def due(db: Database, now: datetime, *, limit: int = 500) -> list[str]:
    """Held sends whose approval window has closed, oldest first."""
    async with db.read() as conn:
        rows = await conn.execute(
            # The status as the partial index's predicate writes it: bound, it would not
            # prove the predicate, and a prepared statement's generic plan read the table.
            select(_T.c.id)
            .where(_T.c.approval_expires_at <= now, text(AWAITING_APPROVAL))
            .order_by(_T.c.approval_expires_at)
            .limit(limit)
        )
        return [r.id for r in rows]


async def expire(db: Database, txn_id: str, now: datetime) -> list[str] | None:
    """Expire one held send whose window has closed (refunded, ``topup.approval_expired``):
    the deliveries written, or ``None`` if it was decided first."""
    async with db.transaction() as conn:
        row = (await conn.execute(select(_T).where(_T.c.id == txn_id))).first()
        if row is None or row.status != HELD:
            return None
        wallet = await ledger.balance(conn, row.env, ledger.merchant_owner(row.merchant_id))
        assert wallet is not None
        await ledger.frozen(conn, wallet.wallet_id)  # the wallet's lock first, as a decision's
        asked = lifecycle.ChangeRequest(
            row, statuses.EXPIRED, wallet_id=wallet.wallet_id, now=now, decided_by="expiry"
        )
        moved = await lifecycle.move(conn, asked)
    return None if moved is None else moved[1]


async def cancel_held(
    conn: AsyncConnection, merchant_id: str, env: str, now: datetime
) -> tuple[int, list[str]]:
    """The kill switch's cancel, in the freeze's transaction (which holds the wallet's lock):
    every send of the environment held for approval denied, each refunded as a denial is; one
    an approver decided first is left as decided. How many, and the deliveries."""
    held = await conn.execute(
        select(_T).where(_T.c.merchant_id == merchant_id, _T.c.env == env, _T.c.status == HELD)
    )
    wallet = await ledger.balance(conn, env, ledger.merchant_owner(merchant_id))
    assert wallet is not None
    cancelled, work = 0, []
    for row in held.all():
        asked = lifecycle.ChangeRequest(
            row, statuses.DENIED, wallet_id=wallet.wallet_id, now=now, decided_by=decisions.FROZEN
        )
        moved = await lifecycle.move(conn, asked)
        if moved is not None:
            cancelled += 1
            work += moved[1]
    return cancelled, work
