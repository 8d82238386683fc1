"""Looking again: a pending order is looked up at its provider and settled by what it says.

A provider's notification may be lost, misrouted or late; then nothing would ever credit a paid
order. So the order is looked up (``Provider.look_up``: Stripe's Checkout Session and its
PaymentIntent, or the invoice; any channel's order status) when the payer returns from
checkout, when the merchant or an operator asks ("check payment"), and by the worker's sweep of
pending orders older than ``AITOPUP_RECONCILE_AFTER_SECONDS``, for every provider that can look
up (``can_look_up``).

An order whose money may have moved is never expired before its provider is asked: the expiry
sweep leaves an agent's order alone (``orders.expire``), and this sweep asks about one as soon
as it is past its expiry, whatever its age; only the provider's answer expires it (it says
the payment expired, or that it is still open while the order can no longer be paid). A
checkout's order is expired by the sweep when its page closes (its coupon's use is then given
back at once), and this sweep asks its provider once more after that, within ``LATE_WINDOW``:
a payment made before the page closed whose notification never came is credited, late, once.

Network first, then money: the provider is asked outside any transaction, and what it said is
applied in one, by the very functions the notifications use (``orders.complete_order`` and its
conditional UPDATE of the status), so whichever of the notification, the return, the button and
the sweep gets there first credits the order, and every other finds it completed and credits
nothing.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ...store.engine import Database
from ...store.models import FundingOrder, table_of
from ...values.clock import utcnow
from ...values.code_names import Code
from ...values.outcome import ApiError, OffsetMeta, Outcome
from ...values.settings import Settings
from ..channels import offering, registry
from ..orders import Paid, Settlement, complete_order, fail_order, hold_open, note_provider
from ..orders.expiry import AGENT_KIND
from ..orders.reads import order_data, orders_select

__all__ = [
    "Checked",
    "check",
    "check_payment",
    "differs",
    "due",
    "mismatched",
    "order_of_session",
    "sweep",
]

log = logging.getLogger(__name__)

_O = table_of(FundingOrder)

FAILED_REASON = "payment failed"
EXPIRED_REASON = "checkout expired"
# How long after its expiry an order expired unasked is still asked once about its payment.
LATE_WINDOW = timedelta(days=1)
# What the sweep looks at: pending orders, and expired ones not asked since they expired.
SWEPT = ("pending", "expired")


@dataclass(frozen=True, slots=True)
class Checked:
    """What a look at the provider found and did: ``looked`` is None when the order was not
    looked up (not a Stripe order, or settled here already and the caller only asked for
    pending ones)."""

    order_id: str
    looked: registry.Looked | None
    settlement: Settlement

    def outcome(self) -> Outcome:
        return Outcome(
            Code.PAYMENT_CHECKED,
            {
                "order_id": self.order_id,
                "provider_state": None if self.looked is None else self.looked.state,
                "result": self.settlement.result,
            },
            status=self.settlement.order_status,
            deliveries=self.settlement.deliveries,
        )


async def _apply(
    conn: AsyncConnection, order: Any, looked: registry.Looked, now: datetime
) -> Settlement:
    provider = order.provider
    if looked.state == "paid":
        paid = Paid(provider, looked.session_id, looked.amount_minor, looked.currency)
        return await complete_order(conn, order.id, paid, now)
    if looked.state == "expired":
        return await fail_order(
            conn, order.id, EXPIRED_REASON, now, provider=provider, status="expired"
        )
    if looked.state == "failed":
        return await fail_order(conn, order.id, FAILED_REASON, now, provider=provider)
    if looked.state == "unpaid":
        await hold_open(conn, order.id, order.provider_session_id, provider=provider)
        return Settlement("awaiting_payment", order_status=order.status)
    if order.expires_at is not None and order.expires_at <= now:
        # Open at the provider, and no longer payable here: expired now that it was asked.
        return await fail_order(
            conn, order.id, EXPIRED_REASON, now, provider=provider, status="expired"
        )
    return Settlement("open", order_status=order.status)


def order_ref(order: Any) -> registry.OrderRef:
    """What a provider is told of an order: what was charged, in its currency if it has one."""
    charged = order.charge_minor is not None
    return registry.OrderRef(
        order_id=order.id,
        merchant_id=order.merchant_id,
        env=order.env,
        kind="invoice" if order.kind == "invoice" else "checkout",
        session_id=order.provider_session_id,
        payment_id=order.provider_payment_id,
        amount_minor=order.charge_minor if charged else order.amount_cents,
        currency=order.charge_currency if charged else order.currency,
        created_at=order.created_at,
        payload=getattr(order, "payment_payload", None),
    )


async def _look_up(
    db: Database,
    settings: Settings,
    provider: registry.Provider[Any],
    order: Any,
    now: datetime,
) -> registry.Looked | None:
    """What ``provider`` says of ``order`` now; None when it cannot say (``NotSupported``)."""
    credentials = await offering.credentials_for(db, settings, provider, order.env)
    if credentials is None:
        raise ApiError(Code.PAYMENT_CHANNEL_NOT_CONFIGURED, data={"channel": provider.name})
    async with offering.context(settings, order.env, credentials, now=now) as ctx:
        try:
            return await provider.look_up(ctx, order_ref(order))
        except registry.NotSupported:
            return None


async def check(
    db: Database,
    settings: Settings,
    order_id: str,
    *,
    merchant_id: str | None = None,
    env: str | None = None,
    pending_only: bool = True,
    now: datetime | None = None,
    looking_at: tuple[str, ...] = ("pending",),
) -> Checked:
    """Look the order up at its provider and settle it by the answer. ``merchant_id`` and ``env``
    (a merchant's call) confine it to that merchant's orders in that env; an operator's
    (``pending_only=False``) looks up a settled order too, to record what Stripe says of it;
    otherwise only an order in ``looking_at`` is looked up."""
    stmt = select(_O).where(_O.c.id == order_id)
    if merchant_id is not None:
        stmt = stmt.where(_O.c.merchant_id == merchant_id, _O.c.env == env)
    async with db.read() as conn:
        order = (await conn.execute(stmt)).first()
    if order is None:
        raise ApiError(Code.ORDER_NOT_FOUND)
    provider = registry.for_order(order)
    unchecked = Checked(order_id, None, Settlement("not_checked", order_status=order.status))
    if (
        provider is None
        or not provider.can_look_up
        or (pending_only and order.status not in looking_at)
    ):
        return unchecked
    now = now or utcnow()
    looked = await _look_up(db, settings, provider, order, now)
    if looked is None:
        return unchecked
    async with db.transaction() as conn:
        settled = await _apply(conn, order, looked, now)
        await note_provider(conn, order_id, looked.state, now, payment_id=looked.payment_id)
        if settled.order_status is None:
            status = await conn.execute(select(_O.c.status).where(_O.c.id == order_id))
            settled.order_status = status.scalar_one()
    if settled.result == "mismatch":
        log.error("order %s: the provider's payment does not match the order", order_id)
    return Checked(order_id, looked, settled)


async def check_payment(
    db: Database,
    settings: Settings,
    order_id: str,
    *,
    merchant_id: str | None = None,
    env: str | None = None,
    pending_only: bool = True,
) -> Outcome:
    """ "Check payment", for every door: the check, and the order as it is after it."""
    found = await check(
        db, settings, order_id, merchant_id=merchant_id, env=env, pending_only=pending_only
    )
    async with db.read() as conn:
        row = (await conn.execute(orders_select().where(_O.c.id == order_id))).one()
    done = found.outcome()
    done.data["order"] = order_data(row).model_dump()
    return done


def differs() -> ColumnElement[bool]:
    """Orders whose state at the provider and here disagree: it says paid and ours is not
    completed (a payment not credited: its amount did not match, or it failed or expired here),
    or ours is completed and the provider says it is not paid."""
    return or_(
        and_(_O.c.provider_status == "paid", _O.c.status != "completed"),
        and_(
            _O.c.status == "completed",
            _O.c.provider_status.in_(("open", "unpaid", "expired", "failed")),
        ),
    )


async def mismatched(db: Database, *, limit: int, offset: int) -> Outcome:
    """Every merchant's orders that differ from the provider, newest first, and how many."""
    async with db.read() as conn:
        total = (await conn.execute(select(func.count()).where(differs()))).scalar_one()
        rows = await conn.execute(
            orders_select().where(differs()).order_by(_O.c.id.desc()).limit(limit).offset(offset)
        )
        items = [order_data(r) for r in rows]
    meta = OffsetMeta.of(limit, offset, len(items), int(total))
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())


