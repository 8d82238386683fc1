"""Fees an app charges the merchants who consented to it (seed 004's "charge fees").

A charge moves money from the consenting merchant's wallet (the payer) to the app owner's
merchant wallet (the payee), in the consent's environment, in one transaction, under the
consent's policy, judged by the same evaluation as a send (``policies.rules.judge``): its
``billing`` scope, its most per send, its spend windows and its per-recipient limit (the app
being the recipient), counted by the same store rule as a send's (``policies.spend``: the count
and its limit one write, so no interleaving overspends). A rule that would hold a send for
approval, and a platform or recipient list, refuse a charge (``KEY_RULE_REFUSES_CHARGE``):
there is no held charge, and a charge is on no list. It needs an ``Idempotency-Key``: the
same key and body answer the first reply again, and charge once, whatever the concurrency.
Both merchants hear it (``charge.succeeded``); the payer's ledger entry names the app.

A charge is refunded at most once, whole or in part, by the app or by the payee merchant: the
payee's wallet gives it back (never below zero), the payer's takes it, ``charge.refunded`` to
both. A refund does not give back the consent's spend.
"""

import json
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from .. import idempotency, outbox
from ..billing import funding
from ..billing.shortfall import shortfall_data
from ..callers import Caller
from ..ledger import alerts
from ..ledger import service as ledger
from ..policies import rules, spend
from ..store.compose import Plan, Refs, Step, const, from_rows, param, steps
from ..store.db import Database
from ..store.models import Charge, OAuthApp, table_of
from ..store.raw import CheckViolated, Construct, Raw, raw
from ..store.types import UTCDateTime
from ..values.clock import new_id, rfc3339, rfc3339_or_none, utcnow
from ..values.codes import Code
from ..values.outcome import ApiError, Outcome
from ..values.text import Line

__all__ = [
    "CHARGE_REFUNDED",
    "CHARGE_SUCCEEDED",
    "ChargeCreate",
    "ChargeData",
    "RefundCreate",
    "charge",
    "get_charge",
    "list_charges",
    "refund",
    "request_hash_of",
]

CHARGE_SUCCEEDED = "charge.succeeded"
CHARGE_REFUNDED = "charge.refunded"
_OPERATION = "charges.create"
_CH = table_of(Charge)
_A = table_of(OAuthApp)
_INT = sa.BigInteger()


class ChargeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    amount_cents: int = Field(ge=1, le=10_000_000, description="What the app charges, in cents.")
    description: Line = Field(min_length=1, max_length=500)
    metadata: dict[str, str] | None = Field(default=None, max_length=50)


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    amount_cents: int | None = Field(
        default=None, ge=1, description="Part of the charge; absent: all of it."
    )


class ChargeData(BaseModel):
    id: str
    env: str
    app_id: str
    payer_merchant_id: str
    payee_merchant_id: str
    amount_cents: int
    refunded_cents: int
    description: str
    metadata: dict[str, str] | None
    status: str = Field(description="succeeded, refunded or partially_refunded")
    created_at: str
    refunded_at: str | None


def _data(row: Any) -> ChargeData:
    refunded = int(row.refunded_cents)
    status = (
        "succeeded"
        if refunded == 0
        else "refunded"
        if refunded == row.amount_cents
        else "partially_refunded"
    )
    return ChargeData(
        id=row.id,
        env=row.env,
        app_id=row.app_id,
        payer_merchant_id=row.payer_merchant_id,
        payee_merchant_id=row.payee_merchant_id,
        amount_cents=int(row.amount_cents),
        refunded_cents=refunded,
        description=row.description,
        metadata=None if row.metadata_json is None else json.loads(row.metadata_json),
        status=status,
        created_at=rfc3339(row.created_at),
        refunded_at=rfc3339_or_none(row.refunded_at),
    )


# --- The charge: one plan, as the send's.

_PAYEE = param("payee_wallet_id", sa.String)


def _insert_charge(refs: Refs) -> Construct:
    now = param("now", UTCDateTime())
    row = {
        "id": param("txn_id", sa.String),
        "env": param("env", sa.String),
        "app_id": param("app_id", sa.String),
        "key_id": param("api_key_id", sa.String),
        "payer_merchant_id": param("merchant_id", sa.String),
        "payee_merchant_id": param("payee_merchant_id", sa.String),
        "amount_cents": param("amount", _INT),
        "refunded_cents": sa.literal_column("0"),
        "description": param("description", sa.String),
        "metadata_json": param("metadata_json", sa.Text),
        "created_at": now,
    }
    return from_rows(sa.insert(_CH), [row], where=refs.after("debit"))


