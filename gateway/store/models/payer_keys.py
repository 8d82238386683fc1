"""The keys a merchant's wallet pays sellers with, one a protocol and environment
(``gateway.sellers.payer_keys``), and who pays each protocol's sellers
(``gateway.sellers.funding``)."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

__all__ = ["PayerKey", "PaymentFunding"]


class PayerKey(Base):
    """The merchant's own key for paying sellers in ``protocol`` from its ``env`` wallet: the
    secret sealed (context: merchant, env, protocol), opened only to make a credential and
    never shown again; ``address``, what it pays from, is public (the merchant funds it)."""

    __tablename__ = "payer_keys"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    protocol: Mapped[str] = mapped_column(String(40), primary_key=True)
    address: Mapped[str] = mapped_column(String(100))
    key_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class PaymentFunding(Base):
    """Who pays the sellers a merchant's ``env`` wallet pays in ``protocol``: ``own``, the
    merchant's own instrument (its saved card, its payer key), the wallet not debited; a
    protocol without a row is paid by the operator's treasury and the wallet debited
    (``wallet``). Set by the merchant alone (``billing:card``)."""

    __tablename__ = "payment_funding"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    protocol: Mapped[str] = mapped_column(String(40), primary_key=True)
    funded_by: Mapped[str] = mapped_column(String(10))
    updated_at: Mapped[datetime]
