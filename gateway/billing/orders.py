"""Funding orders: checkout (Stripe, or the staging sandbox), completion and failure.

An order is credited by one conditional UPDATE (``pending`` → ``completed``) in the same
transaction as its wallet credit, ledger entry and outbox events: whichever of Stripe's events
or the sandbox's Pay button gets there first credits it; every other attempt finds nothing to do.
"""

import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..callers import Caller
from ..clock import new_id, utcnow
from ..codes import Code
from ..outcome import ApiError
from ..settings import Settings
from ..store.db import Database
from ..store.models import (
    Coupon,
    FundingOrder,
    Pack,
    table_of,
)
from . import payments
from .funding import credit_merchant
from .schemas import (
    CheckoutData,
    CheckoutRequest,
)

__all__ = [
    "MIN_CHARGE_CENTS",
    "Outcome",
    "Paid",
    "cancel_sandbox",
    "checkout",
    "complete_order",
    "fail_order",
    "pay_sandbox",
    "sandbox_order",
    "sandbox_token",
]

log = logging.getLogger(__name__)

_P = table_of(Pack)
_C = table_of(Coupon)
_O = table_of(FundingOrder)

# Stripe's smallest USD charge: a coupon may not take a price below it.
MIN_CHARGE_CENTS = 50


@dataclass(slots=True)
class Outcome:
    """What handling a payment signal did, and the deliveries to enqueue after commit."""

    outcome: str
    delivery_ids: list[str] = field(default_factory=list)


# --- checkout ---


def _discount(coupon: Any, price: int) -> int:
    if coupon.percent_off is not None:
        return int(price * coupon.percent_off // 100)
    return int(min(coupon.amount_off_cents, price))


def _check_coupon(coupon: Any, pack_id: str, price: int, now: datetime) -> int:
    """The discount in cents, or the refusal."""
    if coupon is None or not coupon.active:
        raise ApiError(Code.COUPON_NOT_FOUND)
    if coupon.expires_at is not None and coupon.expires_at <= now:
        raise ApiError(Code.COUPON_EXPIRED)
    if coupon.max_uses is not None and coupon.uses >= coupon.max_uses:
        raise ApiError(Code.COUPON_EXHAUSTED)
    if coupon.pack_id is not None and coupon.pack_id != pack_id:
        raise ApiError(Code.COUPON_NOT_APPLICABLE, "Coupon does not apply to this pack")
    discount = _discount(coupon, price)
    if price - discount < MIN_CHARGE_CENTS:
        raise ApiError(
            Code.COUPON_NOT_APPLICABLE,
            f"Coupon would take the price below {MIN_CHARGE_CENTS} cents",
        )
    return discount


async def _reserve_coupon(conn: AsyncConnection, coupon_id: str, now: datetime) -> None:
    """Take one use, if one is left: the limit holds however many checkouts race."""
    result = await conn.execute(
        update(_C)
        .where(
            _C.c.id == coupon_id,
            _C.c.active.is_(True),
            or_(_C.c.max_uses.is_(None), _C.c.uses < _C.c.max_uses),
            or_(_C.c.expires_at.is_(None), _C.c.expires_at > now),
        )
        .values(uses=_C.c.uses + 1, updated_at=now)
    )
    if result.rowcount != 1:
        raise ApiError(Code.COUPON_EXHAUSTED)


async def _release_coupon(conn: AsyncConnection, coupon_id: str | None, now: datetime) -> None:
    if coupon_id is None:
        return
    await conn.execute(
        update(_C).where(_C.c.id == coupon_id, _C.c.uses > 0).values(uses=_C.c.uses - 1)
    )


def sandbox_token(settings: Settings, order_id: str) -> str:
    """Proof that the holder was given the sandbox link; derived, so nothing extra is stored."""
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"sandbox-checkout:{order_id}".encode(), hashlib.sha256).hexdigest()


def _sandbox_url(settings: Settings, base_url: str, order_id: str) -> str:
    base = (settings.public_base_url or base_url).rstrip("/")
    token = sandbox_token(settings, order_id)
    return f"{base}/api/public/v1/billing/sandbox/checkout/{order_id}?token={token}"