def _steps(windows: tuple[str, ...]) -> list[Step]:
    """The conditional debit of the payer first (nothing is written when it is short), the
    consent's spend in its windows (the store refuses the whole write past a limit), the
    payee's credit, the charge, both entries, the payer's event and ``balance.low``."""
    lines = [
        ledger.Line(ledger.merchant_wallet(), -ledger.amount(), const("charge_debit")),
        ledger.Line(_PAYEE, ledger.amount(), const("charge_credit")),
    ]
    return steps(
        Step("debit", lambda r: ledger.conditional_debit(r, entries=1), required=True),
        spend.count_steps(windows, after="debit"),
        Step("payee", lambda r: ledger.wallet_credit(r, wallet=_PAYEE, after="debit")),
        Step("charge", _insert_charge),
        Step("entries", lambda r: ledger.entries(lines, after=r.after("debit"))),
        outbox.event_steps("event", after=lambda r: r.after("debit")),
        alerts.balance_low_steps("debit"),
    )


_PLANS: dict[tuple[str, ...], Plan] = {}


def _plan(windows: tuple[str, ...]) -> Plan:
    found = _PLANS.get(windows)
    if found is None:
        found = _PLANS[windows] = Plan(_steps(windows))
    return found


async def _claim(
    tx: Raw, sealer: Sealer, caller: Caller, key: str, request_hash: str, ttl_seconds: int
) -> Outcome | None:
    """The key's stored reply, or ``None`` when this request now owns the key."""
    return await idempotency.claim(
        tx,
        sealer,
        **idempotency.scope_of(caller, key),
        request_hash=request_hash,
        now=utcnow(),
        ttl_seconds=ttl_seconds,
    )


def _event_data(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in ("id", "app_id", "amount_cents", "description", "status")}


async def _payee(conn: AsyncConnection, caller: Caller) -> tuple[str, str]:
    """The app owner's merchant, and its wallet in the caller's environment."""
    owner = (
        await conn.execute(sa.select(_A.c.merchant_id, _A.c.name).where(_A.c.id == caller.app_id))
    ).first()
    if owner is None or owner.merchant_id is None:
        # An app a client registered itself has no merchant to be paid.
        raise ApiError(Code.CHARGES_FOR_APPS_ONLY)
    wallet_id, _ = await ledger.ensure_wallet(conn, caller.env, owner.merchant_id, utcnow())
    return str(owner.merchant_id), wallet_id


def request_hash_of(body: ChargeCreate) -> str:
    """What a charge's idempotency key is matched on, at every door."""
    return idempotency.fingerprint(_OPERATION, body.model_dump(mode="json"))


async def charge(
    db: Database,
    sealer: Sealer,
    caller: Caller,
    body: ChargeCreate,
    *,
    idempotency_key: str,
    idempotency_ttl_seconds: int,
    public_base_url: str | None,
) -> Outcome:
    if caller.app_id is None:
        raise ApiError(Code.CHARGES_FOR_APPS_ONLY)
    now = utcnow()
    # The send's own evaluation: every rule of the consent applies, and one that would hold
    # the charge refuses it (a charge has no held state).
    counted = rules.judge(
        caller.policy, rules.charge(caller.app_id, body.amount_cents), now
    ).counted
    windows = tuple(c.name for c in counted)
    request_hash = request_hash_of(body)
    charge_id = new_id("ch")
    metadata = None if body.metadata is None else json.dumps(body.metadata, sort_keys=True)
    try:
        async with db.transaction() as conn:
            tx = await raw(conn)
            stored = await _claim(
                tx, sealer, caller, idempotency_key, request_hash, idempotency_ttl_seconds
            )
            if stored is not None:
                return stored
            payee, payee_wallet = await _payee(conn, caller)
            memo = f"charge by app {caller.app_id}: {body.description}"[:500]
            row = {
                "id": charge_id,
                "app_id": caller.app_id,
                "amount_cents": body.amount_cents,
                "description": body.description,
                "status": "succeeded",
            }
            params = {
                "txn_id": charge_id,
                "now": now,
                "env": caller.env,
                "merchant_id": caller.merchant_id,
                "api_key_id": caller.key_id,
                "wallet_id": caller.wallet_id,
                "amount": body.amount_cents,
                "taken": body.amount_cents,
                "reference": charge_id,
                "memo": memo,
                "app_id": caller.app_id,
                "payee_merchant_id": payee,
                "payee_wallet_id": payee_wallet,
                "description": body.description,
                "metadata_json": metadata,
                **outbox.event_params(CHARGE_SUCCEEDED, now, caller.env, _event_data(row)),
                **alerts.low_params(caller.env, caller.low_balance_threshold_cents, now),
                **spend.spend_params(counted),
            }
            applied = await _plan(windows).run(tx, params)
            if applied is None:
                short = await shortfall_data(
                    tx, caller.wallet_id, body.amount_cents, public_base_url
                )
                outcome = ApiError(Code.INSUFFICIENT_BALANCE, data=short).outcome()
            else:
                paid = await outbox.emit(
                    conn,
                    env=caller.env,
                    merchant_id=payee,
                    type_=CHARGE_SUCCEEDED,
                    data=_event_data(row),
                    now=now,
                )
                found = (await conn.execute(sa.select(_CH).where(_CH.c.id == charge_id))).one()
                outcome = Outcome(
                    Code.CREATED,
                    _data(found),
                    transaction_id=charge_id,
                    status="succeeded",
                    deliveries=[*applied.ids("event_deliveries", "low_deliveries"), *paid],
                )
            await idempotency.record(
                tx, sealer, **idempotency.scope_of(caller, idempotency_key), outcome=outcome
            )
            return outcome
    except CheckViolated as violated:
        if violated.name != spend.LIMIT_CHECK:
            raise
    # A window was full: nothing was written, the idempotency claim neither. Say which, and
    # keep that answer under the key, as a send's refusal is kept.
    buckets = [c.bucket for c in counted]
    spent = await db.run(lambda tx: spend.spent(tx, caller.key_id, buckets), read_only=True)
    refusal = rules.refused(counted, spent, body.amount_cents).outcome()
    async with db.transaction() as conn:
        tx = await raw(conn)
        stored = await _claim(
            tx, sealer, caller, idempotency_key, request_hash, idempotency_ttl_seconds
        )
        if stored is not None:
            return stored
        await idempotency.record(
            tx, sealer, **idempotency.scope_of(caller, idempotency_key), outcome=refusal
        )
    return refusal


