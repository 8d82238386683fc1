"""API keys, and the idempotency keys each one used."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..types import AutoBigInt
from .base import Base

__all__ = ["MANAGED_LIVE", "ApiKeyRow", "IdempotencyRecord"]

MANAGED_LIVE = "managed_by IS NOT NULL AND revoked_at IS NULL"


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        Index(
            "uq_api_keys_managed_live",
            "managed_by",
            unique=True,
            postgresql_where=text(MANAGED_LIVE),
            sqlite_where=text(MANAGED_LIVE),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    env: Mapped[str] = mapped_column(String(10))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(100))
    # The key's policy (``gateway.policies.Policy`` as JSON); null for a key made before
    # policies existed, which keeps every scope and no limit.
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    # A consent given to an OAuth app (``gateway.apps``): the key its tokens act as, never
    # presented itself; null for a key a merchant made. No foreign key: on SQLite adding one
    # copies the table every top-up references; apps and users are never deleted.
    app_id: Mapped[str | None] = mapped_column(String(40), index=True)
    # The dashboard user who gave the consent, or made the key on the dashboard: it ends when
    # they leave or their role could no longer give it (``accounts.members.end_given``). Null
    # for a key made by the CLI, the operator, another key or an app.
    granted_by: Mapped[str | None] = mapped_column(String(40))
    # Made by someone who may not see spendable codes (a dashboard role that does not reveal
    # them, or a key that hides them): the key sees none either, the gateway's own voucher
    # included, on every door (``Caller.sees_codes``). Set when the key is made, never lifted.
    hides_codes: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # The policy template that bounds this key or consent (``policy.template``, kept beside it
    # so a template's references are one indexed read and the caller's read joins it). No
    # foreign key, as ``app_id`` has none: a template is never deleted while referenced.
    template_id: Mapped[str | None] = mapped_column(String(40), index=True)
    # The consent (``api_keys.id`` with ``app_id``) whose app made this key through its
    # ``keys:manage`` scope (``apps.managed``): revoked with it. At most one live per consent,
    # a partial unique index. No foreign key, as ``app_id`` has none.
    managed_by: Mapped[str | None] = mapped_column(String(40))


class IdempotencyRecord(Base):
    """An idempotency key as one API key used it: keys are the API key's own, never shared by
    the merchant's other keys (``gateway.idempotency``)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("api_key_id", "env", "key"),)

    id: Mapped[int] = mapped_column(AutoBigInt, primary_key=True, autoincrement=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"))
    env: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    # The values a keyed payment's own statement filled into its answer, as JSON text, when the
    # rest was sealed before it ran (``idempotency.answer_step``): balances, a mail's status.
    filled: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
