"""The send and the top-up lifecycle. Every change is one transaction: the debit, the credit, the
top-up row, its ledger entries and its outbox events commit together or not at all.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from starlette.responses import Response

from keys import Sealer, mint_voucher_code

from .. import idempotency
from ..auth import Caller
from ..clock import new_id, rfc3339, utcnow
from ..codes import Code
from ..envelope import ApiError, Envelope
from ..ledger import alerts
from ..ledger import service as ledger
from ..store.db import Database
from ..store.models import Topup, table_of
from ..store.raw import Raw, Statement
from ..webhooks import outbox
from . import writes
from .schemas import SendData, SendRequest, TopupData

__all__ = ["Sent", "cancel", "get", "list_page", "sandbox_fund", "send", "wallet_balance"]

_T = table_of(Topup)


@dataclass(slots=True)
class Sent:
    """The reply, and the deliveries to enqueue once the transaction has committed."""

    response: Response
    delivery_ids: list[str] = field(default_factory=list)


def _email(body: SendRequest) -> str:
    return str(body.recipient_email).lower()


def _magic_outcome(env: str, email: str) -> str:
    """Staging's magic recipients: ``…+fail@…`` fails and refunds, ``…+pending@…`` waits."""
    if env != "staging":
        return "delivered"
    local = email.partition("@")[0]
    if local.endswith("+fail"):
        return "failed"
    if local.endswith("+pending"):
        return "pending"
    return "delivered"


def _event_data(
    txn_id: str, status: str, body: SendRequest, email: str, reason: str | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "transaction_id": txn_id,
        "status": status,
        "platform": body.platform,
        "amount_cents": body.amount_cents,
        "recipient_email": email,
        "metadata": body.metadata,
    }
    if reason is not None:
        data["failure_reason"] = reason
    return data


class _Insufficient(Exception):
    """The wallet cannot cover the send: everything the send wrote must roll back."""


_INSERT_TOPUP = Statement(
    """INSERT INTO topups (id, env, merchant_id, api_key_id, platform, amount_cents,
        recipient_email, recipient_wallet_id, status, voucher_sealed, recipient_balance_cents,
        metadata, failure_reason, created_at, updated_at)
    VALUES (:id, :env, :merchant_id, :api_key_id, :platform, :amount_cents, :recipient_email,
        :recipient_wallet_id, :status, :voucher_sealed, :recipient_balance_cents, :metadata,
        :failure_reason, :now, :now)"""
)


async def send(
    db: Database,
    sealer: Sealer,
    caller: Caller,
    body: SendRequest,
    *,
    idempotency_key: str | None,
    request_hash: str,
    idempotency_ttl_seconds: int,
) -> Sent:
    now = utcnow()

    async def send_once(tx: Raw) -> Sent:
        if idempotency_key is None:
            return await _send(tx, sealer, caller, body, now)
        stored = await idempotency.claim(
            tx,
            merchant_id=caller.merchant_id,
            env=caller.env,
            key=idempotency_key,
            request_hash=request_hash,
            now=now,
            ttl_seconds=idempotency_ttl_seconds,
        )
        if stored is not None:
            return Sent(stored.response())
        try:
            # A refusal is a reply too (Stripe replays it): undo the send, keep the key.
            async with tx.savepoint():
                sent = await _send(tx, sealer, caller, body, now)
        except _Insufficient:
            sent = Sent(ApiError(Code.INSUFFICIENT_BALANCE).response())
        await idempotency.record(
            tx,
            merchant_id=caller.merchant_id,
            env=caller.env,
            key=idempotency_key,
            response=sent.response,
        )
        return sent

    try:
        if (
            idempotency_key is None
            and not db.is_sqlite
            and _magic_outcome(caller.env, _email(body)) == "delivered"
        ):
            # On PostgreSQL a delivered send is one statement, atomic by itself: it needs no
            # BEGIN and COMMIT around it.
            async with db.connect() as conn:
                return await _send(conn, sealer, caller, body, now)
        return await db.run(send_once)
    except _Insufficient:
        return Sent(ApiError(Code.INSUFFICIENT_BALANCE).response())


