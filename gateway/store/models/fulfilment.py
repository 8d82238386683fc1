"""Fulfilment by an upstream: a merchant's setting a platform, the outbox of upstream work, the
keys an upstream holds for recipients."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

__all__ = ["Fulfilment", "FulfilmentSetting", "UpstreamKey"]


class FulfilmentSetting(Base):
    """Which provider fulfils a merchant's top-ups on one platform in one environment; no row
    means the built-in voucher. Credentials are sealed (context: merchant, env, platform) and
    never returned after saving."""

    __tablename__ = "fulfilment_settings"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    platform: Mapped[str] = mapped_column(String(20), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))  # voucher, newapi, openrouter
    base_url: Mapped[str | None] = mapped_column(String(2048))
    account: Mapped[str | None] = mapped_column(String(100))  # New API's user id
    credentials_sealed: Mapped[str | None] = mapped_column(Text)
    quota_per_usd: Mapped[int | None] = mapped_column(BigInteger)
    # Where recipients redeem (a public address a person opens) and one line on how.
    redeem_url: Mapped[str | None] = mapped_column(String(2048))
    redeem_instructions: Mapped[str | None] = mapped_column(String(300))
    # An allowance the keys a provider makes for recipients are made with (OpenRouter's): their
    # limit's reset (daily, weekly, monthly) and how many days after its making a key expires.
    limit_reset: Mapped[str | None] = mapped_column(String(10))
    key_expires_after_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Fulfilment(Base):
    """The outbox of upstream work: one row per top-up an upstream fulfils, written in the
    send's transaction. ``due`` until the upstream answered (or failed for good), taken by
    whoever moves ``next_attempt_at`` past now first; ``reference`` is ours, sent upstream, so
    a retry finds what an earlier try made."""

    __tablename__ = "fulfilments"
    __table_args__ = (Index("ix_fulfilments_due", "status", "next_attempt_at"),)

    topup_id: Mapped[str] = mapped_column(ForeignKey("topups.id"), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    env: Mapped[str] = mapped_column(String(10))
    provider: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(20))  # due, done, failed
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UpstreamKey(Base):
    """The one key an upstream (OpenRouter) holds for a recipient of a merchant in an
    environment: its limit is the absolute total delivered to them, so retries converge."""

    __tablename__ = "upstream_keys"
    __table_args__ = (UniqueConstraint("merchant_id", "env", "provider", "recipient_email"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    env: Mapped[str] = mapped_column(String(10))
    provider: Mapped[str] = mapped_column(String(20))
    recipient_email: Mapped[str] = mapped_column(String(254))
    label: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str | None] = mapped_column(String(200))
    key_sealed: Mapped[str | None] = mapped_column(Text)
    limit_cents: Mapped[int | None] = mapped_column(BigInteger)
    # When the upstream stops taking the key (it was made with an expiry): past it, no send
    # raises its limit.
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
