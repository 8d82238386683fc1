"""An agent's payment of a 402: the presented payment's order, its charge, and its credit.

A payment verified by its protocol (``Receiver.verify``: ``protocols.mpp.challenges.verify``,
``protocols.x402.offers.verify``) becomes an order of its channel (``mpp``, ``x402``), kind
``agent``, keyed by what makes it single use (the MPP challenge's id, the x402 offer's own id):
the orders' unique provider id makes it so on both stores (a second insert fails, however many
race). The order keeps the digest of the credential that wrote it
(``credential_digest``): only that credential ever takes its money; any other presented for
the same challenge, however many race, is refused (``PAYMENT_CHALLENGE_TAKEN``) before the
provider is called, and the provider's idempotency key is the challenge's, never the token's
(``protocols.mpp.channel``), so even a second call is the same payment. A frozen environment
takes no payment: the freeze is read before the order is written, and so before any call.

Network after money: the order is written pending and committed first, then the money is taken
by the protocol's channel (``protocols.mpp.channel``, ``protocols.x402.channel``), bounded as a
whole by ``AITOPUP_PAYMENT_TIMEOUT_SECONDS``, then the order is settled by
``orders.complete_order`` as every channel's is (the wallet credited, the receipt numbered,
``order.paid`` written, reconciliation's columns noted). A payment refused fails the order. One
whose answer is lost (no answer in time, a 5xx) leaves it pending, for reconciliation to ask its
provider (``reconcile``: MPP finds its PaymentIntent by its metadata, x402 asks the settle again
with the body the order keeps), and no pending agent order is expired before its provider was
asked. The same MPP credential sent again meanwhile charges again under the same Stripe
idempotency key, so it is the same PaymentIntent; an x402 one is refused, while only the request
that wrote the order settles it inline. Of concurrent retries with one credential, one wins the
completion and only that one runs the request it paid for.
"""

import asyncio
import hmac
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from ..billing import orders
from ..billing.channels import offering as channels
from ..billing.channels import registry as providers
from ..billing.channels.registry import NoCredentials
from ..billing.orders import pricing
from ..billing.orders import states as order_states
from ..billing.orders.expiry import AGENT_KIND
from ..callers import Caller
from ..store.engine import Database
from ..store.models import FundingOrder, Wallet, table_of
from ..values.clock import new_id
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from . import registry
from .base import AgentPaid, Presented, Take

__all__ = ["AGENT", "offered", "pay", "refused_refund"]

log = logging.getLogger(__name__)

_O = table_of(FundingOrder)
_W = table_of(Wallet)

AGENT = AGENT_KIND  # the order kind
NAME = "Agent payment"


async def offered(db: Database, settings: Settings, env: str) -> frozenset[str]:
    """The protocols' channels a 402 in ``env`` offers (``mpp``: staging by default, live with
    Stripe's credentials; ``x402`` where the operator configured it), unless turned off."""
    spoken = registry.names()
    return frozenset(p.name for p in await channels.offered(db, settings, env) if p.name in spoken)


def _quote(amount: int) -> pricing.Quote:
    """A custom amount at its face value: the challenge's amount is what is charged."""
    return pricing.Quote(None, NAME, amount * 10, amount, amount, 0, 0, 0, amount, "USD")


async def _claim(
    db: Database, caller: Caller, presented: Presented, now: datetime
) -> tuple[Any, bool]:
    """The credential's order, and whether this request wrote it (else a first try did)."""
    order_id = new_id("ord")
    mine = True
    try:
        async with db.transaction() as conn:
            await conn.execute(
                insert(_O).values(
                    id=order_id,
                    env=caller.env,
                    merchant_id=caller.merchant_id,
                    kind=AGENT,
                    provider=presented.channel,
                    channel=presented.channel,
                    provider_session_id=presented.session_id,
                    provider_account="",
                    status=order_states.first(order_states.PENDING),
                    expires_at=presented.expires_at,
                    payment_payload=presented.payload,
                    credential_digest=presented.credential,
                    created_at=now,
                    updated_at=now,
                    **orders.order_prices(_quote(presented.amount_cents)),
                )
            )
    except IntegrityError:
        mine = False
    async with db.read() as conn:
        found = (
            await conn.execute(
                select(_O).where(
                    _O.c.channel == presented.channel,
                    _O.c.env == caller.env,
                    _O.c.provider_account == "",
                    _O.c.provider_session_id == presented.session_id,
                )
            )
        ).first()
    return found, mine


