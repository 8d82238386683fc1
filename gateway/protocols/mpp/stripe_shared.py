"""Stripe's calls for an agent's payment of a 402 by MPP: a PaymentIntent confirmed with a Shared
Payment Token, and the search that finds one by its metadata (``protocols.mpp.channel``,
``protocols.mpp.strays``). The client and the reading of Stripe's objects are the channels'
(``billing.channels.providers.stripe_api``)."""

from dataclasses import dataclass
from typing import Any

from ...billing.channels.providers.stripe_api import SharedPayment, exchange, field, shared
from ...values.settings import Settings

__all__ = ["Found", "charge_shared_payment", "search_payment_intents"]


async def charge_shared_payment(
    settings: Settings,
    *,
    spt: str,
    amount_cents: int,
    currency: str,
    key: str,
    metadata: dict[str, str],
) -> SharedPayment:
    """Charge ``amount_cents`` with a Shared Payment Token (``draft-stripe-charge-00``): a
    PaymentIntent created with ``shared_payment_granted_token``, ``confirm: true`` and no
    redirect, ``key`` its idempotency key (the challenge's, never the token's), so the same
    challenge charged again is the same PaymentIntent, never a second charge."""
    async with exchange(settings, f"shared payment of {metadata.get('order_id')}") as client:
        # The package's typed parameters predate the token's field: Stripe takes it as any.
        params: Any = {
            "amount": amount_cents,
            "currency": currency,
            "shared_payment_granted_token": spt,
            "confirm": True,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "metadata": metadata,
        }
        intent = await client.v1.payment_intents.create_async(params, {"idempotency_key": key})
    return shared(intent)


@dataclass(frozen=True, slots=True)
class Found:
    """A PaymentIntent found by its metadata: what it is, and the metadata it carries."""

    intent: SharedPayment
    metadata: dict[str, str]


async def search_payment_intents(settings: Settings, query: str, *, pages: int) -> list[Found]:
    """The PaymentIntents Stripe's search finds for ``query`` (its Search Query Language, e.g.
    ``metadata['challenge_id']:'…'``), at most ``pages`` pages of 100, newest first. Search is
    Stripe's eventually consistent index: an intent may be found a minute after it was made."""
    found: list[Found] = []
    async with exchange(settings, "payment intent search") as client:
        params: Any = {"query": query, "limit": 100}
        for _ in range(pages):
            result = await client.v1.payment_intents.search_async(params)
            for intent in result.data:
                metadata = field(intent, "metadata")
                plain = metadata.to_dict() if hasattr(metadata, "to_dict") else {}
                kept = {str(k): str(v) for k, v in plain.items()}
                found.append(Found(shared(intent), kept))
            following = field(result, "next_page")
            if not field(result, "has_more") or not following:
                break
            params = {"query": query, "limit": 100, "page": following}
    return found
