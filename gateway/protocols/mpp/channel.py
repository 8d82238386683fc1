"""MPP: agents paying a 402 with a Stripe Shared Payment Token, a channel of its own.

Its orders (kind ``agent``) are written by ``protocols.orders`` when a credential is
presented, keyed by the challenge's id (single use, by the orders' unique provider id), and
settled by the same completion every channel's orders go through. Live, the token is charged
at Stripe (a PaymentIntent with ``shared_payment_granted_token``,
``billing.channels.providers.stripe_orders``) under the process's or the saved Stripe
credentials; staging charges the sandbox's own test tokens (``sandbox_spt``), and no money
moves. It has no page, takes no notification, and is
never offered for a checkout.

The PaymentIntent's idempotency key is the challenge's (``mpp:<challenge id>``), whatever token
pays it: one challenge is one PaymentIntent at most, however often it is charged. Its metadata
names the order, the merchant, the challenge and the channel, so reconciliation finds it
(``look_up``: Stripe's search by ``metadata['challenge_id']``) when the charge's answer was
lost: succeeded credits the order once; refused fails it; none found, once search has had
time to index it (``SEARCH_LAG``), means no money moved. Search is eventually consistent, so
until then the look-up says it does not know, and the order waits.

A refund is Stripe's, as a checkout's: ``POST /v1/refunds`` naming the order's PaymentIntent,
under the refund's own idempotency key (``admin.refunds``); staging's gives back what it never
took, made at once.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from ...billing.channels.providers import stripe_orders as payments
from ...billing.channels.providers.base import Context, Provider
from ...billing.channels.providers.credentials import Credentials
from ...billing.channels.providers.errors import ProviderError
from ...billing.channels.providers.messages import Charged, Kind, Looked, OrderRef, Refunded
from ...billing.channels.providers.stripe_checkout import StripeCredentials, stripe_settings
from ...values.code_names import Code
from ...values.marking import marked
from ...values.outcome import ApiError
from ...values.settings import Settings
from . import sandbox_spt, stripe_shared

__all__ = ["MPP", "SEARCH_LAG", "MppProvider", "SptCharge", "Taken", "idempotency_key"]

MPP = "mpp"
# How long Stripe's search may take to index a PaymentIntent ("less than a minute" under normal
# operation, its documentation says), with the charge's own bound on top: past it, a challenge
# that search does not find was never charged.
SEARCH_LAG = timedelta(minutes=2)
# A PaymentIntent's statuses that say the money did not move and will not.
_REFUSED = frozenset({"requires_payment_method", "canceled"})
# The most pages of 100 one look for payments taken reads.
TAKEN_PAGES = 10


def idempotency_key(challenge_id: str) -> str:
    """Stripe's idempotency key for a challenge's charge: the thing paid for, never the token
    presented, so a second token for one challenge cannot be a second PaymentIntent."""
    return f"mpp:{challenge_id}"


@dataclass(frozen=True, slots=True)
class SptCharge:
    """One charge of a Shared Payment Token for an order not yet settled."""

    order_id: str
    merchant_id: str
    challenge_id: str
    spt: str
    amount_minor: int
    currency: str  # ISO 4217, lower case as the challenge says it


@dataclass(frozen=True, slots=True)
class Taken:
    """A PaymentIntent that took an agent's money, as its metadata names it."""

    payment_id: str
    order_id: str
    challenge_id: str
    amount_minor: int
    currency: str  # ISO 4217, upper case


