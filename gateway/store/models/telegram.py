"""Telegram: linked chats, their link codes, and the outbox of calls to the Bot API
(``gateway.telegram``)."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

__all__ = ["TelegramChat", "TelegramLinkCode", "TelegramMessage"]


class TelegramChat(Base):
    """A Telegram chat a member linked to a merchant (``gateway.telegram``): the member
    (``user_id``) and the Telegram user who sent the link code, whose presses alone decide."""

    __tablename__ = "telegram_chats"
    __table_args__ = (
        UniqueConstraint("merchant_id", "user_id", "chat_id"),
        Index("ix_telegram_chats_chat_id", "chat_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    # The last relayed event of the merchant this chat was told of (``telegram.alerts``):
    # ids sort by time, so the next are those after it.
    alerted_through: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]


class TelegramLinkCode(Base):
    """A one-time code a member sends the bot (``/start <code>``) to link a chat: only its
    keyed hash, single use, expiring."""

    __tablename__ = "telegram_link_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class TelegramMessage(Base):
    """A call to the Bot API (``sendMessage``, ``answerCallbackQuery``, ``editMessageText``),
    a row of the common queue shape the worker sends; its method and parameters sealed (a
    button's callback data decides)."""

    __tablename__ = "telegram_messages"
    __table_args__ = (Index("ix_telegram_messages_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str | None] = mapped_column(String(40))
    call_sealed: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int]
    generation: Mapped[int]
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
