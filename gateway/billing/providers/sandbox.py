"""The staging sandbox: what every channel's hosted page is to live, without the money.

Staging pays every channel through it: a checkout through any channel opens the sandbox page
titled for that channel (``billing.sandbox``), and its Pay button is the payment itself, so it
is refused once the order has expired (``settles_late`` is false). It is never offered in live.
Its link carries a token derived from the order id, so nothing extra is stored.
"""

import hashlib
import hmac
from datetime import timedelta
from typing import ClassVar

from ...mail.links import public_base
from ...values.settings import Settings
from .base import (
    Charged,
    Context,
    NoCredentials,
    Opened,
    OrderRef,
    PaymentRequest,
    Provider,
    ProviderError,
    Refunded,
    SavedCharge,
)

__all__ = [
    "PATH",
    "SANDBOX",
    "TEST_CARDS",
    "SandboxProvider",
    "sandbox_token",
    "sandbox_url",
]

SANDBOX = "sandbox"
# The cards a staging merchant may save for auto top-up, named as Stripe's test payment
# methods are, and what charging each does: succeed, or refuse as Stripe's decline codes say.
TEST_CARDS: dict[str, tuple[str, str | None]] = {
    "pm_card_visa": ("Visa •••• 4242", None),
    "pm_card_chargeDeclined": ("Visa •••• 0002 (declines)", "card_declined"),
    "pm_card_authenticationRequired": ("Visa •••• 3155 (asks for 3DS)", "authentication_required"),
}
PATH = "/api/public/v1/billing/sandbox/checkout"


def sandbox_token(settings: Settings, order_id: str) -> str:
    """Proof that the holder was given the sandbox link; derived, so nothing extra is stored."""
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"sandbox-checkout:{order_id}".encode(), hashlib.sha256).hexdigest()


def sandbox_url(settings: Settings, order_id: str) -> str:
    return f"{public_base(settings)}{PATH}/{order_id}?token={sandbox_token(settings, order_id)}"


class SandboxProvider(Provider[NoCredentials]):
    name: ClassVar[str] = SANDBOX
    title: ClassVar[str] = "Sandbox"
    settles_late: ClassVar[bool] = False
    stands_in: ClassVar[bool] = True
    can_refund: ClassVar[bool] = True
    saves_methods: ClassVar[bool] = True

    def enabled_by_default(self, settings: Settings, env: str) -> bool:
        return env == "staging"

    async def open(self, ctx: Context[NoCredentials], req: PaymentRequest) -> Opened:
        ttl = timedelta(seconds=ctx.settings.sandbox_order_ttl_seconds)
        return Opened(sandbox_url(ctx.settings, req.order_id), None, ctx.now + ttl)

    async def refund(
        self, ctx: Context[NoCredentials], order: OrderRef, amount_minor: int
    ) -> Refunded:
        # No money moved, so none goes back: refunded at once, its id the same for the same ask.
        return Refunded(f"sandbox_re_{order.order_id}_{order.refunded_minor}", "succeeded")

    async def charge_saved(self, ctx: Context[NoCredentials], req: SavedCharge) -> Charged:
        # No money moves; the card saved says whether the charge succeeds, so a tester can
        # make auto top-up fail (``TEST_CARDS``).
        _, refusal = TEST_CARDS.get(req.payment_method, ("", "card_declined"))
        if refusal is not None:
            raise ProviderError(f"sandbox card refused: {refusal}", status=402, code=refusal)
        return Charged(f"pi_sandbox_{req.key}", req.amount_minor, req.currency)