async def order_of_session(db: Database, session_id: str) -> Any:
    """The Stripe order of a Checkout Session (the payer's return names only the session)."""
    async with db.read() as conn:
        order = (
            await conn.execute(
                select(_O).where(
                    _O.c.provider == registry.STRIPE, _O.c.provider_session_id == session_id
                )
            )
        ).first()
    if order is None:
        raise ApiError(Code.ORDER_NOT_FOUND)
    return order


async def due(db: Database, settings: Settings, now: datetime) -> list[str]:
    """Pending orders of providers that can look up, older than the setting (an agent's: or
    past its expiry, which only its provider's answer makes), and orders expired within
    ``LATE_WINDOW`` whose provider was not asked since they expired; those looked at longest
    ago first."""
    before = now - timedelta(seconds=settings.reconcile_after_seconds)
    lookers = [p.name for p in registry.all_providers() if p.can_look_up]
    pending = and_(
        _O.c.status == "pending",
        or_(_O.c.created_at <= before, and_(_O.c.kind == AGENT_KIND, _O.c.expires_at <= now)),
    )
    # Expired by the sweep, its provider not asked since: asked once (its answer stamps it).
    expired_unasked = and_(
        _O.c.status == "expired",
        _O.c.expires_at > now - LATE_WINDOW,
        or_(_O.c.checked_at.is_(None), _O.c.checked_at < _O.c.expires_at),
    )
    stmt = (
        select(_O.c.id)
        .where(_O.c.provider.in_(lookers), or_(pending, expired_unasked))
        .order_by(_O.c.checked_at.is_not(None), _O.c.checked_at, _O.c.created_at)
        .limit(settings.reconcile_batch)
    )
    async with db.read() as conn:
        return list((await conn.execute(stmt)).scalars())


async def sweep(db: Database, settings: Settings, *, now: datetime | None = None) -> list[Outcome]:
    """The worker's look at every due order; an order its provider will not answer for waits
    for the next sweep. The outcomes carry the deliveries to wake the workers for."""
    now = now or utcnow()
    done: list[Outcome] = []
    for order_id in await due(db, settings, now):
        try:
            checked = await check(db, settings, order_id, now=now, looking_at=SWEPT)
            done.append(checked.outcome())
        except ApiError as exc:
            log.warning("order %s not reconciled: %s", order_id, exc.code.name)
    return done
