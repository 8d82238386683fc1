"""Settling an order: one conditional UPDATE of its status (``pending`` → ``completed``,
``failed`` or ``expired``) in the same transaction as what follows from it: the wallet credit,
ledger entry and outbox events, or the coupon use given back. Of a payment, a cancel, a
provider's report and the expiry sweep racing for one order, exactly one finds it pending; every
other finds nothing to do and says what the order became.

Every channel's payment ends in ``complete_order``, whoever reports it (a notification, a
Stripe event, the payer's return, a check, the reconciliation sweep, the sandbox's Pay): the
winner of that UPDATE credits the wallet (``wallet.credited``), numbers the receipt and writes
``order.paid``, so each happens once per order, or not at all if the transaction rolls back.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ... import outbox
from ...ledger import grants
from ...store.models import FundingOrder, table_of
from ...values import memos
from ...values.clock import rfc3339
from .. import receipts
from ..channels import registry
from ..wallet.funding import credit_merchant
from . import states
from .coupons import follow_move
from .expiry import expire

__all__ = [
    "PAID",
    "Paid",
    "Settlement",
    "complete_order",
    "fail_order",
    "lost",
    "note_provider",
    "order_memo",
    "payment_matches",
]

log = logging.getLogger(__name__)

_O = table_of(FundingOrder)

PAID = states.PAID


@dataclass(slots=True)
class Settlement:
    """What handling a payment signal did to an order, inside the caller's transaction: the
    result (recorded against a Stripe event), the order's status after it (when it was read),
    and the deliveries the operation's ``Outcome`` carries to wake the workers for after commit."""

    result: str
    deliveries: list[str] = field(default_factory=list)
    order_status: str | None = None


def order_memo(order: Any) -> str:
    """The ledger's words for a paid order, the same on every path that pays one."""
    template = memos.ORDER if order.pack_id is None else memos.ORDER_OF_PACK
    return memos.written(template, name=order.pack_name, credits=f"{order.credits:,}")


@dataclass(frozen=True, slots=True)
class Paid:
    """What the payment provider says was paid, to be matched against the order."""

    provider: str
    session_id: str | None
    amount_cents: int | None
    currency: str | None


def _matched(order: Any, paid: Paid) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """What the order charged and what the provider says was paid, side by side: the one rule
    a payment must meet before anything is credited."""
    expected = (
        order.provider,
        order.provider_session_id,
        order.charge_minor if order.charge_minor is not None else order.amount_cents,
        order.charge_currency or order.currency,
    )
    got = (paid.provider, paid.session_id, paid.amount_cents, (paid.currency or "").upper())
    return expected, got


async def payment_matches(conn: AsyncConnection, order_id: str, paid: Paid) -> bool:
    """Whether ``paid`` meets ``complete_order``'s rule for ``order_id`` (an unknown order
    matches, for ``complete_order`` to say so)."""
    order = (await conn.execute(select(_O).where(_O.c.id == order_id))).first()
    if order is None:
        return True
    expected, got = _matched(order, paid)
    return expected == got


def _payable(now: datetime) -> ColumnElement[bool]:
    return or_(_O.c.expires_at.is_(None), _O.c.expires_at > now)


async def _move(
    conn: AsyncConnection,
    order_id: str,
    source: str,
    target: str,
    now: datetime,
    *won: ColumnElement[bool],
    **values: Any,
) -> Any:
    """The one conditional UPDATE that settles an order (``states.move``): the row if it
    was in ``source`` and ``won`` held, else None."""
    rows = await states.move(
        conn,
        source,
        target,
        now,
        _O.c.id == order_id,
        *won,
        values=values,
        returning=(_O.c.coupon_id, _O.c.env),
    )
    return rows[0] if rows else None


async def lost(conn: AsyncConnection, order_id: str, now: datetime) -> Settlement:
    """Another settled the order first, or it can no longer be paid: expire it if it is due,
    and say what it is now."""
    if await expire(conn, now, order_id=order_id):
        return Settlement("expired", order_status="expired")
    status = (await conn.execute(select(_O.c.status).where(_O.c.id == order_id))).scalar_one()
    return Settlement(
        "already_completed" if status == "completed" else "not_pending", order_status=status
    )