def _visible(caller: Caller) -> Any:
    """An app sees the charges it made of this merchant; a merchant's key, those it paid and
    those its apps were paid, in its environment."""
    if caller.app_id is not None:
        return sa.and_(
            _CH.c.app_id == caller.app_id,
            _CH.c.payer_merchant_id == caller.merchant_id,
            _CH.c.env == caller.env,
        )
    return sa.and_(
        sa.or_(
            _CH.c.payer_merchant_id == caller.merchant_id,
            _CH.c.payee_merchant_id == caller.merchant_id,
        ),
        _CH.c.env == caller.env,
    )


def _billing(caller: Caller) -> None:
    if not caller.policy.allows("billing"):
        raise ApiError(Code.KEY_SCOPE_MISSING, data={"scope": "billing"})


async def list_charges(db: Database, caller: Caller, *, limit: int) -> Outcome:
    _billing(caller)
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(_CH).where(_visible(caller)).order_by(_CH.c.id.desc()).limit(limit)
        )
        return Outcome(Code.SUCCESS, [_data(row) for row in rows])


async def get_charge(db: Database, caller: Caller, charge_id: str) -> Outcome:
    _billing(caller)
    async with db.read() as conn:
        row = (
            await conn.execute(sa.select(_CH).where(_CH.c.id == charge_id, _visible(caller)))
        ).first()
    if row is None:
        raise ApiError(Code.CHARGE_NOT_FOUND)
    return Outcome(Code.SUCCESS, _data(row))


async def refund(db: Database, caller: Caller, charge_id: str, body: RefundCreate) -> Outcome:
    """Once: the first refund of a charge wins (a conditional write), whole or part."""
    _billing(caller)
    now = utcnow()
    async with db.transaction() as conn:
        row = (
            await conn.execute(sa.select(_CH).where(_CH.c.id == charge_id, _visible(caller)))
        ).first()
        may = row is not None and (
            caller.app_id == row.app_id or caller.merchant_id == row.payee_merchant_id
        )
        if row is None or not may:
            raise ApiError(Code.CHARGE_NOT_FOUND)
        amount = body.amount_cents or int(row.amount_cents)
        won = await conn.execute(
            sa.update(_CH)
            .where(
                _CH.c.id == charge_id,
                _CH.c.refunded_cents == 0,
                _CH.c.amount_cents >= amount,
            )
            .values(refunded_cents=amount, refunded_at=now)
        )
        if won.rowcount != 1:
            raise ApiError(Code.CHARGE_NOT_REFUNDABLE)
        memo = f"refund of charge {charge_id}"
        moved = dict(
            env=row.env, amount=amount, source="charge_refund", reference=charge_id, memo=memo
        )
        taken = await funding.debit_merchant(
            conn, merchant_id=row.payee_merchant_id, now=now, **moved
        )
        if taken is None:  # the payee's wallet is short: nothing of the refund is kept
            raise ApiError(
                Code.INSUFFICIENT_BALANCE, "The app owner's wallet does not hold the refund"
            )
        given = await funding.credit_merchant(
            conn, db, merchant_id=row.payer_merchant_id, now=now, **moved
        )
        found = (await conn.execute(sa.select(_CH).where(_CH.c.id == charge_id))).one()
        data = _data(found)
        told: list[str] = []
        for merchant in (row.payer_merchant_id, row.payee_merchant_id):
            told += await outbox.emit(
                conn,
                env=row.env,
                merchant_id=merchant,
                type_=CHARGE_REFUNDED,
                data={**_event_data(data.model_dump()), "refunded_cents": amount},
                now=now,
            )
    return Outcome(
        Code.SUCCESS,
        data,
        transaction_id=charge_id,
        status=data.status,
        deliveries=[*taken.delivery_ids, *given.delivery_ids, *told],
    )
