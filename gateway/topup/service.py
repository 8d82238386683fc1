"""The send and the top-up lifecycle. Every change is one transaction: the debit, the credit, the
top-up row, its ledger entries and its outbox events commit together or not at all.

Operations take typed inputs and return an ``Outcome`` (or raise ``ApiError``): the doors (REST,
the dashboard, MCP) render it and enqueue its deliveries after the commit.
"""

import json
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, String, insert, null, select, true, update

from keys import Sealer, mint_voucher_code

from .. import idempotency
from ..callers import Caller
from ..clock import new_id, rfc3339, utcnow
from ..codes import Code
from ..ledger import alerts
from ..ledger import service as ledger
from ..outcome import ApiError, Outcome
from ..store.compose import Plan, Refs, Step, const, param, steps
from ..store.db import Database
from ..store.models import Topup, table_of
from ..store.raw import Construct, Raw
from ..store.types import UTCDateTime
from ..webhooks import outbox
from .schemas import SendData, SendRequest, TopupData

__all__ = ["SEND", "cancel", "get", "list_page", "sandbox_fund", "send", "wallet_balance"]

_T = table_of(Topup)

SEND = "topup.send"  # the operation's name, which idempotency keys are scoped to


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


def _insert_topup(refs: Refs, status: str, *, credited: bool) -> Construct:
    """The top-up row; a delivered one names the recipient's wallet and balance after the
    credit (step ``recipient``)."""
    recipient_id: ColumnElement[Any] = null()
    recipient_balance: ColumnElement[Any] = null()
    gate = refs.after("debit")
    if credited:
        recipient_id = refs.col("recipient", "id")
        recipient_balance = refs.col("recipient", "balance_cents")
        gate = true()
    now = param("now", UTCDateTime())
    values = select(
        param("txn_id", String),
        param("env", String),
        param("merchant_id", String),
        param("api_key_id", String),
        param("platform", String),
        ledger.amount(),
        param("email", String),
        recipient_id,
        const(status),
        param("voucher_sealed", String),
        recipient_balance,
        param("metadata", JSON()),
        param("failure_reason", String),
        now,
        now,
    ).where(gate)
    columns = [
        "id", "env", "merchant_id", "api_key_id", "platform", "amount_cents", "recipient_email",
        "recipient_wallet_id", "status", "voucher_sealed", "recipient_balance_cents", "metadata",
        "failure_reason", "created_at", "updated_at",
    ]  # fmt: skip
    return insert(_T).from_select(columns, values)


def _send_plan(outcome: str) -> Plan:
    """The send's writes for one outcome: the conditional debit first (nothing is written when
    it finds the wallet short), then the recipient's credit (delivered only), the top-up row, its
    entries, its event with deliveries (none while pending), and ``balance.low`` on crossing."""
    debit, amount = ledger.merchant_wallet, ledger.amount

    def lines(refs: Refs) -> list[ledger.Line]:
        taken = ledger.Line(debit(), -amount(), const("topup_debit"))
        if outcome == "delivered":
            return [
                taken,
                ledger.Line(refs.col("recipient", "id"), amount(), const("topup_credit")),
            ]
        if outcome == "failed":  # refunded at once: the wallet ends where it began
            return [taken, ledger.Line(debit(), amount(), const("topup_refund"))]
        return [taken]

    credited = outcome == "delivered"
    return Plan(
        steps(
            Step("debit", ledger.conditional_debit, required=True),
            [Step("recipient", lambda r: ledger.recipient_credit(r, after="debit"))]
            if credited
            else [],
            Step("topup", lambda r: _insert_topup(r, outcome, credited=credited)),
            Step("entries", lambda r: ledger.entries(lines(r), after=r.after("debit"))),
            outbox.event_steps("event", after=lambda r: r.after("debit"))
            if outcome != "pending"
            else [],
            alerts.balance_low_steps("debit"),
        )
    )


_PLANS = {outcome: _send_plan(outcome) for outcome in ("delivered", "failed", "pending")}
_CODES = {
    "delivered": Code.TOPUP_DELIVERED,
    "pending": Code.TOPUP_PENDING,
    "failed": Code.TOPUP_FAILED,
}
_FAILED_REASON = "sandbox recipient set to fail"


