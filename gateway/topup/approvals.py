"""Sends held for approval: approve, deny, and expiry.

A send above its key's approval line (``gateway.policies``) is debited and counted at once and
waits as ``pending_approval`` with ``approval_expires_at``. Each decision is one conditional
UPDATE of that status inside a transaction, so of an approve racing a deny (or the expiry sweep)
exactly one changes the row and the others change nothing:

- approve: delivered as any send would be (staging's magic recipients apply now), the recipient
  credited, ``topup.delivered``;
- deny: ``denied``, refunded to the wallet and to the key's windows, ``topup.approval_denied``;
- expiry (the worker's sweep, ``AITOPUP_APPROVAL_TTL_SECONDS`` after the send): ``expired``,
  refunded likewise, ``topup.approval_expired``.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer, mint_voucher_code

from ..callers import Caller, require_scope
from ..clock import utcnow
from ..codes import Code
from ..ledger import service as ledger
from ..outcome import ApiError, Outcome
from ..policies import spend
from ..store.compose import NO_REFS
from ..store.db import Database
from ..store.models import Topup, table_of
from ..store.raw import Statement, raw
from ..webhooks import outbox
from .service import FAILED_REASON, HELD, magic_outcome, topup_data

__all__ = ["approve", "deny", "due", "expire"]

_T = table_of(Topup)
_CREDIT_RECIPIENT = Statement.of(ledger.recipient_credit(NO_REFS, after=""))


def _event_data(row: Any, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "transaction_id": row.id,
        "status": status,
        "platform": row.platform,
        "amount_cents": row.amount_cents,
        "recipient_email": row.recipient_email,
        "metadata": row.metadata,
        **extra,
    }


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
    return row


async def _decide(
    conn: AsyncConnection, row: Any, status: str, decided_by: str, now: datetime, **values: Any
) -> Any:
    """``row`` leaves ``pending_approval`` for ``status`` if it is still held and not yet
    expired; ``None`` if another decision (or the expiry) got there first."""
    changed = (
        await conn.execute(
            update(_T)
            .where(_T.c.id == row.id, _T.c.status == HELD, _T.c.approval_expires_at > now)
            .values(status=status, decided_by=decided_by, updated_at=now, **values)
            .returning(_T)
        )
    ).first()
    return changed


def _lost(row: Any) -> ApiError:
    return ApiError(Code.TOPUP_NOT_AWAITING_APPROVAL, transaction_id=row.id)


async def _refund(
    conn: AsyncConnection, row: Any, wallet_id: str, event: str, now: datetime, **extra: Any
) -> list[str]:
    """The held amount back to the merchant's wallet and to the key's windows, and ``event``
    (``row`` is the top-up as decided, its status the new one)."""
    await ledger.credit(conn, wallet_id, row.amount_cents, now)
    await ledger.append(
        conn, [ledger.Entry(wallet_id, row.env, row.amount_cents, "topup_refund", row.id)], now
    )
    await spend.give_back(conn, row.api_key_id, row.spend_buckets, row.amount_cents, now)
    return await outbox.emit(
        conn,
        env=row.env,
        merchant_id=row.merchant_id,
        type_=event,
        data=_event_data(row, row.status, **extra),
        now=now,
    )


async def approve(
    db: Database, sealer: Sealer, caller: Caller, txn_id: str, *, now: datetime | None = None
) -> Outcome:
    """Deliver a held send (a key with the ``approvals`` scope, not the one that sent it)."""
    now = now or utcnow()
    async with db.transaction() as conn:
        row = await _held(conn, caller, txn_id)
        outcome = magic_outcome(row.env, row.recipient_email)
        if outcome == "failed":
            changed = await _decide(
                conn, row, "failed", caller.key_id, now, failure_reason=FAILED_REASON
            )
            if changed is None:
                raise _lost(row)
            deliveries = await _refund(
                conn, changed, caller.wallet_id, "topup.failed", now, failure_reason=FAILED_REASON
            )
            return _outcome(sealer, changed, Code.TOPUP_FAILED, deliveries)
        if outcome == "pending":
            changed = await _decide(conn, row, "pending", caller.key_id, now)
            if changed is None:
                raise _lost(row)
            return _outcome(sealer, changed, Code.TOPUP_PENDING, [])
        voucher = mint_voucher_code(row.env)
        changed = await _decide(
            conn,
            row,
            "delivered",
            caller.key_id,
            now,
            voucher_sealed=sealer.seal(voucher, context=row.id),
        )
        if changed is None:
            raise _lost(row)
        recipient = await (await raw(conn)).fetchrow(
            _CREDIT_RECIPIENT,
            {
                "recipient_wallet_id": ledger.new_wallet_id(),
                "env": row.env,
                "recipient_owner": ledger.recipient_owner(
                    row.merchant_id, row.platform, row.recipient_email
                ),
                "merchant_id": row.merchant_id,
                "platform": row.platform,
                "email": row.recipient_email,
                "amount": row.amount_cents,
                "now": now,
            },
        )
        assert recipient is not None
        changed = (
            await conn.execute(
                update(_T)
                .where(_T.c.id == row.id)
                .values(
                    recipient_wallet_id=recipient["id"],
                    recipient_balance_cents=recipient["balance_cents"],
                )
                .returning(_T)
            )
        ).one()
        await ledger.append(
            conn,
            [ledger.Entry(str(recipient["id"]), row.env, row.amount_cents, "topup_credit", row.id)],
            now,
        )
        await spend.count_delivered(
            conn, row.api_key_id, row.recipient_email, row.amount_cents, row.id, now
        )
        deliveries = await outbox.emit(
            conn,
            env=row.env,
            merchant_id=row.merchant_id,
            type_="topup.delivered",
            data=_event_data(changed, "delivered"),
            now=now,
        )
    return _outcome(sealer, changed, Code.TOPUP_DELIVERED, deliveries)


async def deny(
    db: Database, sealer: Sealer, caller: Caller, txn_id: str, *, now: datetime | None = None
) -> Outcome:
    """Refuse a held send: refunded to the wallet and the key's windows."""
    now = now or utcnow()
    async with db.transaction() as conn:
        row = await _held(conn, caller, txn_id)
        changed = await _decide(conn, row, "denied", caller.key_id, now)
        if changed is None:
            raise _lost(row)
        deliveries = await _refund(conn, changed, caller.wallet_id, "topup.approval_denied", now)
    return _outcome(sealer, changed, Code.TOPUP_DENIED, deliveries)


