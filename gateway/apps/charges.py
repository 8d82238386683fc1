"""Fees an app charges the merchants who consented to it (seed 004's "charge fees").

A charge moves money from the consenting merchant's wallet (the payer) to the app owner's
merchant wallet (the payee), in the consent's environment, in one transaction, a payment as a
send is (``charging``: its plan; ``payments.once``: its run under its key), under the
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
from pydantic import ConfigDict, Field

from keys import Sealer

from .. import idempotency, outbox
from ..billing.wallet import funding
from ..budgets.service import drawn
from ..callers import Caller
from ..ledger import alerts, refills
from ..ledger import service as ledger
from ..payments import once
from ..policies import rules
from ..store.engine import Database
from ..store.models import Charge, table_of
from ..store.raw import Raw
from ..store.rows import CoreRow
from ..values.clock import rfc3339, rfc3339_or_none, utcnow
from ..values.code_names import Code
from ..values.model import Model
from ..values.outcome import ApiError, Outcome
from ..values.text import Line
from . import charging

__all__ = [
    "CHARGE_REFUNDED",
    "CHARGE_SUCCEEDED",
    "ChargeCreate",
    "ChargeData",
    "RefundCreate",
    "charge",
    "get_charge",
    "let_go_refusal",
    "list_charges",
    "refund",
    "request_hash_of",
]

CHARGE_SUCCEEDED = charging.CHARGE_SUCCEEDED
CHARGE_REFUNDED = "charge.refunded"
_OPERATION = "charges.create"
_CH = table_of(Charge)


class ChargeCreate(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    amount_cents: int = Field(ge=1, le=10_000_000, description="What the app charges, in cents.")
    description: Line = Field(min_length=1, max_length=500)
    metadata: dict[str, str] | None = Field(default=None, max_length=50)


class RefundCreate(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    amount_cents: int | None = Field(
        default=None, ge=1, description="Part of the charge; absent: all of it."
    )


class ChargeData(Model):
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


def _status(amount: int, refunded: int) -> str:
    return (
        "succeeded" if refunded == 0 else "refunded" if refunded == amount else "partially_refunded"
    )


def _data(row: CoreRow) -> ChargeData:
    refunded = int(row.refunded_cents)
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
        status=_status(int(row.amount_cents), refunded),
        created_at=rfc3339(row.created_at),
        refunded_at=rfc3339_or_none(row.refunded_at),
    )


# --- The charge: a payment, as a send is (``charging``, ``payments``).


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
    app_id = caller.app_id
    if app_id is None:
        raise ApiError(Code.CHARGES_FOR_APPS_ONLY)
    now = utcnow()
    # The send's own evaluation: every rule of the consent applies, and one that would hold
    # the charge refuses it (a charge has no held state).
    budgets = await drawn(db, caller.merchant_id, caller.env, caller.policy.budgets)
    payment = rules.charge(app_id, body.amount_cents)
    counted = rules.judge(caller.policy, payment, now, budgets, caller.consent).counted
    windows = tuple(c.name for c in counted)
    request_hash = request_hash_of(body)

    async def apply(tx: Raw, claim: once.Claim) -> once.Paid:
        paid = await charging.payee(tx, app_id, caller.env, now)
        prepared = charging.charge_params(
            caller, app_id, paid, body.amount_cents, body.description, body.metadata, counted, now
        )
        planned = charging.charge_plan(windows, once.claimed(claim))
        applied = await planned.run(tx, once.bound(prepared.params, claim))
        if applied is None:
            return await once.short(tx, caller.wallet_id, body.amount_cents, public_base_url)
        # The fee is a credit of the app owner's wallet: as every credit of a merchant wallet,
        # it may take that wallet back to the safe side of its levels.
        recovered = await alerts.recover(
            tx, wallet_id=paid.wallet_id, merchant_id=paid.merchant_id, env=caller.env, now=now
        )
        made = _made(prepared.charge)
        return once.Paid(
            Outcome(
                Code.CREATED,
                made,
                transaction_id=made.id,
                status=made.status,
                deliveries=[
                    *applied.ids(
                        "event_deliveries", "low_deliveries", "paid_deliveries", refills.STEP
                    ),
                    *recovered,
                ],
            )
        )

    keyed = once.Keyed(idempotency_key, request_hash, idempotency_ttl_seconds)
    return await once.pay(
        db, sealer, caller, apply, keyed=keyed, counted=counted, amount=body.amount_cents, now=now
    )


def _made(charge: charging.Charging) -> ChargeData:
    """The charge a plan wrote with ``charge``, as a read of it shows it."""
    metadata = charge["metadata_json"]
    return ChargeData(
        id=charge["txn_id"],
        env=charge["env"],
        app_id=charge["app_id"],
        payer_merchant_id=charge["merchant_id"],
        payee_merchant_id=charge["payee_merchant_id"],
        amount_cents=charge["amount"],
        refunded_cents=0,
        description=charge["description"],
        metadata=None if metadata is None else json.loads(metadata),
        status=_status(charge["amount"], 0),
        created_at=rfc3339(charge["now"]),
        refunded_at=None,
    )


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


async def let_go_refusal(db: Database, caller: Caller, key: str) -> Outcome:
    """The refusal kept under ``key`` let go, once the charge it refused has been paid for by
    the agent (``api.charge_payments``, through ``protocols.paid``): the charge then runs under
    the key again."""
    scope = idempotency.scope_of(caller, key)
    await db.run(lambda tx: idempotency.forget(tx, **scope))
    return Outcome(Code.SUCCESS)


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
        # Both wallets first, in the order of their ids, as the charge itself takes them.
        await ledger.lock_merchants(conn, row.env, [row.payee_merchant_id, row.payer_merchant_id])
        taken = await funding.debit_merchant(
            conn, merchant_id=row.payee_merchant_id, now=now, **moved
        )
        if taken is None:  # the payee's wallet is short: nothing of the refund is kept
            raise ApiError(
                Code.INSUFFICIENT_BALANCE, "The app owner's wallet does not hold the refund"
            )
        given = await funding.credit_merchant(
            conn, merchant_id=row.payer_merchant_id, now=now, grant=None, **moved
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
                data={**charging.event_data(data.model_dump()), "refunded_cents": amount},
                now=now,
            )
    return Outcome(
        Code.SUCCESS,
        data,
        transaction_id=charge_id,
        status=data.status,
        deliveries=[*taken.delivery_ids, *given.delivery_ids, *told],
    )
