"""An agent's wallet paying a seller's 402 (``gateway.sellers``): the payment, and its
work for the worker (``gateway.sellers.holds``)."""

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ...values.statuses import HELD
from ..held import Closing, closes
from .base import Base, table_of

__all__ = [
    "MAX_DESTINATION",
    "PAYMENTS_CLOSING",
    "PAYMENTS_HOLDING",
    "WALLET_HOLDING",
    "PayeeBinding",
    "SellerPayment",
    "SellerPaymentChallenge",
    "SellerPaymentWork",
    "TreasuryCheck",
    "TreasuryEntry",
    "TreasuryFloat",
]

# The longest destination (``Payer.destination``): MPP's profile (255) behind its protocol's
# name; a window's row (``key_spend.bucket``, 300) holds it behind its window's name.
MAX_DESTINATION = 270

# Whose amount the merchant's wallet still holds (``GET /balance``'s ``held_cents``): as the
# migration wrote the partial index.
PAYMENTS_HOLDING = "status IN ('pending', 'pending_approval', 'authorized')"
# What of those the wallet holds: the payments that debited it. One the merchant's own
# instrument pays (``funded_by`` ``own``) never debited the wallet, so it holds none of it.
WALLET_HOLDING = f"{PAYMENTS_HOLDING} AND funded_by = 'wallet'"


