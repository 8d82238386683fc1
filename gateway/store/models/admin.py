"""The operator's side: manual adjustments of a wallet and the admin API's audit."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..types import AutoBigInt
from .base import Base

__all__ = ["Adjustment", "AuditRecord"]


class Adjustment(Base):
    """An operator's manual change to a merchant wallet: who, why, how much."""

    __tablename__ = "adjustments"
    __table_args__ = (Index("ix_adjustments_merchant_id", "merchant_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    env: Mapped[str] = mapped_column(String(10))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(400))
    actor: Mapped[str] = mapped_column(String(100))
    balance_after_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class AuditRecord(Base):
    """One row per admin call, written in the same transaction as the change it made."""

    __tablename__ = "admin_audit"
    __table_args__ = (Index("ix_admin_audit_target", "target_id"),)

    id: Mapped[int] = mapped_column(AutoBigInt, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    target_id: Mapped[str | None] = mapped_column(String(60))
    status_code: Mapped[int] = mapped_column(Integer)
    code: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None]
    request_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