async def pay(
    db: Database,
    settings: Settings,
    caller: Caller,
    presented: Presented,
    take: Take,
    now: datetime,
) -> Outcome:
    """Take the presented payment and credit its order; the ``Outcome`` carries ``AgentPaid``
    and the deliveries of the credit. Refused before any call: ``ENVIRONMENT_FROZEN`` in a
    frozen environment; ``PAYMENT_CHALLENGE_TAKEN`` when another credential claimed the offer;
    ``PAYMENT_CHALLENGE_INVALID`` when it was paid already (or is being paid by a concurrent
    retry that wins), or its payment failed before. ``PAYMENT_VERIFICATION_FAILED`` when the
    provider refuses it; ``PAYMENT_PROVIDER_TIMEOUT`` when it does not answer in time (the
    order then left pending for reconciliation: the money may have moved)."""
    # What could refuse the payment before any call refuses it before its order is written:
    # an order no provider will ever be asked about would wait for reconciliation forever.
    await _not_frozen(db, caller)
    provider = providers.get(presented.channel)
    assert provider is not None
    credentials = await channels.credentials_for(db, settings, provider, caller.env)
    if credentials is None:
        if caller.env != "staging":
            raise ApiError(Code.PAYMENT_CHANNEL_NOT_CONFIGURED, data={"channel": provider.name})
        credentials = NoCredentials()
    order, mine = await _claim(db, caller, presented, now)
    if order is None or order.merchant_id != caller.merchant_id:
        raise ApiError(Code.PAYMENT_CHALLENGE_INVALID)
    claimed_by = order.credential_digest or ""
    if not mine and not hmac.compare_digest(claimed_by, presented.credential):
        raise ApiError(Code.PAYMENT_CHALLENGE_TAKEN)
    if order.status != "pending":
        raise ApiError(Code.PAYMENT_CHALLENGE_INVALID)
    if not mine and not presented.resumable:
        raise ApiError(Code.PAYMENT_CHALLENGE_INVALID)  # another try is paying it
    try:
        # The whole take, however many exchanges it makes (x402's verify, settle and its
        # settle asked again; the Stripe package's own retries), within the one bound.
        async with asyncio.timeout(settings.payment_timeout_seconds):
            async with channels.context(settings, caller.env, credentials, now=now) as ctx:
                charged = await take(ctx, order.id)
    except TimeoutError:
        log.warning("agent order %s: no answer in time; left for reconciliation", order.id)
        raise ApiError(Code.PAYMENT_PROVIDER_TIMEOUT) from None
    except ApiError as exc:
        # ``channels.context`` says a provider's refusal in the product's code, its status
        # beside: 402 is the payment refused (nothing taken); anything else leaves it unknown.
        refused = (exc.data or {}).get("provider_status") == 402
        if exc.code == Code.PAYMENT_PROVIDER_ERROR and refused:
            async with db.transaction() as conn:
                await orders.fail_order(
                    conn, order.id, "payment refused", now, provider=provider.name
                )
            raise ApiError(Code.PAYMENT_VERIFICATION_FAILED) from None
        raise
    paid = orders.Paid(provider.name, presented.session_id, charged.amount_minor, charged.currency)
    async with db.transaction() as conn:
        await orders.note_provider(conn, order.id, "succeeded", now, payment_id=charged.payment_id)
        settled = await orders.complete_order(conn, order.id, paid, now)
    if settled.result != "credited":
        raise ApiError(Code.PAYMENT_CHALLENGE_INVALID)
    done = AgentPaid(order.id, charged.payment_id, int(order.amount_cents), charged.said)
    return Outcome(Code.SUCCESS, done, deliveries=settled.deliveries)


async def _not_frozen(db: Database, caller: Caller) -> None:
    """Refused (``ENVIRONMENT_FROZEN``) when the caller's environment was frozen since it
    authenticated: the paid request would be refused after the money was taken."""
    async with db.read() as conn:
        found = await conn.execute(select(_W.c.frozen_at).where(_W.c.id == caller.wallet_id))
        frozen_at = found.scalar()
    if frozen_at is not None:
        raise ApiError(Code.ENVIRONMENT_FROZEN, data={"env": caller.env})


def refused_refund(order: Any) -> ApiError | None:
    """Why an agent's order cannot be refunded through its channel, where that is its
    protocol's doing (an x402 payment settled on chain: ``Receiver.refused_refund``). None for
    any other order."""
    if order.kind != AGENT:
        return None
    receiver = registry.get(order.channel)
    return receiver.refused_refund(order) if receiver is not None else None