async def checkout(
    db: Database, settings: Settings, caller: Caller, body: CheckoutRequest, *, base_url: str
) -> CheckoutData:
    """Staging: a sandbox link, no network. Live: a Stripe Checkout Session, created *before*
    anything is written, so a refusal or a timeout leaves no order behind."""
    now = utcnow()
    async with db.read() as conn:
        pack = (
            await conn.execute(select(_P).where(_P.c.id == body.pack_id, _P.c.active.is_(True)))
        ).first()
        if pack is None:
            raise ApiError(Code.PACK_NOT_FOUND)
        coupon = None
        discount = 0
        if body.coupon is not None:
            coupon = (
                await conn.execute(select(_C).where(_C.c.code == body.coupon.strip().upper()))
            ).first()
            discount = _check_coupon(coupon, pack.id, pack.price_cents, now)
    amount = pack.price_cents - discount
    order_id = new_id("ord")

    if caller.env == "staging":
        provider, session_id = "sandbox", None
        url = _sandbox_url(settings, base_url, order_id)
    else:
        provider = "stripe"
        session = await payments.create_session(
            settings,
            payments.SessionRequest(
                order_id=order_id,
                merchant_id=caller.merchant_id,
                pack_id=pack.id,
                pack_name=pack.name,
                credits=pack.credits,
                amount_cents=amount,
                currency=pack.currency,
                success_url=body.success_url,
                cancel_url=body.cancel_url,
            ),
        )
        session_id, url = session.id, session.url

    try:
        async with db.transaction() as conn:
            if coupon is not None:
                await _reserve_coupon(conn, coupon.id, now)
            await conn.execute(
                insert(_O).values(
                    id=order_id,
                    env=caller.env,
                    merchant_id=caller.merchant_id,
                    kind="checkout",
                    provider=provider,
                    provider_session_id=session_id,
                    checkout_url=url,
                    success_url=body.success_url,
                    cancel_url=body.cancel_url,
                    pack_id=pack.id,
                    pack_name=pack.name,
                    coupon_id=coupon.id if coupon is not None else None,
                    credits=pack.credits,
                    credit_cents=pack.credit_cents,
                    price_cents=pack.price_cents,
                    discount_cents=discount,
                    amount_cents=amount,
                    currency=pack.currency,
                    status="pending",
                    created_at=now,
                    updated_at=now,
                )
            )
    except ApiError:
        if session_id is not None:
            # Never shown to anyone, so never paid; Stripe expires it after a day.
            log.warning("checkout session %s orphaned: coupon ran out meanwhile", session_id)
        raise
    return CheckoutData(
        order_id=order_id,
        status="pending",
        provider=provider,
        checkout_url=url,
        pack_id=pack.id,
        credits=pack.credits,
        credit_cents=pack.credit_cents,
        price_cents=pack.price_cents,
        discount_cents=discount,
        amount_cents=amount,
        currency=pack.currency,
        coupon=coupon.code if coupon is not None else None,
    )


# --- completing and failing orders ---


@dataclass(frozen=True, slots=True)
class Paid:
    """What the payment provider says was paid, to be matched against the order."""

    provider: str
    session_id: str | None
    amount_cents: int | None
    currency: str | None


async def complete_order(
    conn: AsyncConnection, db: Database, order_id: str, paid: Paid, now: datetime
) -> Outcome:
    order = (await conn.execute(select(_O).where(_O.c.id == order_id))).first()
    if order is None:
        log.warning("payment for unknown order %s from %s", order_id, paid.provider)
        return Outcome("unknown_order")
    expected = (order.provider, order.provider_session_id, order.amount_cents, order.currency)
    got = (
        paid.provider,
        paid.session_id,
        paid.amount_cents,
        (paid.currency or "").upper(),
    )
    if expected != got:
        # Money may have moved: leave the order pending for an operator, credit nothing.
        log.error("payment does not match order %s: expected %s, got %s", order_id, expected, got)
        return Outcome("mismatch")
    row = (
        await conn.execute(
            update(_O)
            .where(_O.c.id == order_id, _O.c.status == "pending")
            .values(status="completed", completed_at=now, updated_at=now)
            .returning(_O.c.id)
        )
    ).first()
    if row is None:
        return Outcome("already_completed" if order.status == "completed" else "not_pending")
    moved = await credit_merchant(
        conn,
        db,
        env=order.env,
        merchant_id=order.merchant_id,
        amount=order.credit_cents,
        source="checkout",
        reference=order_id,
        memo=f"{order.pack_name} pack ({order.credits:,} credits)",
        now=now,
    )
    return Outcome("credited", moved.delivery_ids)


async def fail_order(
    conn: AsyncConnection, order_id: str, reason: str, now: datetime, *, provider: str
) -> Outcome:
    row = (
        await conn.execute(
            update(_O)
            .where(_O.c.id == order_id, _O.c.status == "pending", _O.c.provider == provider)
            .values(status="failed", failure_reason=reason, updated_at=now)
            .returning(_O.c.coupon_id)
        )
    ).first()
    if row is None:
        return Outcome("not_pending")
    await _release_coupon(conn, row.coupon_id, now)
    return Outcome("failed_order")


# --- the staging sandbox checkout ---


async def sandbox_order(db: Database, settings: Settings, order_id: str, token: str) -> Any:
    """The sandbox order the link names, if the token is the one the link was issued with."""
    if not hmac.compare_digest(sandbox_token(settings, order_id), token):
        raise ApiError(Code.ORDER_NOT_FOUND)
    async with db.read() as conn:
        order = (
            await conn.execute(select(_O).where(_O.c.id == order_id, _O.c.provider == "sandbox"))
        ).first()
    if order is None:
        raise ApiError(Code.ORDER_NOT_FOUND)
    return order


async def pay_sandbox(db: Database, settings: Settings, order_id: str, token: str) -> Outcome:
    """Pressing Pay: the same completion a paid Stripe event runs, amount and all."""
    order = await sandbox_order(db, settings, order_id, token)
    if order.status != "pending":
        raise ApiError(Code.ORDER_NOT_PAYABLE, status=order.status)
    now = utcnow()
    paid = Paid("sandbox", None, order.amount_cents, order.currency)
    async with db.transaction() as conn:
        outcome = await complete_order(conn, db, order_id, paid, now)
    if outcome.outcome != "credited":
        raise ApiError(Code.ORDER_NOT_PAYABLE)
    return outcome


async def cancel_sandbox(db: Database, settings: Settings, order_id: str, token: str) -> None:
    """Giving up on the sandbox page fails the order at once, as an expired session would."""
    order = await sandbox_order(db, settings, order_id, token)
    if order.status != "pending":
        raise ApiError(Code.ORDER_NOT_PAYABLE, status=order.status)
    async with db.transaction() as conn:
        await fail_order(conn, order_id, "checkout cancelled", utcnow(), provider="sandbox")
