"""The events of an agent's payments to sellers (``sellers.states``): their payloads and
their entries of the table of event types (``event_types.EVENTS``, which lists them in its
order). Each is sent to the paying merchant."""

from typing import Literal

from pydantic import Field

from .event_payloads import EventSpec, Payload, Rfc3339

__all__ = [
    "PAYMENT_EVENTS",
    "SellerPayment",
    "SellerPaymentFailed",
    "SellerPaymentHeld",
    "SellerPaymentReleased",
    "SellerPaymentUsed",
]

DATED_2026_11_28 = "2026-11-28"


class SellerPayment(Payload):
    id: str = Field(pattern=r"^pay_")
    status: Literal[
        "pending_approval", "authorized", "used", "released", "failed", "denied", "expired"
    ]
    amount_cents: int = Field(gt=0, description="What the seller asked, debited and held.")
    currency: Literal["usd"]
    payee: str = Field(description="Whom it pays, as its protocol names the payee.")
    destination: str = Field(
        description="Where the money goes, as the key's payee rules judge it: "
        "x402:<network>:<asset>:<payTo> or mpp:<the seller's profile>."
    )
    protocol: str
    url: str = Field(description="The seller's resource that asked to be paid.")
    expires_at: Rfc3339 = Field(description="When the seller's challenge stops.")
    funded_by: Literal["wallet", "own"] = Field(
        default="wallet",
        description="Which instrument paid the seller: wallet (the operator's treasury paid and "
        "the wallet was debited) or own (the merchant's saved card or payer key paid; the "
        "wallet was not debited, its key's limits still counted it).",
    )


class SellerPaymentUsed(SellerPayment):
    used_cents: int = Field(ge=0, description="What the seller took; the rest is released.")


class SellerPaymentHeld(SellerPayment):
    approval_expires_at: Rfc3339 = Field(
        description="When it expires, released, unless a person or a key with the approvals "
        "scope decides it first."
    )


class SellerPaymentReleased(SellerPayment):
    released_cents: int = Field(
        gt=0,
        description="What was given back: to the wallet and the key's limits (funded_by "
        "wallet), to the key's limits alone (own).",
    )
    reason: str | None = Field(
        default=None,
        description="Why, when it is not the expiry of an unused credential: a payment "
        "approved once the seller's challenge had expired is released unmade.",
    )


class SellerPaymentFailed(SellerPayment):
    reason: str = Field(description="Why no credential was made: the refusal's code and words.")


_PAID = {
    "id": "pay_0mk3x7q2a1b2c3d4e5f6g7h8",
    "amount_cents": 25,
    "currency": "usd",
    "payee": "0x209693bc6afc0c5328ba36faf03c514ef312287c",
    "destination": "x402:eip155:8453:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913:"
    "0x209693bc6afc0c5328ba36faf03c514ef312287c",
    "protocol": "x402",
    "url": "https://api.seller.example/v1/report",
    "expires_at": "2026-11-28T12:05:00Z",
    "funded_by": "wallet",
}

PAYMENT_EVENTS: tuple[EventSpec, ...] = (
    EventSpec(
        "payment.pending_approval",
        SellerPaymentHeld,
        "A payment to a seller a rule of its key's policy holds (approval_above_cents, "
        "approval_for_new_recipients) waits for a decision, debited from the wallet (funded_by "
        "wallet) or counted by its key's limits alone (own): nothing is made until it is "
        "approved.",
        DATED_2026_11_28,
        {**_PAID, "status": "pending_approval", "approval_expires_at": "2026-11-29T12:00:00Z"},
    ),
    EventSpec(
        "payment.authorized",
        SellerPayment,
        "An agent's payment to a seller was authorized (POST /payments). funded_by wallet: the "
        "operator's treasury pays the seller and the wallet, debited, holds the amount until "
        "the seller uses its credential or it is released. funded_by own: the merchant's own "
        "instrument (its saved card or payer key) pays and the wallet is not debited.",
        DATED_2026_11_28,
        {**_PAID, "status": "authorized"},
    ),
    EventSpec(
        "payment.used",
        SellerPaymentUsed,
        "The seller used an authorized payment's credential: what it did not take, if anything, "
        "was credited back.",
        DATED_2026_11_28,
        {**_PAID, "status": "used", "used_cents": 25},
    ),
    EventSpec(
        "payment.released",
        SellerPaymentReleased,
        "An authorized payment the seller did not use by its expiry (or that its provider "
        "ended), or a held one approved once the seller's challenge had expired (reason), was "
        "released: its amount is back in the wallet (funded_by wallet) and its key's limits.",
        DATED_2026_11_28,
        {**_PAID, "status": "released", "released_cents": 25},
    ),
    EventSpec(
        "payment.failed",
        SellerPaymentFailed,
        "No credential could be made for a payment to a seller (its provider refused or did "
        "not answer): its amount is back in the wallet (funded_by wallet) and its key's limits.",
        DATED_2026_11_28,
        {**_PAID, "status": "failed", "reason": "4107: The payment provider refused or failed"},
    ),
    EventSpec(
        "payment.denied",
        SellerPaymentReleased,
        "A payment held for approval was denied (or cancelled by the kill switch): nothing was "
        "paid; its amount is back in the wallet (funded_by wallet) and its key's limits.",
        DATED_2026_11_28,
        {**_PAID, "status": "denied", "released_cents": 25},
    ),
    EventSpec(
        "payment.expired",
        SellerPaymentReleased,
        "A payment held for approval was not decided in time: nothing was paid; its amount is "
        "back in the wallet (funded_by wallet) and its key's limits.",
        DATED_2026_11_28,
        {**_PAID, "status": "expired", "released_cents": 25},
    ),
)
