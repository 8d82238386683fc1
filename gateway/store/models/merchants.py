"""A merchant, and what it sets for itself: where its users redeem the built-in voucher, its
staging test clock."""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String, true
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

__all__ = ["Merchant", "SandboxClock", "VoucherRedemption"]


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # A label: two merchants may share one. Authority goes by id, never by name.
    name: Mapped[str] = mapped_column(String(200))
    low_balance_threshold_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    # The merchant's switch for the voucher e-mail to its recipients (``gateway.mail``).
    notify_recipients: Mapped[bool] = mapped_column(Boolean, server_default=true())
    # The name people see in e-mails and on the dashboard; ``name`` when unset.
    display_name: Mapped[str | None] = mapped_column(String(200))
    # The operator's override of ``AITOPUP_RETENTION_DAYS`` for this merchant; null: the default.
    retention_days: Mapped[int | None] = mapped_column(Integer)
    # The daily limit a consent to an unverified app gets unless the person widens it
    # (``apps.grants.consent_defaults``); null: ``AITOPUP_UNVERIFIED_APP_DAILY_CENTS``.
    unverified_app_daily_cents: Mapped[int | None] = mapped_column(BigInteger)
    # The language its recipients' page and e-mails are in (``values.languages``); null: each
    # reader's browser's, else English.
    language: Mapped[str | None] = mapped_column(String(8))


class VoucherRedemption(Base):
    """Where a merchant's users redeem its built-in voucher, and one line on how, in one
    environment: the voucher e-mail's and the recipient page's button and line. No row: the
    e-mail says only to hand the code to the merchant."""

    __tablename__ = "voucher_redemptions"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    redeem_url: Mapped[str | None] = mapped_column(String(2048))
    redeem_instructions: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime]


class SandboxClock(Base):
    """A staging merchant's test clock: how far ahead of real time its staging runs. Only
    moved forward; live never reads it."""

    __tablename__ = "sandbox_clocks"
    __table_args__ = (CheckConstraint("offset_seconds >= 0", name="forward_only"),)

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    offset_seconds: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]
