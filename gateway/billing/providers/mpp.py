"""MPP: agents paying a 402 with a Stripe Shared Payment Token, a channel of its own.

Its orders (kind ``agent``) are written by ``billing.agent_payments`` when a credential is
presented, keyed by the challenge's id (single use, by the orders' unique provider id), and
settled by the same completion every channel's orders go through. Live, the token is charged
at Stripe (a PaymentIntent with ``shared_payment_granted_token``, ``stripe_payments``) under
the process's or the saved Stripe credentials; staging charges the sandbox's own test tokens
(``sandbox_spt``), and no money moves. It has no page, takes no notification, and is
never offered for a checkout.

A refund is Stripe's, as a checkout's: ``POST /v1/refunds`` naming the order's PaymentIntent,
under the refund's own idempotency key (``admin.refunds``); staging's gives back what it never
took, made at once.
"""

import hashlib
from dataclasses import dataclass
from typing import ClassVar

from ...values.codes import Code
from ...values.marking import marked
from ...values.outcome import ApiError
from ...values.settings import Settings
from . import sandbox_spt
from . import stripe_payments as payments
from .base import (
    Charged,
    Context,
    Credentials,
    Kind,
    OrderRef,
    Provider,
    ProviderError,
    Refunded,
)
from .stripe_checkout import StripeCredentials, stripe_settings

__all__ = ["MPP", "MppProvider", "SptCharge"]

MPP = "mpp"


@dataclass(frozen=True, slots=True)
class SptCharge:
    """One charge of a Shared Payment Token for an order not yet settled."""

    order_id: str
    merchant_id: str
    challenge_id: str
    spt: str
    amount_minor: int
    currency: str  # ISO 4217, lower case as the challenge says it


class MppProvider(Provider[StripeCredentials]):
    name: ClassVar[str] = MPP
    title: ClassVar[str] = marked("Agent payments (MPP)")
    credentials: ClassVar[type[Credentials]] = StripeCredentials
    kinds: ClassVar[frozenset[Kind]] = frozenset()
    can_refund: ClassVar[bool] = True

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
            # The same token for the same challenge is the same payment, as Stripe's key makes it.
            digest = hashlib.sha256(f"{req.challenge_id}:{req.spt}".encode()).hexdigest()
            return Charged(f"pi_test_{digest[:24]}", req.amount_minor, req.currency.upper())
        settings = stripe_settings(ctx.settings, ctx.credentials)
        try:
            intent = await payments.charge_shared_payment(
                settings,
                spt=req.spt,
                amount_cents=req.amount_minor,
                currency=req.currency,
                key=f"{req.challenge_id}_{req.spt}",
                metadata={
                    "order_id": req.order_id,
                    "merchant_id": req.merchant_id,
                    "challenge_id": req.challenge_id,
                },
            )
        except ApiError as exc:
            status = (exc.data or {}).get("provider_status")
            if exc.code == Code.PAYMENT_PROVIDER_ERROR and isinstance(status, int) and status < 500:
                # Refused (declined, spent, short): no PaymentIntent took money.
                raise ProviderError("stripe refused the token", status=402) from None
            raise
        if intent.status != "succeeded":
            raise ProviderError(f"payment intent {intent.status}", status=402)
        received = intent.amount_cents if intent.amount_cents is not None else req.amount_minor
        return Charged(intent.id, received, (intent.currency or req.currency).upper())

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
