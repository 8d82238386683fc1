"""An agent's payment taken but not credited: found at its provider by its metadata, then
credited or given back, once.

A PaymentIntent that took an agent's money names its order, its challenge and its channel in
its metadata (``protocols.mpp.channel``). Reconciliation asks about each pending agent order
from the order's side; this sweep looks from the provider's, at every payment of the channel that
succeeded within ``WINDOW``:

- its order pending here: left to reconciliation, which asks about it when it is due
  (``reconcile.due``), so a payment whose request is still crediting it is never raced;
- its order expired here: that order's payment, settled by reconciliation's own check
  (credited once, late, as a channel that settles late may be);
- its order credited by it: nothing to do;
- its order failed here, or credited by another payment: taken for nothing, so refunded in
  full under the idempotency key ``mpp-unclaimed:<payment>``, and asking again is the same
  refund. ``WINDOW`` is within the 24 hours Stripe keeps a key, so a sweep never makes a second
  one; the wallet is not touched, as it was never credited;
- no order of this gateway's: logged for the operator and left alone. Every order is written
  before its charge, so such a payment is another deployment's on the same Stripe account (a
  second gateway, a restored database), never this one's to give back.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from ...billing.channels import offering as channels
from ...billing.channels import registry as providers
from ...billing.settling import reconcile
from ...store.engine import Database
from ...store.models import FundingOrder, table_of
from ...values.clock import utcnow
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from ...values.settings import Settings
from .channel import MPP, MppProvider, Taken

__all__ = ["WINDOW", "sweep"]

log = logging.getLogger(__name__)

_O = table_of(FundingOrder)

# How far back the provider is asked: within Stripe's 24 hours of idempotency, and wider than
# any order's wait for reconciliation.
WINDOW = timedelta(hours=20)
REFUNDED = "refunded"


async def sweep(db: Database, settings: Settings, *, now: datetime | None = None) -> list[Outcome]:
    """The worker's look at the agent payments taken in live within ``WINDOW``: the outcomes
    of those credited (with the deliveries to wake the workers for) and of those refunded."""
    now = now or utcnow()
    provider = providers.get(MPP)
    assert isinstance(provider, MppProvider)
    env = "live"  # staging's payments move no money
    credentials = await channels.credentials_for(db, settings, provider, env)
    if credentials is None:
        return []
    try:
        async with channels.context(settings, env, credentials, now=now) as ctx:
            taken = await provider.taken_since(ctx, now - WINDOW)
    except ApiError as exc:
        log.warning("agent payments not looked for: %s", exc.code.name)
        return []
    done: list[Outcome] = []
    for payment in taken:
        try:
            found = await _settle(db, settings, provider, credentials, payment, now)
        except ApiError as exc:
            log.warning("agent payment %s not settled: %s", payment.payment_id, exc.code.name)
            continue
        if found is not None:
            done.append(found)
    return done


async def _settle(
    db: Database,
    settings: Settings,
    provider: MppProvider,
    credentials: Any,
    payment: Taken,
    now: datetime,
) -> Outcome | None:
    async with db.read() as conn:
        order = (
            await conn.execute(
                select(_O).where(
                    _O.c.id == payment.order_id, _O.c.channel == MPP, _O.c.env == "live"
                )
            )
        ).first()
    if order is None:
        log.error(
            "agent payment %s names order %s, not this gateway's: left to the operator",
            payment.payment_id,
            payment.order_id,
        )
        return None
    if order.provider_session_id == payment.challenge_id:
        if order.status == "pending":
            return None
        if order.status == "expired":
            checked = await reconcile.check(db, settings, order.id, pending_only=False, now=now)
            return checked.outcome()
        if order.status == "completed" and order.provider_payment_id == payment.payment_id:
            return None
    ref = providers.OrderRef(
        order_id=payment.order_id,
        merchant_id=str(order.merchant_id),
        env="live",
        kind="checkout",
        session_id=payment.challenge_id,
        payment_id=payment.payment_id,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        created_at=now,
        refund_key=f"mpp-unclaimed:{payment.payment_id}",
    )
    async with channels.context(settings, "live", credentials, now=now) as ctx:
        refunded = await provider.refund(ctx, ref, payment.amount_minor)
    log.error(
        "agent payment %s (order %s) was taken but not credited: refunded as %s",
        payment.payment_id,
        payment.order_id,
        refunded.refund_id,
    )
    data = {"payment_id": payment.payment_id, "order_id": payment.order_id, "result": REFUNDED}
    return Outcome(Code.SUCCESS, data)
