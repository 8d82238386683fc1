"""The mail outbox."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

__all__ = ["Mail"]


class Mail(Base):
    """An e-mail in the outbox, written in the transaction of the change that causes it.

    ``status``: ``queued`` (due at ``next_attempt_at``), ``sent``, ``failed`` (its schedule
    exhausted; ``last_error`` says why), ``staged`` (staging: kept in the staging mailbox,
    never sent), or ``held`` (over a cap on voucher mails, or the caps not counted,
    ``mail.caps``: never sent; ``last_error`` says which). A ``voucher`` mail names its top-up
    and is rendered from it, so neither the address nor the voucher is copied here; any other
    mail holds its address (``to_sealed``) and its values (``data_sealed``, JSON) sealed.
    ``env`` and ``merchant_id`` are null for a mail to a dashboard user (a password reset)."""

    __tablename__ = "mails"
    __table_args__ = (
        Index("ix_mails_due", "status", "next_attempt_at"),
        Index("ix_mails_merchant_env_id", "merchant_id", "env", "id"),
        Index("ix_mails_topup_id", "topup_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str | None] = mapped_column(String(10))
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"))
    kind: Mapped[str] = mapped_column(String(20))  # voucher, recipient_link, password_reset
    # Not a foreign key: the send writes its mail in the same plan as its top-up, in either order.
    topup_id: Mapped[str | None] = mapped_column(String(40))
    to_sealed: Mapped[str | None] = mapped_column(Text)
    data_sealed: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    # The lease stamp (``store.queue``), as a delivery's.
    generation: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