class SellerPayment(Base):
    """A seller's challenge paid from a merchant's wallet in one environment, by a key (or an
    app's token) under its policy: debited as it is written (``pending``), then its credential
    made and kept sealed (``authorized``), then ``used`` by the seller, or ``released`` (the
    amount credited back) at its expiry, or ``failed`` (released) when no credential was made.
    One a rule of the key's policy holds is written ``pending_approval`` (debited, nothing made)
    until approved (``pending``), ``denied`` or ``expired`` (released) at
    ``approval_expires_at``; ``decided_by`` names who decided it (a key, ``user:<id>``, the
    expiry or the kill switch).

    ``challenge``: what the seller sent, as the agent passed it on (its protocol reads it again
    for the provider's look-ups); ``made_sealed``: the credential and the provider's reference
    of it, sealed to the payment's id, shown once (the reply that made it, and its idempotent
    replays); ``spend_buckets``: the windows the payment counted in, which a release gives back
    to; ``idempotency_key``: the key it was made under, whose reply an authorization or failure
    the worker records takes the place of. ``destination``: where the money goes, as its
    protocol names it (``Payer.destination``), which every payee rule keys on;
    ``payee_origin``: the origin of the url the agent named, a label."""

    __tablename__ = "seller_payments"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount"),
        CheckConstraint("used_cents >= 0 AND used_cents <= amount_cents", name="used"),
        Index("ix_seller_payments_merchant", "merchant_id", "env", "id"),
        # Partial: only the payments still holding money, so ``held_cents`` reads only those.
        Index(
            "ix_seller_payments_held",
            "merchant_id",
            "env",
            postgresql_where=text(PAYMENTS_HOLDING),
            sqlite_where=text(PAYMENTS_HOLDING),
        ),
        # Whether a key has paid a destination before (``approval_for_new_recipients``).
        Index("ix_seller_payments_key_destination", "api_key_id", "destination"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"))
    wallet_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    used_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    protocol: Mapped[str] = mapped_column(String(40))
    payee: Mapped[str] = mapped_column(String(255))
    payee_origin: Mapped[str] = mapped_column(String(300))
    destination: Mapped[str] = mapped_column(String(MAX_DESTINATION))
    url: Mapped[str] = mapped_column(String(2048))
    challenge: Mapped[str] = mapped_column(Text)
    header: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    made_sealed: Mapped[str | None] = mapped_column(Text)
    spend_buckets: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    failure_reason: Mapped[str | None] = mapped_column(String(300))
    expires_at: Mapped[datetime]
    approval_expires_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(60))
    # Who paid the seller: ``wallet`` (the operator's treasury, the wallet debited) or ``own``
    # (the merchant's own instrument, the wallet not debited).
    funded_by: Mapped[str] = mapped_column(String(10), server_default=text("'wallet'"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SellerPaymentWork(Base):
    """A payment's work for the worker's runner (``store.queue``'s common shape): ``due`` while
    it is ``pending`` (due past the inline try's deadline: its credential made again, or the
    payment failed and released) or ``authorized`` (due at each look at its use, and at its
    expiry: used, or released) or ``pending_approval`` (due when its approval window closes:
    expired and released); ``done`` once the payment is used, released, failed, denied or
    expired."""

    __tablename__ = "seller_payment_work"
    __table_args__ = (Index("ix_seller_payment_work_due", "status", "next_attempt_at"),)

    payment_id: Mapped[str] = mapped_column(ForeignKey("seller_payments.id"), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    generation: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime]


# A payment held for approval, closed with its key: read by its key's index, its work made due
# at the close to expire and release it.
PAYMENTS_CLOSING = closes(
    Closing(
        table_of(SellerPayment),
        table_of(SellerPayment).c.status == HELD,
        table_of(SellerPaymentWork).c.payment_id,
    )
)


class SellerPaymentChallenge(Base):
    """A seller's challenge a merchant paid, once per environment: ``challenge_key`` is what
    makes it the same challenge (``sellers.challenged``: an MPP challenge's id, an
    x402 offer's whole requirement), ``payment_id`` the payment that paid it, ``expires_at`` when
    it stops being payable. A payment's write claims its challenge in the debit's transaction;
    a second payment of it is refused while the claim stands (unexpired, and its payment not
    failed, denied or expired), whatever its idempotency key."""

    __tablename__ = "seller_payment_challenges"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    challenge_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("seller_payments.id"))
    expires_at: Mapped[datetime]


class PayeeBinding(Base):
    """A destination a person bound to an origin in a merchant's environment: an origin in a
    key's ``allowed_payees`` admits a payment to it (``policies.payees``). Written when a
    person approves a payment held for it (``bound_by`` names the approver) and by the
    merchant's own list (``sellers.bindings``), never by an agent's payment."""

    __tablename__ = "payee_bindings"
    __table_args__ = (UniqueConstraint("merchant_id", "env", "origin", "destination"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    env: Mapped[str] = mapped_column(String(10))
    origin: Mapped[str] = mapped_column(String(300))
    destination: Mapped[str] = mapped_column(String(MAX_DESTINATION))
    bound_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime]


class TreasuryFloat(Base):
    """The operator's treasury on one rail (``protocol``) in ``env``
    (``gateway.payments.treasury``): the most it has paid out and not yet seen used or released
    (``float_cents``), the level that tells the operator before it runs out (``low_cents``), and
    what it has out now (``outstanding_cents``: reserved by each payment from a wallet as it is
    written, given back as it is used or released). A rail without a row is not bounded."""

    __tablename__ = "treasury_floats"

    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    protocol: Mapped[str] = mapped_column(String(40), primary_key=True)
    float_cents: Mapped[int] = mapped_column(BigInteger)
    low_cents: Mapped[int] = mapped_column(BigInteger)
    outstanding_cents: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]
    # The level's alert (``sellers.treasury_alerts``): when a reservation first left
    # less than ``low_cents`` available, and when the operator was told of it; both cleared once
    # the available is back above the level by its margin, so a float hovering at its level
    # tells once, not once a payment.
    low_at: Mapped[datetime | None]
    low_told_at: Mapped[datetime | None]


class TreasuryCheck(Base):
    """The last reconciliation of one rail in ``env`` against its provider
    (``sellers.reconcile``, the worker's ``treasury_reconcile``): when, how many
    payments out it asked about, how many disagree (``drifts``, the first of them in
    ``detail``), and the provider's balance of the treasury's instrument where the provider
    tells one (x402: the chain's balance of the payer's address, in cents; else null).
    ``told_at``: when the operator was told of the mismatch it found, cleared by a run that
    finds none, so one mismatch tells once."""

    __tablename__ = "treasury_checks"

    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    protocol: Mapped[str] = mapped_column(String(40), primary_key=True)
    checked_at: Mapped[datetime]
    looked: Mapped[int] = mapped_column(Integer)
    drifts: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)
    provider_cents: Mapped[int | None] = mapped_column(BigInteger)
    told_at: Mapped[datetime | None]


class TreasuryEntry(Base):
    """One movement of the treasury's money on a rail: ``paid_out`` (a credential issued from
    its instrument), ``used`` (what the seller took with it), ``released`` (what it did not)."""

    __tablename__ = "treasury_entries"
    __table_args__ = (Index("ix_treasury_entries_rail", "env", "protocol", "kind"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    protocol: Mapped[str] = mapped_column(String(40))
    payment_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
