"""x402: agents paying a 402 on chain (the ``exact`` scheme), through the operator's facilitator.

Enabled in an environment where the operator set its terms (``protocols.x402.offers.terms``);
its orders (kind ``agent``) are keyed by the offer they pay and settled as every
channel's. A payment is the facilitator's ``POST /verify`` then ``POST /settle``, in the shapes
of ``specs/transports-v2/http.md`` (``x402Version``, ``paymentPayload``,
``paymentRequirements``). Its answers are read bounded (``request_json``) and reach the payer in
the product's own words. No page, no notification; never offered for a checkout; no refund
(a transfer on chain is not pulled back: ``X402Receiver.refused_refund``).

What a settle's answer means:

- ``success`` is the money moved: the order is credited, the transaction its reference.
- A refusal (``success`` false, answered 200) moved nothing: the order fails. But for
  ``settlement_pending``, which the ``x402`` package's facilitators answer when they broadcast
  the transfer and did not see it confirmed: that is not known yet.
- No answer (a timeout, a dropped connection, a 5xx, a body not understood) is not known either.
  The settle is asked once more at once, with the same payload, as the package's own resource
  server does (``settle_with_pending_retry``); a facilitator that broadcast it already answers
  that settlement again, and a chain that executed it says its nonce was used. Still unknown,
  the order stays pending with its settle body kept (``FundingOrder.payment_payload``), and
  reconciliation asks again (``look_up``) on every sweep until the facilitator answers.

Asked again, a nonce already used is taken as this payment executed: the authorization pays
only the operator's address the order's amount, and the gateway asked for it; it is credited
once (the order keyed by its offer, completed by one conditional UPDATE) and logged for the
operator to match on chain. Any other refusal asked again fails the order.
"""

import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from x402.schemas import PaymentPayload, PaymentRequirements
from x402.schemas.responses import SettleResponse

from ...billing.channels.providers.base import Context, Provider
from ...billing.channels.providers.calls import request_json
from ...billing.channels.providers.credentials import NoCredentials
from ...billing.channels.providers.errors import ProviderError
from ...billing.channels.providers.messages import Charged, Kind, Looked, OrderRef
from ...values.settings import Settings
from . import offers as x402_offers

__all__ = ["NONCE_USED", "X402", "X402Provider", "X402Settlement"]

log = logging.getLogger(__name__)

X402 = "x402"
# The reasons a facilitator gives (the ``x402`` package's EVM constants) that read differently
# on a settle asked again.
NONCE_USED = "invalid_exact_evm_nonce_already_used"
PENDING = "settlement_pending"


@dataclass(frozen=True, slots=True)
class X402Settlement:
    """One payment to settle: the signed payload, the requirement it meets, and in cents."""

    payload: PaymentPayload
    requirements: PaymentRequirements
    amount_cents: int

    def body(self) -> dict[str, Any]:
        """What the facilitator is sent, to verify and to settle."""
        return {
            "x402Version": self.payload.x402_version,
            "paymentPayload": self.payload.model_dump(
                mode="json", by_alias=True, exclude_none=True
            ),
            "paymentRequirements": self.requirements.model_dump(
                mode="json", by_alias=True, exclude_none=True
            ),
        }

    def body_json(self) -> str:
        return json.dumps(self.body(), separators=(",", ":"))


class _Unknown(Exception):
    """The facilitator's answer to a settle was not had: whether money moved is not known."""


class X402Provider(Provider[NoCredentials]):
    name: ClassVar[str] = X402
    title: ClassVar[str] = "x402"
    kinds: ClassVar[frozenset[Kind]] = frozenset()
    can_look_up: ClassVar[bool] = True

    def enabled_by_default(self, settings: Settings, env: str) -> bool:
        return x402_offers.enabled(settings, env)

    def _root(self, ctx: Context[NoCredentials]) -> str:
        terms = x402_offers.terms(ctx.settings, ctx.env)
        if terms is None:
            raise ProviderError("x402 is off here")  # not known: asked again once it is on
        return terms.facilitator_url.rstrip("/")

    async def _settle(self, ctx: Context[NoCredentials], body: dict[str, Any]) -> SettleResponse:
        """The facilitator's settlement of ``body``, or ``_Unknown``."""
        try:
            settled = await request_json(ctx.http, "POST", f"{self._root(ctx)}/settle", json=body)
        except ProviderError:
            raise _Unknown from None
        if settled.status != 200:
            raise _Unknown
        try:
            answer = SettleResponse.model_validate(settled.body)
        except ValueError:
            raise _Unknown from None
        if not answer.success and answer.error_reason == PENDING:
            raise _Unknown
        return answer

    async def settle(self, ctx: Context[NoCredentials], req: X402Settlement) -> Charged:
        """Verify, then settle, at the facilitator; ``ProviderError`` with status 402 when it
        refuses either (the money then not moved), without one when the settle's outcome is
        not known (the order then left to reconciliation)."""
        body = req.body()
        verified = await request_json(ctx.http, "POST", f"{self._root(ctx)}/verify", json=body)
        if verified.status != 200 or not _said(verified.body, "isValid"):
            raise ProviderError("x402 payment not valid", status=402)
        try:
            answer = await self._settle(ctx, body)
        except _Unknown:
            try:
                answer = await self._settle(ctx, body)  # once more, the same payment
            except _Unknown:
                raise ProviderError("x402 settlement not known yet") from None
            if not answer.success and answer.error_reason == NONCE_USED:
                return self._executed(req.amount_cents, answer, body)
        if not answer.success:
            raise ProviderError("x402 settlement failed", status=402)
        return Charged(answer.transaction[:255], req.amount_cents, "USD", answer)

    def _executed(self, cents: int, answer: SettleResponse, body: dict[str, Any]) -> Charged:
        """A settle asked again whose nonce was used: the first one executed."""
        nonce = body["paymentPayload"]["payload"]["authorization"]["nonce"]
        log.warning("x402 nonce %s: settled by an answer that was lost; credited", nonce)
        # The payer's receipt says it settled, as it did; the transfer's hash is the chain's.
        settled = answer.model_copy(update={"success": True, "error_reason": None})
        return Charged(answer.transaction[:255], cents, "USD", settled)

    async def look_up(self, ctx: Context[NoCredentials], order: OrderRef) -> Looked:
        """Reconciliation of a pending order: its settle asked again with the body it kept."""
        if order.payload is None:
            raise ProviderError("x402 order without its settle body")
        body = json.loads(order.payload)
        try:
            answer = await self._settle(ctx, body)
        except _Unknown:
            raise ProviderError("x402 settlement not known yet") from None
        if answer.success or answer.error_reason == NONCE_USED:
            charged = (
                self._executed(order.amount_minor, answer, body)
                if not answer.success
                else Charged(answer.transaction[:255], order.amount_minor, "USD", answer)
            )
            status = "settled" if answer.success else "nonce used"
            return Looked(
                "paid",
                status,
                order.session_id,
                charged.payment_id or None,
                order.amount_minor,
                order.currency,
            )
        reason = (answer.error_reason or "refused")[:40]
        return Looked("failed", reason, order.session_id, None, None, None)


def _said(body: Any, flag: str) -> bool:
    return isinstance(body, dict) and body.get(flag) is True