class MppProvider(Provider[StripeCredentials]):
    name: ClassVar[str] = MPP
    title: ClassVar[str] = marked("Agent payments (MPP)")
    credentials: ClassVar[type[Credentials]] = StripeCredentials
    kinds: ClassVar[frozenset[Kind]] = frozenset()
    can_refund: ClassVar[bool] = True
    can_look_up: ClassVar[bool] = True

    def default_credentials(self, settings: Settings, env: str) -> StripeCredentials | None:
        if settings.stripe_secret_key is None:
            return None
        return StripeCredentials(
            secret_key=settings.stripe_secret_key,
            webhook_secret=settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
        )

    def enabled_by_default(self, settings: Settings, env: str) -> bool:
        return env == "staging" or settings.stripe_secret_key is not None

    async def charge(self, ctx: Context[StripeCredentials], req: SptCharge) -> Charged:
        """Take the payment, or raise ``ProviderError`` (refused: ``status`` set) or
        ``ApiError`` (Stripe unreachable or silent: the outcome is not known)."""
        if ctx.env == "staging":
            try:
                sandbox_spt.check(
                    ctx.settings, req.spt, req.merchant_id, req.amount_minor, req.currency
                )
            except sandbox_spt.SptRefused as exc:
                raise ProviderError(str(exc), status=402, code="spt_refused") from None
            # The same challenge is the same payment, as Stripe's key makes it.
            digest = hashlib.sha256(idempotency_key(req.challenge_id).encode()).hexdigest()
            return Charged(f"pi_test_{digest[:24]}", req.amount_minor, req.currency.upper())
        settings = stripe_settings(ctx.settings, ctx.credentials)
        try:
            intent = await stripe_shared.charge_shared_payment(
                settings,
                spt=req.spt,
                amount_cents=req.amount_minor,
                currency=req.currency,
                key=idempotency_key(req.challenge_id),
                metadata={
                    "order_id": req.order_id,
                    "merchant_id": req.merchant_id,
                    "challenge_id": req.challenge_id,
                    "channel": MPP,
                },
            )
        except ApiError as exc:
            status = (exc.data or {}).get("provider_status")
            if exc.code == Code.PAYMENT_PROVIDER_ERROR and _refused(status):
                # Refused (declined, spent, short): no PaymentIntent took money.
                raise ProviderError("stripe refused the token", status=402) from None
            raise
        if intent.status != "succeeded":
            raise ProviderError(f"payment intent {intent.status}", status=402)
        received = intent.amount_cents if intent.amount_cents is not None else req.amount_minor
        return Charged(intent.id, received, (intent.currency or req.currency).upper())

    async def look_up(self, ctx: Context[StripeCredentials], order: OrderRef) -> Looked:
        """The order's PaymentIntent, found by its challenge in the metadata (``SEARCH_LAG``
        says when none found means none made); staging's charges move no money, so a staging
        order is open until it expires."""
        none = Looked("open", "no payment", order.session_id, None, None, None)
        if ctx.env == "staging" or order.session_id is None:
            return none
        settings = stripe_settings(ctx.settings, ctx.credentials)
        query = f"metadata['challenge_id']:'{_quoted(order.session_id)}'"
        found = [
            f.intent for f in await stripe_shared.search_payment_intents(settings, query, pages=1)
        ]
        paid = [i for i in found if i.status == "succeeded"]
        if paid:
            intent = paid[0]
            currency = (intent.currency or order.currency).upper()
            received = intent.amount_cents if intent.amount_cents is not None else 0
            return Looked("paid", "succeeded", order.session_id, intent.id, received, currency)
        if found and all(i.status in _REFUSED for i in found):
            return Looked("failed", found[0].status[:40], order.session_id, found[0].id, None, None)
        if found:
            # Processing or awaiting the payer: money may be on its way.
            return Looked("unpaid", found[0].status[:40], order.session_id, None, None, None)
        if ctx.now - order.created_at < SEARCH_LAG:
            raise ProviderError("stripe's search may not show the payment yet")
        return none

    async def taken_since(self, ctx: Context[StripeCredentials], since: datetime) -> list[Taken]:
        """Every PaymentIntent of this channel that succeeded since ``since``, found by its
        metadata (none in staging, where no money moves)."""
        if ctx.env == "staging":
            return []
        settings = stripe_settings(ctx.settings, ctx.credentials)
        query = (
            f"metadata['channel']:'{MPP}' AND status:'succeeded' "
            f"AND created>{int(since.timestamp())}"
        )
        found = await stripe_shared.search_payment_intents(settings, query, pages=TAKEN_PAGES)
        return [
            Taken(
                f.intent.id,
                f.metadata.get("order_id", ""),
                f.metadata.get("challenge_id", ""),
                f.intent.amount_cents or 0,
                (f.intent.currency or "usd").upper(),
            )
            for f in found
        ]

    async def refund(
        self, ctx: Context[StripeCredentials], order: OrderRef, amount_minor: int
    ) -> Refunded:
        if order.payment_id is None:
            raise ProviderError("no payment to refund")
        key = order.refund_key or f"refund:{order.order_id}:{order.refunded_minor}:{amount_minor}"
        if ctx.env == "staging":
            # No money moved, so none goes back: made at once, the same id for the same ask.
            digest = hashlib.sha256(key.encode()).hexdigest()
            return Refunded(f"re_test_{digest[:24]}", "succeeded")
        settings = stripe_settings(ctx.settings, ctx.credentials)
        refund_id, status = await payments.create_refund(
            settings, order.payment_id, amount_minor, key
        )
        return Refunded(refund_id, status)


def _refused(status: object) -> bool:
    """Whether Stripe's status says the charge was refused and nothing taken: a 4xx, but a
    409 (another request with the same key is in flight) and a 429 (slow down), which say
    nothing of the payment."""
    return isinstance(status, int) and status < 500 and status not in (409, 429)


def _quoted(value: str) -> str:
    """``value`` inside single quotes of Stripe's search query language."""
    return value.replace("\\", "\\\\").replace("'", "\\'")