def send_params(
    sealer: Sealer, caller: Caller, body: SendRequest, now: datetime
) -> tuple[str, dict[str, Any], str | None]:
    """The outcome, the plan's parameters, and the voucher (delivered only)."""
    env, amount = caller.env, body.amount_cents
    email = _email(body)
    txn_id = new_id("txn")
    outcome = _magic_outcome(env, email)
    voucher = mint_voucher_code(env) if outcome == "delivered" else None
    reason = _FAILED_REASON if outcome == "failed" else None
    params: dict[str, Any] = {
        "wallet_id": caller.wallet_id,
        "amount": amount,
        "taken": 0 if outcome == "failed" else amount,
        "now": now,
        "env": env,
        "merchant_id": caller.merchant_id,
        "api_key_id": caller.key_id,
        "platform": body.platform,
        "email": email,
        "txn_id": txn_id,
        "reference": txn_id,
        "memo": None,
        "voucher_sealed": sealer.seal(voucher, context=txn_id) if voucher else None,
        "metadata": None if body.metadata is None else json.dumps(body.metadata),
        "failure_reason": reason,
    }
    if outcome == "delivered":
        params["recipient_wallet_id"] = ledger.new_wallet_id()
        params["recipient_owner"] = ledger.recipient_owner(caller.merchant_id, body.platform, email)
    if outcome != "pending":
        data = _event_data(txn_id, outcome, body, email, reason)
        params.update(outbox.event_params("event", f"topup.{outcome}", now, env, data))
    # After the send's own event: event ids sort in the order the events happened.
    params.update(alerts.low_params(env, caller.low_balance_threshold_cents, now))
    return outcome, params, voucher


async def _apply(
    tx: Raw, outcome: str, params: dict[str, Any], body: SendRequest, voucher: str | None
) -> Outcome:
    applied = await _PLANS[outcome].run(tx, params)
    if applied is None:
        return ApiError(Code.INSUFFICIENT_BALANCE).outcome()
    recipient = applied.one("recipient") if outcome == "delivered" else None
    data = SendData(
        voucher_code=voucher,
        platform=body.platform,
        amount_cents=body.amount_cents,
        new_balance_cents=None if recipient is None else int(recipient["balance_cents"]),
    ).model_dump()
    deliveries = applied.ids("low_deliveries")
    if outcome != "pending":
        deliveries = applied.ids("event_deliveries") + deliveries
    return Outcome(
        _CODES[outcome],
        data,
        transaction_id=params["txn_id"],
        status=outcome,
        deliveries=deliveries,
    )


async def send(
    db: Database,
    sealer: Sealer,
    caller: Caller,
    body: SendRequest,
    *,
    idempotency_key: str | None,
    idempotency_ttl_seconds: int,
) -> Outcome:
    """One transaction: the plan of the send's outcome, and with an idempotency key its claim
    and the outcome recorded for replays (a refusal too, as Stripe replays it)."""
    now = utcnow()
    outcome, params, voucher = send_params(sealer, caller, body, now)
    if idempotency_key is None:
        return await db.run(
            lambda tx: _apply(tx, outcome, params, body, voucher), each_statement=True
        )
    request_hash = idempotency.fingerprint(SEND, body.model_dump(mode="json"))

    async def send_once(tx: Raw) -> Outcome:
        assert idempotency_key is not None
        scope = {"merchant_id": caller.merchant_id, "env": caller.env, "key": idempotency_key}
        stored = await idempotency.claim(
            tx,
            sealer,
            **scope,
            request_hash=request_hash,
            now=now,
            ttl_seconds=idempotency_ttl_seconds,
        )
        if stored is not None:
            return stored
        done = await _apply(tx, outcome, params, body, voucher)
        await idempotency.record(tx, sealer, **scope, outcome=done)
        return done

    return await db.run(send_once)


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
    async with db.read() as conn:
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
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    return [_topup_data(r, sealer) for r in rows[:limit]], len(rows) > limit


async def cancel(db: Database, sealer: Sealer, caller: Caller, txn_id: str) -> Outcome:
    """Pending → cancelled, refunded by a reversing entry. The status check and the change are one
    UPDATE, so two concurrent cancels refund once."""
    now = utcnow()
    async with db.transaction() as conn:
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
    return Outcome(
        Code.TOPUP_CANCELLED,
        data,
        transaction_id=txn_id,
        status="cancelled",
        deliveries=deliveries,
    )


async def wallet_balance(db: Database, caller: Caller) -> int:
    async with db.read() as conn:
        wallet = await ledger.balance(conn, caller.env, ledger.merchant_owner(caller.merchant_id))
    return 0 if wallet is None else wallet.balance_cents


async def sandbox_fund(db: Database, caller: Caller, amount: int) -> int:
    if caller.env != "staging":
        raise ApiError(Code.ENV_NOT_ALLOWED, "The sandbox is only for staging keys")
    now = utcnow()
    async with db.transaction() as conn:
        balance = await ledger.credit(conn, caller.wallet_id, amount, now)
        await ledger.append(
            conn,
            [ledger.Entry(caller.wallet_id, caller.env, amount, "sandbox_fund", new_id("fnd"))],
            now,
        )
    return balance
