"""MPP, the Payment HTTP authentication scheme with Stripe's charge method: both halves.

A refusal for funds carries a challenge (``challenges``: ``WWW-Authenticate`` over REST, the
JSON-RPC error ``-32042``'s ``data.challenges`` over MCP, ``mcp``); a retry presents a
credential (``Payment-Authorization``, or ``_meta["org.paymentauth/credential"]``) whose Shared
Payment Token the channel charges at Stripe (``channel``; staging's own tokens, ``sandbox_spt``,
minted at the protocol's one route, ``routes``), once per challenge; the receipt goes back in
``Payment-Receipt`` (or the result's ``_meta``). Payments Stripe took that no order credited
are found and given back (``strays``).

The paying half (``payer``): an agent's wallet answering another seller's challenge with a
Shared Payment Token issued at Stripe (``stripe_issued``), or in staging this gateway's own
with a sandbox token.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ...billing.channels.registry import Charged, Context, Provider
from ...store.engine import Database
from ...values.code_names import Code
from ...values.outcome import Outcome
from ...values.settings import Settings
from ..base import AgentPaid, Ask, Door, Payer, Presented, Receiver, Verified, digest
from . import strays
from .channel import MPP, MppProvider, SptCharge

if TYPE_CHECKING:
    from mpp import Challenge, Receipt

    from ...ops.routing import ApiRoute, HeaderDoc

__all__ = ["MPP", "MppReceiver"]


@dataclass(frozen=True, slots=True)
class _Kept:
    """What a verified credential keeps for its receipt."""

    challenge_id: str
    external_id: str | None


@dataclass(frozen=True, slots=True)
class _Receipt:
    receipt: "Receipt"
    challenge_id: str  # the challenge the receipt is for


class MppReceiver(Receiver):
    """Its methods import ``challenges`` and ``mcp`` (and so the ``mpp`` package) when first
    called: the worker, which only sweeps (``strays``), never loads them."""

    name: ClassVar[str] = MPP

    def __init__(self) -> None:
        self._channel = MppProvider()

    def channel(self) -> Provider[Any]:
        return self._channel

    def offer(self, settings: Settings, ask: Ask) -> "Challenge":
        from . import challenges

        # Over MCP the credential travels in ``_meta``: the challenge advertises no header.
        header = challenges.CREDENTIAL_HEADER if ask.transport == "http" else None
        return challenges.challenge(
            settings,
            merchant_id=ask.merchant_id,
            env=ask.env,
            amount_cents=ask.amount_cents,
            now=ask.now,
            header=header,
        )

    def offer_headers(self, offer: "Challenge") -> dict[str, str]:
        return {
            "WWW-Authenticate": offer.to_www_authenticate(offer.realm),
            "Cache-Control": "no-store",
        }

    def offer_data(self, offer: "Challenge", code: Code) -> dict[str, Any]:
        from . import mcp

        return mcp.offer_data(offer, code)

    def headers(self) -> "list[HeaderDoc]":
        from ...ops.routing import HeaderDoc
        from . import challenges

        return [
            HeaderDoc(
                challenges.CREDENTIAL_HEADER,
                (
                    "MPP: the credential (`Payment <base64url>`) that pays this request's "
                    "challenge, kept apart from `Authorization`, which holds the key."
                ),
                "request",
            ),
            HeaderDoc(
                "WWW-Authenticate",
                (
                    'MPP: the challenge (`Payment id=…, method="stripe", intent="charge", '
                    "request=…`) to pay for the funds lacking; retry the same request with its "
                    "credential."
                ),
                "refusal",
            ),
            HeaderDoc(
                challenges.RECEIPT_HEADER,
                "MPP: the receipt of the payment this request was paid with.",
                "success",
            ),
        ]

    def credential_in_headers(self, headers: Mapping[str, str]) -> str | None:
        from . import challenges

        return headers.get(challenges.CREDENTIAL_HEADER)

    def credential_in_meta(self, meta: Mapping[str, Any]) -> str | None:
        from . import mcp

        return mcp.credential_of(dict(meta))

    def verify(
        self, settings: Settings, credential: str, *, merchant_id: str, env: str, now: datetime
    ) -> Verified:
        from . import challenges

        mpp = challenges.verify(settings, credential, merchant_id=merchant_id, env=env, now=now)
        provider = self._channel

        async def charge(ctx: Context[Any], order_id: str) -> Charged:
            spt = SptCharge(
                order_id, merchant_id, mpp.challenge_id, mpp.spt, mpp.amount_cents, mpp.currency
            )
            return await provider.charge(ctx, spt)

        presented = Presented(
            MPP,
            mpp.challenge_id,
            mpp.amount_cents,
            mpp.expires_at,
            resumable=True,
            credential=digest(mpp.spt),
        )
        return Verified(presented, charge, _Kept(mpp.challenge_id, mpp.external_id))

    def receipt(self, verified: Verified, paid: AgentPaid, now: datetime) -> _Receipt:
        from . import challenges

        kept: _Kept = verified.kept
        made = challenges.receipt(paid.payment_id, now, kept.external_id)
        return _Receipt(made, kept.challenge_id)

    def receipt_headers(self, receipt: _Receipt) -> dict[str, str]:
        from . import challenges

        return {challenges.RECEIPT_HEADER: receipt.receipt.to_payment_receipt()}

    def receipt_meta(self, receipt: _Receipt) -> dict[str, Any]:
        from . import mcp

        return mcp.receipt_meta(receipt.receipt, receipt.challenge_id)

    def problem(self, code: Code, offer: "Challenge | None", data: Any) -> dict[str, Any]:
        from . import challenges

        return challenges.problem(code, offer.id if offer is not None else None, data)

    def mcp_methods(self) -> dict[str, Any]:
        from . import mcp

        return mcp.METHODS

    async def sweep(self, db: Database, settings: Settings, now: datetime) -> list[Outcome]:
        return await strays.sweep(db, settings, now=now)

    def routes(self, door: Door) -> "list[ApiRoute]":
        """Staging's test Shared Payment Tokens, what an agent pays a challenge with there."""
        from . import routes

        return routes.routes(door)

    def payer(self) -> Payer:
        from .payer import MppPayer

        return MppPayer()