async def _send(
    conn: Raw,
    sealer: Sealer,
    caller: Caller,
    body: SendRequest,
    now: datetime,
) -> Sent:
    env, amount, wallet_id = caller.env, body.amount_cents, caller.wallet_id
    email = _email(body)
    txn_id = new_id("txn")
    outcome = _magic_outcome(env, email)
    if outcome == "delivered" and not conn.is_sqlite:
        return await _send_delivered_in_one(conn, sealer, caller, body, email, txn_id, now)
    entries = [ledger.Entry(wallet_id, env, -amount, "topup_debit", txn_id)]
    recipient: ledger.Balance | None = None
    voucher: str | None = None
    reason: str | None = None
    if outcome == "delivered":
        recipient = await ledger.credit_recipient(conn, env, body.platform, email, amount, now)
        entries.append(ledger.Entry(recipient.wallet_id, env, amount, "topup_credit", txn_id))
        voucher = mint_voucher_code()
    elif outcome == "failed":
        reason = "sandbox recipient set to fail"
        entries.append(ledger.Entry(wallet_id, env, amount, "topup_refund", txn_id))

    await conn.fetch(
        _INSERT_TOPUP,
        {
            "id": txn_id,
            "env": env,
            "merchant_id": caller.merchant_id,
            "api_key_id": caller.key_id,
            "platform": body.platform,
            "amount_cents": amount,
            "recipient_email": email,
            "recipient_wallet_id": recipient.wallet_id if recipient else None,
            "status": outcome,
            "voucher_sealed": sealer.seal(voucher, context=txn_id) if voucher else None,
            "recipient_balance_cents": recipient.balance_cents if recipient else None,
            "metadata": None if body.metadata is None else json.dumps(body.metadata),
            "failure_reason": reason,
            "now": now,
        },
    )
    await ledger.append(conn, entries, now)
    deliveries: list[str] = []
    if outcome != "pending":
        deliveries += await outbox.emit(
            conn,
            env=env,
            merchant_id=caller.merchant_id,
            type_=f"topup.{outcome}",
            data=_event_data(txn_id, outcome, body, email, reason),
            now=now,
        )

    # The merchant's wallet is every send's hot row: touch it last, so its lock is held only
    # from here to the commit.
    balance = await ledger.debit(conn, wallet_id, amount, now)
    if balance is None:
        raise _Insufficient
    before = balance + amount
    if outcome == "failed":  # refunded at once: the balance ends where it began
        balance = await ledger.credit(conn, wallet_id, amount, now)
    deliveries += await alerts.balance_low(
        conn,
        env=env,
        merchant_id=caller.merchant_id,
        threshold=caller.low_balance_threshold_cents,
        before=before,
        after=balance,
        now=now,
    )
    return _reply(body, txn_id, outcome, voucher, recipient, deliveries)


async def _send_delivered_in_one(
    conn: Raw,
    sealer: Sealer,
    caller: Caller,
    body: SendRequest,
    email: str,
    txn_id: str,
    now: datetime,
) -> Sent:
    """PostgreSQL: the same writes as ``_send``'s delivered path, ``balance.low`` included, in
    one statement."""
    voucher = mint_voucher_code()
    done = await writes.send_delivered(
        conn,
        env=caller.env,
        merchant_id=caller.merchant_id,
        api_key_id=caller.key_id,
        wallet_id=caller.wallet_id,
        txn_id=txn_id,
        platform=body.platform,
        email=email,
        amount=body.amount_cents,
        voucher_sealed=sealer.seal(voucher, context=txn_id),
        metadata=body.metadata,
        event_data=_event_data(txn_id, "delivered", body, email),
        low_balance_threshold=caller.low_balance_threshold_cents,
        now=now,
    )
    if done is None:
        raise _Insufficient
    return _reply(body, txn_id, "delivered", voucher, done.recipient, done.delivery_ids)


def _reply(
    body: SendRequest,
    txn_id: str,
    outcome: str,
    voucher: str | None,
    recipient: ledger.Balance | None,
    deliveries: list[str],
) -> Sent:
    data = SendData(
        voucher_code=voucher,
        platform=body.platform,
        amount_cents=body.amount_cents,
        new_balance_cents=recipient.balance_cents if recipient else None,
    ).model_dump()
    code = {
        "delivered": Code.TOPUP_DELIVERED,
        "pending": Code.TOPUP_PENDING,
        "failed": Code.TOPUP_FAILED,
    }[outcome]
    return Sent(Envelope(code, data, transaction_id=txn_id, status=outcome), deliveries)


