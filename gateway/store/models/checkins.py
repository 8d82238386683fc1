"""The daily check-in and its settings (``gateway.billing.checkin``)."""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

__all__ = ["CheckIn", "CheckInConfig"]


class CheckIn(Base):
    """A merchant's daily check-in in one environment: at most one a UTC ``day`` (the staging
    test clock's day in staging), held by the unique row, written in the same transaction as
    the wallet's credit, its ``checkin_credit`` entry and the ``checkin.credited`` event."""

    __tablename__ = "checkins"
    __table_args__ = (
        UniqueConstraint("merchant_id", "env", "day"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    env: Mapped[str] = mapped_column(String(10))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]  # real time, whatever the test clock says


class CheckInConfig(Base):
    """The operator's check-in settings of one environment; no row: the built-in defaults
    (``gateway.billing.checkin.daily.DEFAULTS``)."""

    __tablename__ = "checkin_configs"
    __table_args__ = (CheckConstraint("min_cents > 0 AND min_cents <= max_cents", name="range"),)

    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    min_cents: Mapped[int] = mapped_column(BigInteger)
    max_cents: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]
