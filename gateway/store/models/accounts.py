"""The people who sign in to the dashboard: users, their memberships of merchants,
invitations, sessions and password resets (``gateway.accounts``)."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

__all__ = ["DashboardSession", "MerchantInvitation", "MerchantUser", "PasswordReset", "User"]


class User(Base):
    """A person who signs in to the dashboard. ``email`` is canonical (lower-cased);
    ``password_hash`` is argon2id, null until the user sets one (an invited user)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # Hash of a one-time password-set token (an invitation), and when it stops working.
    setup_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    setup_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # The language this person reads the dashboard in (``values.languages``); null: the browser's.
    language: Mapped[str | None] = mapped_column(String(8))


class MerchantUser(Base):
    """Membership: which users act for which merchant (several users a merchant)."""

    __tablename__ = "merchant_users"
    __table_args__ = (Index("ix_merchant_users_user_id", "user_id"),)

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))  # accounts.roles.ROLES
    created_at: Mapped[datetime]


class MerchantInvitation(Base):
    """An invitation of a user who already has an account: it grants nothing until that user,
    signed in, accepts it through its one-time link (then it becomes a ``MerchantUser`` row).
    The link is the proof that whoever accepts reads the invited address; the store keeps only
    its token's SHA-256. One made before links existed has none, and cannot be accepted."""

    __tablename__ = "merchant_invitations"
    __table_args__ = (
        Index("ix_merchant_invitations_user_id", "user_id"),
        Index("ix_merchant_invitations_token_hash", "token_hash", unique=True),
    )

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    created_at: Mapped[datetime]
    role: Mapped[str] = mapped_column(String(20), server_default="owner")
    token_hash: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]


class DashboardSession(Base):
    """A dashboard session. The cookie holds the id; the store holds only its SHA-256, so a
    copy of the table signs nobody in."""

    __tablename__ = "dashboard_sessions"
    __table_args__ = (
        Index("ix_dashboard_sessions_user_id", "user_id"),
        Index("ix_dashboard_sessions_expires_at", "expires_at"),
    )

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    env: Mapped[str] = mapped_column(String(10))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class PasswordReset(Base):
    """A password-reset link: only its token's SHA-256, single use (``used_at``), expiring."""

    __tablename__ = "password_resets"
    __table_args__ = (Index("ix_password_resets_user_id", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
