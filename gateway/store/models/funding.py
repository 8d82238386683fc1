"""Funding a merchant wallet: packs and coupons on sale, the orders that pay for them and their
refunds, the payment channels and their notices, redemption codes."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
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

from .base import Base

__all__ = [
    "Coupon",
    "CouponUse",
    "FundingOrder",
    "OrderRefund",
    "Pack",
    "PaymentChannel",
    "PaymentNotice",
    "RedemptionCode",
]


class Pack(Base):
    """A prepaid pack on sale. ``credits`` are the seed's units (1,000 per dollar of top-ups);
    ``credit_cents`` is what lands in the wallet."""

    __tablename__ = "packs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    credits: Mapped[int] = mapped_column(BigInteger)
    credit_cents: Mapped[int] = mapped_column(BigInteger)
    popular: Mapped[bool] = mapped_column(Boolean)
    active: Mapped[bool] = mapped_column(Boolean)
    sort_order: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Coupon(Base):
    """Percent or fixed amount off a pack's price at checkout; the credits stay whole."""

    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint("(percent_off IS NULL) <> (amount_off_cents IS NULL)", name="one_discount"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # What the merchant types, stored upper-cased. Not a secret: coupons are shared on purpose.
    code: Mapped[str] = mapped_column(String(40), unique=True)
    percent_off: Mapped[int | None] = mapped_column(Integer)
    amount_off_cents: Mapped[int | None] = mapped_column(BigInteger)
    pack_id: Mapped[str | None] = mapped_column(ForeignKey("packs.id"))
    expires_at: Mapped[datetime | None]
    # Per environment: ``coupon_uses`` counts each env's uses against it apart.
    max_uses: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CouponUse(Base):
    """How many uses of a coupon one environment holds: reserved at checkout, given back when
    the order fails or expires. Counted per env, so a staging sandbox checkout never takes a use
    a live payer could have had."""

    __tablename__ = "coupon_uses"

    coupon_id: Mapped[str] = mapped_column(ForeignKey("coupons.id"), primary_key=True)
    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    uses: Mapped[int] = mapped_column(Integer)


class FundingOrder(Base):
    """One attempt to put money into a merchant wallet: a checkout (Stripe or the staging
    sandbox) or a redemption. The funding history is this table."""

    __tablename__ = "funding_orders"
    __table_args__ = (
        Index("ix_funding_orders_merchant_env_id", "merchant_id", "env", "id"),
        Index("ix_funding_orders_status_expires_at", "status", "expires_at"),
        Index("ix_funding_orders_status_created_at", "status", "created_at"),
        # A provider's ids are its account's own: unique within the account the channel's
        # credentials name (``Credentials.account_id``), never across providers or accounts.
        UniqueConstraint(
            "channel",
            "env",
            "provider_account",
            "provider_session_id",
            name="uq_funding_orders_provider_session",
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    kind: Mapped[str] = mapped_column(String(20))  # checkout, redemption
    provider: Mapped[str] = mapped_column(String(20))  # stripe, sandbox, redemption, ...
    # The channel the payer chose (``billing.channels.registry``): the provider itself in live; in
    # staging the channel the sandbox stood in for. None for orders made before channels.
    channel: Mapped[str | None] = mapped_column(String(30))
    provider_session_id: Mapped[str | None] = mapped_column(String(255))
    # The account the channel's credentials named when the order was made ("" where they name
    # none in the clear: the channel and environment are then the account).
    provider_account: Mapped[str] = mapped_column(String(255), server_default=text("''"))
    checkout_url: Mapped[str | None] = mapped_column(Text)
    success_url: Mapped[str | None] = mapped_column(String(2048))
    cancel_url: Mapped[str | None] = mapped_column(String(2048))
    pack_id: Mapped[str | None] = mapped_column(ForeignKey("packs.id"))
    pack_name: Mapped[str | None] = mapped_column(String(100))
    coupon_id: Mapped[str | None] = mapped_column(ForeignKey("coupons.id"))
    credits: Mapped[int] = mapped_column(BigInteger)
    credit_cents: Mapped[int] = mapped_column(BigInteger)
    price_cents: Mapped[int] = mapped_column(BigInteger)
    discount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)  # what the payer is charged
    # A custom amount's discount tier (``billing.orders.pricing``); 0 for packs and redemptions.
    tier_percent: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    tier_discount_cents: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    currency: Mapped[str] = mapped_column(String(3))
    # What the payer is charged where the provider charges in its own currency (MyFatoorah's
    # KWD): integer minor units of ``charge_currency``, and the rate used (decimal text: units
    # of it per unit of ``currency``). None: the payer is charged ``amount_cents`` of
    # ``currency``. Either way the wallet is credited ``credit_cents``.
    charge_minor: Mapped[int | None] = mapped_column(BigInteger)
    charge_currency: Mapped[str | None] = mapped_column(String(3))
    charge_rate: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # pending, completed, failed, expired
    # What the provider last said (Stripe's session or invoice status), its payment intent or
    # invoice id, and when it was last looked up: reconciliation's view of the order.
    provider_payment_id: Mapped[str | None] = mapped_column(String(255))
    provider_status: Mapped[str | None] = mapped_column(String(40))
    checked_at: Mapped[datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    # Of ``amount_cents``, what was given back to the payer (``admin.refunds``): raised by one
    # conditional UPDATE that never passes ``amount_cents``.
    refunded_cents: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # An agent's x402 order: the signed payment and the requirement it meets (the facilitator's
    # ``{paymentPayload, paymentRequirements}``, JSON), so reconciliation can ask the settle
    # again when its answer was lost. It pays only the operator's address; None for the rest.
    payment_payload: Mapped[str | None] = mapped_column(Text)
    # An agent's order: the SHA-256 (hex) of the credential that claimed it, the only one that
    # may take its money (``agent_payments``); another presented for it is refused unasked.
    # None for the rest.
    credential_digest: Mapped[str | None] = mapped_column(String(64))
    # A pending checkout can be paid until then: the sandbox's TTL, or the Stripe session's own
    # expiry. None for redemptions, which complete at once.
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class OrderRefund(Base):
    """An operator's refund of a paid order (``admin.refunds``), written with the wallet's debit
    before the provider is asked, and a kind of the runner's work while its answer is not
    known (``worker.refunds``).

    ``amount_cents``: given back, in the order's currency; ``before_cents``: what of the order
    was refunded before it, which fixes what the provider is asked; ``debit_cents``: the credits
    it took from the wallet, given back if the provider refuses. ``status``: ``pending`` (due at
    ``next_attempt_at``), ``succeeded``, ``failed`` (its debit reversed). ``idempotency_key``
    is what every ask of the provider names, so a retry answers the refund already made."""

    __tablename__ = "order_refunds"
    __table_args__ = (Index("ix_order_refunds_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("funding_orders.id"), index=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    env: Mapped[str] = mapped_column(String(10))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    before_cents: Mapped[int] = mapped_column(BigInteger)
    debit_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    provider_refund_id: Mapped[str | None] = mapped_column(String(255))
    provider_status: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer)
    # The lease stamp (``store.queue``), as a delivery's.
    generation: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PaymentChannel(Base):
    """A payment channel as the operator set it for one environment: offered or not, and its
    credentials (the provider's ``Credentials`` as JSON, sealed; context channel and env).
    No row: the provider's own default (``Provider.enabled_by_default``)."""

    __tablename__ = "payment_channels"

    channel: Mapped[str] = mapped_column(String(30), primary_key=True)
    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    credentials_sealed: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class PaymentNotice(Base):
    """Every verified notification of a channel, once: the primary key is the dedupe on the
    channel's event id (Stripe's too, under ``stripe``)."""

    __tablename__ = "payment_notices"

    channel: Mapped[str] = mapped_column(String(30), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    outcome: Mapped[str] = mapped_column(String(30))
    received_at: Mapped[datetime]


class RedemptionCode(Base):
    __tablename__ = "redemption_codes"
    __table_args__ = (Index("ix_redemption_codes_batch_id", "batch_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(100))
    env: Mapped[str] = mapped_column(String(10))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    # Peppered HMAC of the code: the code itself is shown once, at creation.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_suffix: Mapped[str] = mapped_column(String(4))
    expires_at: Mapped[datetime | None]
    redeemed_at: Mapped[datetime | None]
    redeemed_by: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"))
    order_id: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    # An operator voided it: it can no longer be redeemed.
    voided_at: Mapped[datetime | None]
    voided_by: Mapped[str | None] = mapped_column(String(100))
