"""Plans and subscriptions: a merchant's subscription, its paid periods and its failed ones."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

__all__ = [
    "SUBSCRIPTION_HOLDS",
    "Plan",
    "Subscription",
    "SubscriptionFailure",
    "SubscriptionInvoice",
]

# A subscription holds its merchant's one place in an environment while it is any of these
# (as the migration wrote the index).
SUBSCRIPTION_HOLDS = "status IN ('incomplete', 'active', 'past_due')"


class Plan(Base):
    """A subscription plan of one environment: its prices a month and a year (cents, USD) and
    the wallet credit each paid period brings. A live plan's Stripe product and prices are kept
    by id; a price that changes gets a new Stripe price (Stripe's prices never change)."""

    __tablename__ = "plans"
    __table_args__ = (Index("ix_plans_env_active", "env", "active"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500))
    price_monthly: Mapped[int] = mapped_column(BigInteger)
    price_yearly: Mapped[int] = mapped_column(BigInteger)
    credits_included: Mapped[int] = mapped_column(BigInteger)
    features: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean)
    sort_order: Mapped[int] = mapped_column(Integer)
    stripe_product_id: Mapped[str | None] = mapped_column(String(255))
    stripe_price_monthly_id: Mapped[str | None] = mapped_column(String(255))
    stripe_price_yearly_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Whether a period's credit grant expires at the period's end (unspent credit lapses) or
    # rolls over; ``ledger.grants``.
    credits_expire: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class Subscription(Base):
    """A merchant's subscription to a plan in one environment. At most one holds the merchant's
    place at a time (a unique partial index over ``SUBSCRIPTION_HOLDS``): ``incomplete`` from
    its checkout until it is paid or the checkout expires (``expires_at``), then ``active`` or
    ``past_due``, and ``canceled`` for good. ``provider`` is ``stripe`` or ``sandbox``;
    ``card_fails`` is the sandbox tester's card that will be declined."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        Index(
            "ix_subscriptions_holder",
            "merchant_id",
            "env",
            unique=True,
            postgresql_where=text(SUBSCRIPTION_HOLDS),
            sqlite_where=text(SUBSCRIPTION_HOLDS),
        ),
        Index("ix_subscriptions_provider_id", "provider_subscription_id", unique=True),
        Index("ix_subscriptions_status_period", "status", "current_period_end"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"))
    interval: Mapped[str] = mapped_column(String(10))  # "month" | "year"
    provider: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    provider_session_id: Mapped[str | None] = mapped_column(String(255))
    provider_subscription_id: Mapped[str | None] = mapped_column(String(255))
    provider_customer_id: Mapped[str | None] = mapped_column(String(255))
    checkout_url: Mapped[str | None] = mapped_column(String(2048))
    success_url: Mapped[str | None] = mapped_column(String(2048))
    cancel_url: Mapped[str | None] = mapped_column(String(2048))
    current_period_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean)
    card_fails: Mapped[bool] = mapped_column(Boolean)
    periods_paid: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime | None]
    # When the provider said what ``status`` is: an older report arriving later changes nothing.
    state_at: Mapped[datetime | None]
    checked_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SubscriptionInvoice(Base):
    """A paid period of a subscription, once: the primary key is the provider's invoice id, so
    however many times and in whatever order it is reported, one row, one credit."""

    __tablename__ = "subscription_invoices"
    __table_args__ = (Index("ix_subscription_invoices_subscription", "subscription_id"),)

    invoice_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"))
    env: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    plan_id: Mapped[str] = mapped_column(String(40))
    amount_paid_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    credit_cents: Mapped[int] = mapped_column(BigInteger)
    period_end: Mapped[datetime | None]
    paid_at: Mapped[datetime]


class SubscriptionFailure(Base):
    """A period of a subscription whose payment failed, once per invoice (the provider's
    invoice id, as ``subscription_invoices``' key): what the merchant's list shows as failed
    until the same invoice is paid, when its ``subscription_invoices`` row is the period."""

    __tablename__ = "subscription_failures"
    __table_args__ = (Index("ix_subscription_failures_merchant_env", "merchant_id", "env"),)

    invoice_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"))
    env: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    plan_id: Mapped[str] = mapped_column(String(40))
    amount_due_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    failed_at: Mapped[datetime]
