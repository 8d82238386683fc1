"""OAuth apps, their codes and tokens, and the charges apps make (``gateway.apps``)."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

__all__ = ["Charge", "OAuthApp", "OAuthCode", "OAuthToken"]


class OAuthApp(Base):
    """A third party's app (an OAuth client). Registered by a merchant (``merchant_id``, its
    owner, paid by the app's charges), or by a client itself (``registered_by`` ``dynamic``:
    RFC 7591, no owner, unverified). A confidential app's secret is kept only as its peppered
    HMAC; after a rotation the previous one works until ``previous_secret_expires_at``."""

    __tablename__ = "oauth_apps"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    homepage_url: Mapped[str | None] = mapped_column(String(2048))
    logo_url: Mapped[str | None] = mapped_column(String(2048))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    confidential: Mapped[bool] = mapped_column(Boolean)
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[datetime | None]
    registered_by: Mapped[str] = mapped_column(String(20))
    verified: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    # A client known by its metadata document (``registered_by`` ``metadata``): the document's
    # URL, its ``client_id``, and when it was last read.
    client_id_url: Mapped[str | None] = mapped_column(String(2048))
    fetched_at: Mapped[datetime | None]


class OAuthCode(Base):
    """An authorization code: single use (``used_at``), short-lived, bound to its app, redirect
    URI, PKCE challenge and resource. The consent's key (``key_id``) exists from the moment the
    person approved; ``family_id`` names the tokens the code gave, revoked if it comes back."""

    __tablename__ = "oauth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("oauth_apps.id"), index=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    redirect_uri_given: Mapped[bool] = mapped_column(Boolean)
    code_challenge: Mapped[str] = mapped_column(String(128))
    resource: Mapped[str | None] = mapped_column(String(2048))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    family_id: Mapped[str] = mapped_column(String(40))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class OAuthToken(Base):
    """An access or refresh token, kept only as its peppered HMAC. It acts as its consent's key
    (``key_id``: scopes, policy, spend), for the resource it was asked for. A refresh token is
    used once (``used_at``); one used again revokes its whole family (every token descended
    from one code)."""

    __tablename__ = "oauth_tokens"
    __table_args__ = (Index("ix_oauth_tokens_family_id", "family_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # "access" | "refresh"
    app_id: Mapped[str] = mapped_column(ForeignKey("oauth_apps.id"), index=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    family_id: Mapped[str] = mapped_column(String(40))
    resource: Mapped[str | None] = mapped_column(String(2048))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    expires_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Charge(Base):
    """A fee an app charged a merchant through its consent (``key_id``): money from the payer's
    wallet to the app owner's, in one environment. Refunded at most once, whole or in part
    (``refunded_cents``, never past ``amount_cents``)."""

    __tablename__ = "charges"
    __table_args__ = (
        CheckConstraint("refunded_cents >= 0 AND refunded_cents <= amount_cents", name="refund"),
        Index("ix_charges_payer", "payer_merchant_id", "env", "id"),
        Index("ix_charges_app", "app_id", "env", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    app_id: Mapped[str] = mapped_column(ForeignKey("oauth_apps.id"))
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"))
    payer_merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    payee_merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    refunded_cents: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(String(500))
    metadata_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    refunded_at: Mapped[datetime | None]
