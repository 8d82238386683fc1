"""What the operator's Stripe account can still spend on its Issuing cards: the treasury's MPP
float as Stripe tells it (``GET /v1/balance``, the Balance object's ``issuing.available``, in
the smallest unit of each currency), read through the package's documented
``StripeClient.v1.balance.retrieve_async`` in the exchange every Stripe call makes.

The treasury's payment method (``AITOPUP_TREASURY_STRIPE_PAYMENT_METHOD``) is what Shared
Payment Tokens are issued on; where it is a card the operator issued with Stripe Issuing, a
seller's capture spends this balance, so it is what the reconciliation sets beside what is out.
An account without Issuing answers no ``issuing`` object: Stripe tells no balance of another
card (its issuer's limit is not Stripe's to say), and ``None`` says so."""

from typing import Any

from ...billing.channels.providers.stripe_api import as_int, as_str, exchange, field
from ...values.settings import Settings

__all__ = ["issuing_cents"]


def _available(balance: Any, currency: str) -> int | None:
    issuing = field(balance, "issuing")
    if issuing is None:
        return None
    listed = field(issuing, "available") or []
    amounts = [
        as_int(field(entry, "amount"))
        for entry in listed
        if as_str(field(entry, "currency")) == currency
    ]
    return sum(a for a in amounts if a is not None)


async def issuing_cents(settings: Settings, currency: str) -> int | None:
    """The account's Issuing balance available in ``currency`` (lower case), in its smallest
    unit; ``None`` when the account has no Issuing balance."""
    async with exchange(settings, "balance retrieve") as client:
        return _available(await client.v1.balance.retrieve_async(), currency)
