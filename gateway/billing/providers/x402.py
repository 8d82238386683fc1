"""x402: agents paying a 402 on chain (the ``exact`` scheme), through the operator's facilitator.

Enabled in an environment where the operator set its terms (``billing.x402_offers.terms``);
its orders (kind ``agent``) are keyed by the authorization's nonce and settled as every
channel's. A payment is the facilitator's ``POST /verify`` then ``POST /settle``, in the shapes
of ``specs/transports-v2/http.md`` (``x402Version``, ``paymentPayload``,
``paymentRequirements``); a refusal of either is the payment refused. Its answers are read
bounded (``request_json``) and reach the payer in the product's own words. No page, no
notification; never offered for a checkout.
"""

from dataclasses import dataclass
from typing import Any, ClassVar

from x402.schemas import PaymentPayload, PaymentRequirements
from x402.schemas.responses import SettleResponse

from ...values.settings import Settings
from .. import x402_offers
from .base import Charged, Context, Kind, NoCredentials, Provider, ProviderError, request_json

__all__ = ["X402", "X402Provider", "X402Settlement"]

X402 = "x402"


@dataclass(frozen=True, slots=True)
class X402Settlement:
    """One payment to settle: the signed payload, the requirement it meets, and in cents."""

    payload: PaymentPayload
    requirements: PaymentRequirements
    amount_cents: int


class X402Provider(Provider[NoCredentials]):
    name: ClassVar[str] = X402
    title: ClassVar[str] = "x402"
    kinds: ClassVar[frozenset[Kind]] = frozenset()

    def enabled_by_default(self, settings: Settings, env: str) -> bool:
        return x402_offers.enabled(settings, env)

    async def settle(self, ctx: Context[NoCredentials], req: X402Settlement) -> Charged:
        """Verify, then settle, at the facilitator; ``ProviderError`` (status 402) when it
        refuses either, the money then not moved."""
        terms = x402_offers.terms(ctx.settings, ctx.env)
        if terms is None:
            raise ProviderError("x402 is off here", status=402)
        root = terms.facilitator_url.rstrip("/")
        body = {
            "x402Version": req.payload.x402_version,
            "paymentPayload": req.payload.model_dump(mode="json", by_alias=True, exclude_none=True),
            "paymentRequirements": req.requirements.model_dump(
                mode="json", by_alias=True, exclude_none=True
            ),
        }
        verified = await request_json(ctx.http, "POST", f"{root}/verify", json=body)
        if verified.status != 200 or not _said(verified.body, "isValid"):
            raise ProviderError("x402 payment not valid", status=402)
        settled = await request_json(ctx.http, "POST", f"{root}/settle", json=body)
        if settled.status != 200 or not _said(settled.body, "success"):
            raise ProviderError("x402 settlement failed", status=402)
        try:
            answer = SettleResponse.model_validate(settled.body)
        except ValueError:
            raise ProviderError("x402 settlement not understood") from None
        return Charged(answer.transaction[:255], req.amount_cents, "USD", answer)


def _said(body: Any, flag: str) -> bool:
    return isinstance(body, dict) and body.get(flag) is True