async def due(db: Database, now: datetime, *, limit: int = 500) -> list[str]:
    """Held sends whose approval window has closed, oldest first."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(_T.c.id)
            .where(_T.c.approval_expires_at <= now, _T.c.status == HELD)
            .order_by(_T.c.approval_expires_at)
            .limit(limit)
        )
        return [r.id for r in rows]


async def expire(db: Database, txn_id: str, now: datetime) -> list[str] | None:
    """Expire one held send whose window has closed (refunded, ``topup.approval_expired``):
    the deliveries written, or ``None`` if it was decided first."""
    async with db.transaction() as conn:
        changed = (
            await conn.execute(
                update(_T)
                .where(_T.c.id == txn_id, _T.c.status == HELD, _T.c.approval_expires_at <= now)
                .values(status="expired", decided_by="expiry", updated_at=now)
                .returning(_T)
            )
        ).first()
        if changed is None:
            return None
        wallet = await ledger.balance(conn, changed.env, ledger.merchant_owner(changed.merchant_id))
        assert wallet is not None
        return await _refund(conn, changed, wallet.wallet_id, "topup.approval_expired", now)


def _outcome(sealer: Sealer, row: Any, code: Code, deliveries: list[str]) -> Outcome:
    data = topup_data(row, sealer).model_dump()
    return Outcome(code, data, transaction_id=row.id, status=row.status, deliveries=deliveries)
