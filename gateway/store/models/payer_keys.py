"""The keys a merchant's wallet pays sellers with, one a protocol and environment
(``gateway.protocols.payer_keys``)."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


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
