"""What bounds a key: its spend windows, the budgets keys share, the policy templates they
name (``gateway.policies``, ``gateway.budgets``)."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..types import AutoBigInt
from .base import Base

__all__ = ["ALERT_DUE", "Budget", "KeySpend", "PolicyTemplate", "PolicyTemplateChange"]

# A window a send took past its soft line, whose ``key.budget_low`` is not written yet
# (``policies.spend.alert``). Neither column changes on an ordinary count, so the partial index
# on it leaves those updates HOT on PostgreSQL.
ALERT_DUE = "alerted_by IS NOT NULL AND alert_event_id IS NULL"


class KeySpend(Base):
    """What a key has spent in one window (``bucket``: ``daily:2026-11-23``, ``all_time``,
    ``recipient:monthly:2026-11-01:ada@example.com``…). The limit travels with every upsert, so
    the CHECK refuses the statement that would pass it: the count and the check are one write."""

    __tablename__ = "key_spend"
    __table_args__ = (
        CheckConstraint("spent_cents <= limit_cents", name="within_limit"),
        CheckConstraint("spent_cents >= 0", name="spent_not_negative"),
        Index(
            "ix_key_spend_alert_due",
            "key_id",
            postgresql_where=text(ALERT_DUE),
            sqlite_where=text(ALERT_DUE),
        ),
    )

    # Whose windows: a key's (its id), or a budget's that keys and consents share (its id,
    # ``budgets.id``). No foreign key, so both count by the one statement and the one CHECK.
    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(300), primary_key=True)
    spent_cents: Mapped[int] = mapped_column(BigInteger)
    limit_cents: Mapped[int] = mapped_column(BigInteger)
    # Where ``key.budget_low`` is due in this window (none: no soft limit); travels like the limit.
    soft_cents: Mapped[int | None] = mapped_column(BigInteger)
    # The top-up that took this window past its soft line (once a window), and the
    # ``key.budget_low`` event that reported it.
    alerted_by: Mapped[str | None] = mapped_column(String(40))
    alert_event_id: Mapped[str | None] = mapped_column(String(40))
    # Where the window's levels stand (``policies.thresholds``): the highest level told in it
    # (null: none, or recovered since), and the next line a count marks it at (null: its
    # ``soft_cents``, the lowest level). Moved by the alert, never by an ordinary count.
    told_cents: Mapped[int | None] = mapped_column(BigInteger)
    next_cents: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class Budget(Base):
    """A budget several keys and consents of one merchant and environment draw on (their
    policies' ``budgets``): its windows (``policies.model.BudgetLimits`` as JSON) are counted in
    ``key_spend`` under the budget's id, by the same statement as a key's own. A ``frozen``
    budget admits nothing."""

    __tablename__ = "budgets"
    __table_args__ = (Index("ix_budgets_merchant_env", "merchant_id", "env"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    env: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    windows: Mapped[dict[str, Any]] = mapped_column(JSON())
    # The shares of each window's limit its alerts are told at (a JSON list); null: none.
    thresholds_percent: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True))
    frozen: Mapped[bool] = mapped_column(Boolean, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PolicyTemplate(Base):
    """A named policy of one merchant and environment that keys and consents name in their own
    (``api_keys.template_id``): each acts under it, narrowed by its own fields."""

    __tablename__ = "policy_templates"
    __table_args__ = (Index("ix_policy_templates_merchant_env", "merchant_id", "env"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    env: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PolicyTemplateChange(Base):
    """One change to a template (made, changed, deleted): who, when, and the policy before and
    after, written in the transaction of the change. Kept after the template is deleted."""

    __tablename__ = "policy_template_changes"
    __table_args__ = (Index("ix_policy_template_changes_template_id", "template_id"),)

    id: Mapped[int] = mapped_column(AutoBigInt, primary_key=True, autoincrement=True)
    template_id: Mapped[str] = mapped_column(String(40))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    env: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))
    name_before: Mapped[str | None] = mapped_column(String(100))
    name_after: Mapped[str | None] = mapped_column(String(100))
    policy_before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    policy_after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