async def complete_order(
    conn: AsyncConnection, order_id: str, paid: Paid, now: datetime
) -> Settlement:
    """Settle ``order_id`` as paid by what the provider says (``paid``), in the caller's
    transaction: if it matches what the order charged and the order is pending (or expired, for
    a provider that ``settles_late``), the wallet credited, the receipt numbered and
    ``order.paid`` written; otherwise nothing credited, and the settlement says why."""
    order = (await conn.execute(select(_O).where(_O.c.id == order_id))).first()
    if order is None:
        log.warning("payment for unknown order %s from %s", order_id, paid.provider)
        return Settlement("unknown_order")
    expected, got = _matched(order, paid)
    if expected != got:
        # Money may have moved: leave the order pending for an operator, credit nothing.
        log.error("payment does not match order %s: expected %s, got %s", order_id, expected, got)
        return Settlement("mismatch")
    found = registry.get(paid.provider)
    late = found is not None and found.settles_late
    # Pressing Pay is the payment itself (the sandbox): not once the order has expired.
    won = [] if late else [_payable(now)]
    t = states.transition(states.PENDING, states.COMPLETED)
    row = await _move(conn, order_id, t.source, t.target, now, *won, completed_at=now)
    if row is None and late:
        # The provider took the payment while its page was open; its report came after the
        # order expired here. The payer paid: credit it, and take its coupon use again.
        t = states.transition(states.EXPIRED, states.COMPLETED)
        row = await _move(
            conn, order_id, t.source, t.target, now, completed_at=now, failure_reason=None
        )
        if row is not None:
            log.warning("order %s paid before its session expired; credited late", order_id)
            await follow_move(conn, t, [row])
    if row is None:
        return await lost(conn, order_id, now)
    moved = await credit_merchant(
        conn,
        env=order.env,
        merchant_id=order.merchant_id,
        amount=order.credit_cents,
        source="checkout",
        reference=order_id,
        memo=order_memo(order),
        now=now,
        grant=grants.PAID,
    )
    # Numbered as it is paid, in this transaction: a payment rolled back takes its number back.
    issued = await receipts.issue(
        conn, env=order.env, merchant_id=order.merchant_id, reference=order_id, now=now
    )
    told = await outbox.emit(
        conn,
        env=order.env,
        merchant_id=order.merchant_id,
        type_=PAID,
        data=_paid_data(order, issued, now),
        now=now,
    )
    return Settlement("credited", [*moved.delivery_ids, *told], "completed")


def _paid_data(order: Any, issued: receipts.Issued, now: datetime) -> dict[str, Any]:
    """``order.paid``'s body: the order as ``GET /orders/{id}`` names its fields, its receipt."""
    return {
        "order_id": order.id,
        "env": order.env,
        "kind": order.kind,
        "provider": order.provider,
        "channel": order.channel,
        "pack_id": order.pack_id,
        "credits": order.credits,
        "credit_cents": order.credit_cents,
        "amount_cents": order.amount_cents,
        "currency": order.currency,
        "charge_minor": order.charge_minor,
        "charge_currency": order.charge_currency,
        "charge_rate": order.charge_rate,
        "receipt_number": issued.text,
        "paid_at": rfc3339(now),
    }


async def fail_order(
    conn: AsyncConnection,
    order_id: str,
    reason: str,
    now: datetime,
    *,
    provider: str,
    status: str = "failed",
    payable_at: datetime | None = None,
) -> Settlement:
    """Move a pending order to ``status`` (``failed`` or ``expired``) and give its coupon use
    back; with ``payable_at``, only if it could still be paid then."""
    t = states.transition(states.PENDING, status)
    won = [_O.c.provider == provider]
    if payable_at is not None:
        won.append(_payable(payable_at))
    row = await _move(conn, order_id, t.source, t.target, now, *won, failure_reason=reason)
    if row is None:
        return Settlement("not_pending")
    await follow_move(conn, t, [row])
    return Settlement(f"{status}_order", order_status=status)


async def note_provider(
    conn: AsyncConnection,
    order_id: str,
    state: str,
    now: datetime,
    *,
    payment_id: str | None = None,
) -> None:
    """What the provider last said of the order (``payments.State``), and when: kept so an
    operator can list orders whose state there and here differ."""
    values: dict[str, Any] = {"provider_status": state, "checked_at": now}
    if payment_id is not None:
        values["provider_payment_id"] = payment_id[:255]
    await conn.execute(update(_O).where(_O.c.id == order_id).values(**values))
