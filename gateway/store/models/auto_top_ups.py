"""Auto top-ups: a merchant wallet's setting and each run of it
(``gateway.billing.auto_top_up``)."""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

__all__ = ["AUTO_TOP_UP_DUE", "AutoTopUp", "AutoTopUpRun"]


class AutoTopUp(Base):
    """A merchant wallet's auto top-up (``billing.auto_top_up``): below ``threshold_cents`` it is
    brought back to ``target_cents``, or given ``amount_cents``, from the saved payment method,
    at most ``monthly_cap_cents`` in a calendar month (UTC). ``month`` and ``month_cents``: what
    the month named has taken so far (held while a charge is in flight), moved only by one
    conditional write. ``failures``: refusals in a row; at three it is turned off
    (``disabled_reason``). The wallet's ``auto_top_up_below`` is its armed copy."""

    __tablename__ = "auto_top_ups"

    wallet_id: Mapped[str] = mapped_column(ForeignKey("wallets.id"), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    env: Mapped[str] = mapped_column(String(10))
    enabled: Mapped[bool] = mapped_column(Boolean)
    threshold_cents: Mapped[int] = mapped_column(BigInteger)
    target_cents: Mapped[int | None] = mapped_column(BigInteger)
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    monthly_cap_cents: Mapped[int] = mapped_column(BigInteger)
    month: Mapped[str] = mapped_column(String(7))
    month_cents: Mapped[int] = mapped_column(BigInteger)
    provider: Mapped[str | None] = mapped_column(String(20))
    customer_ref: Mapped[str | None] = mapped_column(String(255))
    payment_method_ref: Mapped[str | None] = mapped_column(String(255))
    payment_method_label: Mapped[str | None] = mapped_column(String(60))
    setup_ref: Mapped[str | None] = mapped_column(String(255))
    failures: Mapped[int] = mapped_column(Integer)
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime]


AUTO_TOP_UP_DUE = "status = 'due'"


class AutoTopUpRun(Base):
    """One auto top-up of a wallet, written by the debit that took it under its threshold
    (``ledger.refills``) and a kind of the runner's work (``worker.auto_top_ups``). At most one
    is due per wallet (``ix_auto_top_up_runs_one_due``): a store fact, whatever races. ``status``:
    ``due`` (until charged or given up), ``done``, ``failed``; ``outcome`` says which way
    (``credited``, ``capped``, ``refused``, ``off``…); ``order_id`` its funding order."""

    __tablename__ = "auto_top_up_runs"
    __table_args__ = (
        Index("ix_auto_top_up_runs_due", "status", "next_attempt_at"),
        Index(
            "ix_auto_top_up_runs_one_due",
            "wallet_id",
            unique=True,
            postgresql_where=text(AUTO_TOP_UP_DUE),
            sqlite_where=text(AUTO_TOP_UP_DUE),
        ),
        Index("ix_auto_top_up_runs_wallet_created", "wallet_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    wallet_id: Mapped[str] = mapped_column(ForeignKey("wallets.id"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    env: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(20))
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    month: Mapped[str | None] = mapped_column(String(7))  # the month whose cap it counts in
    order_id: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer)
    generation: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
