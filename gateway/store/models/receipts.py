"""Receipts: a merchant's billing profile, each environment's series of numbers, a paid order's
receipt."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

__all__ = ["BillingProfile", "Receipt", "ReceiptSeries"]


class BillingProfile(Base):
    """A merchant's legal identity for its receipts: one per merchant (a business is one legal
    person whichever environment it pays in). A receipt keeps a copy as it was when paid."""

    __tablename__ = "billing_profiles"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    address_line1: Mapped[str] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    tax_id: Mapped[str | None] = mapped_column(String(50))
    updated_at: Mapped[datetime]


class ReceiptSeries(Base):
    """The last receipt number given in an environment: raised by one conditional write in the
    transaction that pays, so a payment rolled back gives its number back (no gap)."""

    __tablename__ = "receipt_series"

    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger)


class Receipt(Base):
    """A paid order's number in its environment's series, and the billing profile as it was
    when paid (every profile column empty when the merchant had none). ``reference``: what
    was paid (an order id)."""

    __tablename__ = "receipts"
    __table_args__ = (
        UniqueConstraint("env", "number"),
        Index("ix_receipts_merchant_id", "merchant_id"),
    )

    reference: Mapped[str] = mapped_column(String(64), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    number: Mapped[int] = mapped_column(BigInteger)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    legal_name: Mapped[str | None] = mapped_column(String(200))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    tax_id: Mapped[str | None] = mapped_column(String(50))
    issued_at: Mapped[datetime]