def _topup_data(row: Any, sealer: Sealer) -> TopupData:
    return TopupData(
        id=row.id,
        env=row.env,
        status=row.status,
        platform=row.platform,
        amount_cents=row.amount_cents,
        recipient_email=row.recipient_email,
        voucher_code=(
            sealer.open(row.voucher_sealed, context=row.id) if row.voucher_sealed else None
        ),
        new_balance_cents=row.recipient_balance_cents,
        metadata=row.metadata,
        failure_reason=row.failure_reason,
        created_at=rfc3339(row.created_at),
        updated_at=rfc3339(row.updated_at),
    )


def _mine(caller: Caller) -> tuple[Any, ...]:
    return (_T.c.merchant_id == caller.merchant_id, _T.c.env == caller.env)


async def get(db: Database, sealer: Sealer, caller: Caller, txn_id: str) -> TopupData:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(_T).where(_T.c.id == txn_id, *_mine(caller)))).first()
    if row is None:
        raise ApiError(Code.TRANSACTION_NOT_FOUND)
    return _topup_data(row, sealer)


async def list_page(
    db: Database, sealer: Sealer, caller: Caller, *, limit: int, cursor: str | None
) -> tuple[list[TopupData], bool]:
    """Newest first; ``cursor`` is the last id of the previous page. Ids sort by creation time."""
    stmt = select(_T).where(*_mine(caller)).order_by(_T.c.id.desc()).limit(limit + 1)
    if cursor is not None:
        stmt = stmt.where(_T.c.id < cursor)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [_topup_data(r, sealer) for r in rows[:limit]], len(rows) > limit


async def cancel(db: Database, sealer: Sealer, caller: Caller, txn_id: str) -> Sent:
    """Pending → cancelled, refunded by a reversing entry. The status check and the change are one
    UPDATE, so two concurrent cancels refund once."""
    now = utcnow()
    async with db.begin() as conn:
        row = (
            await conn.execute(
                update(_T)
                .where(_T.c.id == txn_id, _T.c.status == "pending", *_mine(caller))
                .values(status="cancelled", updated_at=now)
                .returning(_T)
            )
        ).first()
        if row is None:
            exists = (
                await conn.execute(select(_T.c.status).where(_T.c.id == txn_id, *_mine(caller)))
            ).first()
            if exists is None:
                raise ApiError(Code.TRANSACTION_NOT_FOUND)
            raise ApiError(Code.TOPUP_NOT_CANCELLABLE, transaction_id=txn_id, status=exists.status)
        await ledger.credit(conn, caller.wallet_id, row.amount_cents, now)
        await ledger.append(
            conn,
            [ledger.Entry(caller.wallet_id, caller.env, row.amount_cents, "topup_refund", txn_id)],
            now,
        )
        deliveries = await outbox.emit(
            conn,
            env=caller.env,
            merchant_id=caller.merchant_id,
            type_="topup.cancelled",
            data={
                "transaction_id": txn_id,
                "status": "cancelled",
                "platform": row.platform,
                "amount_cents": row.amount_cents,
                "recipient_email": row.recipient_email,
                "metadata": row.metadata,
            },
            now=now,
        )
    data = _topup_data(row, sealer).model_dump()
    return Sent(
        Envelope(Code.TOPUP_CANCELLED, data, transaction_id=txn_id, status="cancelled"),
        deliveries,
    )


async def wallet_balance(db: Database, caller: Caller) -> int:
    async with db.engine.connect() as conn:
        wallet = await ledger.balance(conn, caller.env, ledger.merchant_owner(caller.merchant_id))
    return 0 if wallet is None else wallet.balance_cents


async def sandbox_fund(db: Database, caller: Caller, amount: int) -> int:
    if caller.env != "staging":
        raise ApiError(Code.ENV_NOT_ALLOWED, "The sandbox is only for staging keys")
    now = utcnow()
    async with db.begin() as conn:
        balance = await ledger.credit(conn, caller.wallet_id, amount, now)
        await ledger.append(
            conn,
            [ledger.Entry(caller.wallet_id, caller.env, amount, "sandbox_fund", new_id("fnd"))],
            now,
        )
    return balance
