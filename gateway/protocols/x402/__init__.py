"""x402 v2, the ``exact`` scheme on chain: both halves.

Offered over REST only, where the operator set the environment's terms (``offers.terms``): a
refusal for funds carries ``PAYMENT-REQUIRED`` (``offers``); a retry presents a
``PAYMENT-SIGNATURE`` whose authorization the channel verifies and settles at the operator's
facilitator (``channel``), once per offer; the settlement goes back in ``PAYMENT-RESPONSE``.
A payment settled on chain is not taken back through the channel (``refused_refund``).
``make run`` starts a facilitator for staging beside the gateway (``companion``).

The paying half (``payer``): an agent's wallet signing the ``exact`` scheme's EIP-3009
authorization for another seller's offer, and asking the chain whether it was used (``chain``).
"""

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from x402.schemas.responses import SettleResponse

from ...billing.channels.registry import Charged, Context, Provider
from ...billing.orders.expiry import AGENT_KIND
from ...values.code_names import Code
from ...values.outcome import ApiError
from ...values.public_base import public_base
from ...values.settings import Settings
from ..base import AgentPaid, Ask, Companion, Payer, Presented, Receiver, Verified, digest
from . import offers
from .channel import X402, X402Provider, X402Settlement

if TYPE_CHECKING:
    from ...ops.routing import HeaderDoc

__all__ = ["SEND_PATH", "X402", "X402Receiver"]

# The resource an offer names: the send's path, under the public base URL.
SEND_PATH = "/api/public/v1/topup/send"


class X402Receiver(Receiver):
    name: ClassVar[str] = X402

    def __init__(self) -> None:
        self._channel = X402Provider()

    def channel(self) -> Provider[Any]:
        return self._channel

    def offer(self, settings: Settings, ask: Ask) -> str | None:
        """``PAYMENT-REQUIRED``'s value, over REST where the operator enabled x402."""
        if ask.transport != "http" or not offers.enabled(settings, ask.env):
            return None
        need = offers.requirement(
            settings,
            merchant_id=ask.merchant_id,
            env=ask.env,
            amount_cents=ask.amount_cents,
            now=ask.now,
        )
        return offers.offer_header(need, public_base(settings) + SEND_PATH)

    def offer_headers(self, offer: str) -> dict[str, str]:
        return {offers.PAYMENT_REQUIRED_HEADER: offer}

    def credential_in_headers(self, headers: Mapping[str, str]) -> str | None:
        return headers.get(offers.PAYMENT_SIGNATURE_HEADER)

    def headers(self) -> "list[HeaderDoc]":
        from ...ops.routing import HeaderDoc

        return [
            HeaderDoc(
                offers.PAYMENT_SIGNATURE_HEADER,
                "x402: the payment payload (base64 JSON) that pays this request's offer.",
                "request",
            ),
            HeaderDoc(
                offers.PAYMENT_REQUIRED_HEADER,
                (
                    "x402 v2: the offer (base64 JSON of the payment requirements), where x402 is "
                    "enabled; retry the same request with a payment payload for it."
                ),
                "refusal",
            ),
            HeaderDoc(
                offers.PAYMENT_RESPONSE_HEADER,
                "x402: the settlement of the payment this request was paid with.",
                "success",
            ),
        ]

    def verify(
        self, settings: Settings, credential: str, *, merchant_id: str, env: str, now: datetime
    ) -> Verified:
        if not offers.enabled(settings, env):
            raise ApiError(Code.PAYMENT_METHOD_UNSUPPORTED)
        x402 = offers.verify(settings, credential, merchant_id=merchant_id, env=env, now=now)
        settler = self._channel
        settlement = X402Settlement(x402.payload, x402.requirements, x402.amount_cents)

        async def settle(ctx: Context[Any], order_id: str) -> Charged:
            return await settler.settle(ctx, settlement)

        kept = settlement.body_json()  # on the order, for a settle whose answer is lost
        presented = Presented(
            X402,
            x402.offer,  # an offer is settled once, whatever authorization pays it
            x402.amount_cents,
            x402.expires_at,
            payload=kept,
            credential=digest(kept),
        )
        return Verified(presented, settle)

    def receipt(self, verified: Verified, paid: AgentPaid, now: datetime) -> SettleResponse | None:
        return paid.said if isinstance(paid.said, SettleResponse) else None

    def receipt_headers(self, receipt: SettleResponse) -> dict[str, str]:
        return {offers.PAYMENT_RESPONSE_HEADER: offers.response_header(receipt)}

    def dev_companion(self, settings: Settings, env: dict[str, str]) -> Companion | None:
        """Staging's facilitator under ``make run`` (``companion``)."""
        from . import companion

        return companion.facilitator(settings, env)

    def payer(self) -> Payer:
        from .payer import X402Payer

        return X402Payer()

    def refused_refund(self, order: Any) -> ApiError | None:
        """An x402 payment is a transfer on chain the payer signed to the operator's address,
        and no facilitator takes one back (the spec has no refund), so the operator sends it
        back from that address; the wallet is not debited."""
        if order.kind != AGENT_KIND:
            return None
        return ApiError(
            Code.REFUND_NOT_SUPPORTED,
            "An x402 payment settled on chain: the gateway cannot take it back. Return it from "
            "the pay-to address to the payer (the order's reference is the transfer), and "
            "adjust the wallet if you mean to",
            data={"channel": X402, "reference": order.provider_payment_id},
        )
