"""Wallets and their ledger. The ledger is append-only: a wallet's ``balance_cents`` always
equals the sum of its ``ledger_entries``."""

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..types import AutoBigInt
from .base import Base

__all__ = ["GRANT_LIVE", "CreditDraw", "CreditGrant", "LedgerEntry", "Wallet"]


class Wallet(Base):
    """A merchant's wallet (``owner`` ``m:<merchant id>``) or a recipient's at one merchant
    (``owner`` ``r:<merchant id>:<platform>:<email>``), one per environment."""

    __tablename__ = "wallets"
    __table_args__ = (
        UniqueConstraint("env", "owner"),
        CheckConstraint("balance_cents >= 0", name="balance_not_negative"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    owner: Mapped[str] = mapped_column(String(300))
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"))
    platform: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    balance_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # A merchant wallet's own low-balance threshold (its environment's); null: the merchant's.
    low_balance_threshold_cents: Mapped[int | None] = mapped_column(BigInteger)
    # How many ledger entries the wallet has: moved by the same statement that moves the
    # balance (``ledger.service``), so a ledger's total is read here, never counted.
    entry_count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # A merchant wallet's auto top-up threshold while it is armed (``billing.auto_top_up``),
    # else null: kept on the row the debit updates, so a debit that does not cross it reads
    # nothing more (``ledger.refills``).
    auto_top_up_below: Mapped[int | None] = mapped_column(BigInteger)
    # When a person froze this merchant wallet's environment (the kill switch, ``freezes``);
    # null: not frozen. Every credential of the environment is refused while it is set, and
    # every payment's debit is conditional on it, so a send orders against the freeze here.
    frozen_at: Mapped[datetime | None]
    # A merchant wallet's debits not yet drawn from its credit grants (``ledger.grants``):
    # a debit adds to it on the row it already writes, and the next change of the grants (a
    # credit, a void, an expiry) or a look at them draws it first, so the balance is always
    # the live grants' remainders less it.
    undrawn_cents: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # And what the settles drew of its debits in all: a debit's place in that running total is
    # what its ledger entry keeps (``ledger_entries.drawn_through``), so its give-back finds the
    # grants it was drawn from (``credit_draws``).
    drawn_cents: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # A merchant wallet's low-balance levels (``ledger.alerts``), a JSON list of cents; null:
    # its one ``low_balance_threshold_cents`` (or the merchant's).
    low_thresholds_cents: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True))
    # Where its alerts stand, moved by the debit and the credits that cross a level: the lowest
    # level told since the balance was last on the safe side (null: on it), the highest level
    # the first debit below crossed (what a credit must reach to recover), and the last alert's
    # event, which says to the write that made it that it did.
    low_told_cents: Mapped[int | None] = mapped_column(BigInteger)
    low_from_cents: Mapped[int | None] = mapped_column(BigInteger)
    low_event: Mapped[str | None] = mapped_column(String(40))


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_wallet_id_id", "wallet_id", "id"),)

    id: Mapped[int] = mapped_column(AutoBigInt, primary_key=True, autoincrement=True)
    wallet_id: Mapped[str] = mapped_column(ForeignKey("wallets.id"))
    env: Mapped[str] = mapped_column(String(10))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    # What moved the money: topup_debit, topup_credit, topup_refund, initial_funding,
    # sandbox_fund, adjustment, checkout, redemption, voucher_redeemed (a recipient's wallet).
    kind: Mapped[str] = mapped_column(String(30))
    # The txn_/ord_/adj_… the entry belongs to, so a reversal can point at what it reverses.
    reference: Mapped[str | None] = mapped_column(String(60), index=True)
    memo: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    number: Mapped[int] = mapped_column(BigInteger)  # 1, 2, 3, … in its wallet (``ledger``)
    # A merchant wallet's debit that can be given back (a send, a payment, an app's charge):
    # its wallet's debits in all through this one (``drawn_cents + undrawn_cents`` after it),
    # the end of its span in the draws (``credit_draws``); null for every other entry.
    drawn_through: Mapped[int | None] = mapped_column(BigInteger)


# A grant still holding credit: what a debit draws from, and the expiry sweep looks at.
GRANT_LIVE = "remaining_cents > 0"


class CreditGrant(Base):
    """A credit in a merchant wallet (``ledger.grants``): the wallet's balance is the sum of its
    grants' ``remaining_cents`` less its ``undrawn_cents``. Debits are drawn from them in the
    draw order before they next change; a void or an expiry takes the remainder out
    (``removed_cents``, with its ledger entry)."""

    __tablename__ = "credit_grants"
    __table_args__ = (
        CheckConstraint("remaining_cents >= 0 AND remaining_cents <= amount_cents", name="within"),
        CheckConstraint("category IN ('paid', 'promotional', 'plan')", name="category"),
        Index(
            "ix_credit_grants_live",
            "wallet_id",
            postgresql_where=text(GRANT_LIVE),
            sqlite_where=text(GRANT_LIVE),
        ),
        Index(
            "ix_credit_grants_expiring",
            "expires_at",
            postgresql_where=text(f"{GRANT_LIVE} AND expires_at IS NOT NULL"),
            sqlite_where=text(f"{GRANT_LIVE} AND expires_at IS NOT NULL"),
        ),
        Index("ix_credit_grants_wallet_created", "wallet_id", "created_at"),
    )

    # ``cg_<wallet>_<n>``: made by entry ``n`` of its wallet's ledger, so no change that makes
    # one needs an id of its own.
    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    wallet_id: Mapped[str] = mapped_column(ForeignKey("wallets.id"))
    env: Mapped[str] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(String(20))
    priority: Mapped[int] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    remaining_cents: Mapped[int] = mapped_column(BigInteger)
    effective_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    # What a void or an expiry took out of the wallet, and when (at most one of the two).
    removed_cents: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    voided_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class CreditDraw(Base):
    """What a settle drew from one grant (``ledger.grants.settle``): the span
    ``[from_cents, to_cents)`` of its wallet's debits in all, as they were drawn in the draw
    order. A debit's give-back restores the grants whose spans meet its own
    (``ledger.giveback``)."""

    __tablename__ = "credit_draws"
    __table_args__ = (Index("ix_credit_draws_wallet_to", "wallet_id", "to_cents"),)

    id: Mapped[int] = mapped_column(AutoBigInt, primary_key=True, autoincrement=True)
    wallet_id: Mapped[str] = mapped_column(ForeignKey("wallets.id"))
    grant_id: Mapped[str] = mapped_column(ForeignKey("credit_grants.id"))
    from_cents: Mapped[int] = mapped_column(BigInteger)
    to_cents: Mapped[int] = mapped_column(BigInteger)
