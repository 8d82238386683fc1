"""Top-ups: the send's row, the approvers' one-time links of a held one, and the ends of the
links to a recipient's page."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from ...values import statuses
from ..held import Closing, closes
from .base import Base, table_of

__all__ = [
    "AWAITING_APPROVAL",
    "HELD_STATUSES",
    "SENDS_CLOSING",
    "ApprovalLink",
    "RecipientLinkRevocation",
    "Topup",
]

HELD_STATUSES = f"status IN {tuple(statuses.HOLDING)}"  # as the migration wrote the index
AWAITING_APPROVAL = "status = 'pending_approval'"


class Topup(Base):
    __tablename__ = "topups"
    __table_args__ = (
        Index("ix_topups_merchant_env_id", "merchant_id", "env", "id"),
        # A merchant's top-ups by recipient (their list, one recipient, an OpenRouter total);
        # the recipients list groups a merchant's top-ups by address, a page at a time: in this
        # order it reads only the page's recipients, not the merchant's whole history.
        Index("ix_topups_merchant_env_recipient", "merchant_id", "env", "recipient_email", "id"),
        # Partial: only the few top-ups still holding money are in these, so a send pays
        # nothing for them.
        Index(
            "ix_topups_held",
            "merchant_id",
            "env",
            postgresql_where=text(HELD_STATUSES),
            sqlite_where=text(HELD_STATUSES),
        ),
        Index(
            "ix_topups_approval_expires_at",
            "approval_expires_at",
            postgresql_where=text(AWAITING_APPROVAL),
            sqlite_where=text(AWAITING_APPROVAL),
        ),
        # A voucher presented for redemption is found by its digest (``Sealer.lookup``).
        Index("ix_topups_voucher_hash", "voucher_hash", unique=True),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"))
    platform: Mapped[str] = mapped_column(String(20))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    recipient_email: Mapped[str] = mapped_column(String(254))
    recipient_wallet_id: Mapped[str | None] = mapped_column(ForeignKey("wallets.id"))
    status: Mapped[str] = mapped_column(String(20))
    # Sealed: the voucher is the recipient's bearer secret.
    voucher_sealed: Mapped[str | None] = mapped_column(Text)
    # The built-in voucher's digest (``Sealer.lookup`` of its one form), which finds it when
    # presented for redemption; null for an upstream's code, and before delivery.
    voucher_hash: Mapped[str | None] = mapped_column(String(64))
    # When the merchant redeemed the built-in voucher for its recipient: once, never undone.
    redeemed_at: Mapped[datetime | None]
    recipient_balance_cents: Mapped[int | None] = mapped_column(BigInteger)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata")
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    # The key's spend windows this top-up was counted in, given back if it is refunded.
    spend_buckets: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    # A top-up held for approval (status ``pending_approval``) expires at this time.
    approval_expires_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(60))  # the key or user that decided
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The send's ``notify_recipient``: kept for a delivery that comes later (an approval).
    notify_recipient: Mapped[bool] = mapped_column(Boolean, server_default=true())


# A send held for approval, closed with its key: as its partial index of held windows writes
# its status (bound, the status would not prove the index's predicate).
SENDS_CLOSING = closes(Closing(table_of(Topup), text(AWAITING_APPROVAL)))


class ApprovalLink(Base):
    """A one-time decision token for one approver on what is held (``approvals.links``): a row
    of a kind of hold (``held_kind``, as the hold names itself: ``topup``, ``payment``, …) by
    its id (``held_id``). Only its keyed hash, spent once (``used_at``) and only through its
    ``door`` (``mail``: the e-mailed link's page; ``telegram``: a button's press), ending with
    the hold."""

    __tablename__ = "approval_links"
    __table_args__ = (Index("ix_approval_links_held", "held_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    held_kind: Mapped[str] = mapped_column(String(16))
    held_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    door: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class RecipientLinkRevocation(Base):
    """When a merchant last ended every link to a recipient's page in an environment: a link
    made until ``revoked_at`` no longer opens the page or its live stream."""

    __tablename__ = "recipient_link_revocations"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    recipient_email: Mapped[str] = mapped_column(String(254), primary_key=True)
    revoked_at: Mapped[datetime]
