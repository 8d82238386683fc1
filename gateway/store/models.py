"""Every table. Money is integer cents; every row that belongs to an environment says which.

The ledger is append-only: a wallet's ``balance_cents`` always equals the sum of its
``ledger_entries``. Events and deliveries are the outbox: written in the same transaction as the
change they report, and the truth for the worker.
"""

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..values import statuses
from .types import AutoBigInt, UTCDateTime

__all__ = [
    "Adjustment",
    "ApiKeyRow",
    "AuditRecord",
    "Base",
    "BillingProfile",
    "Budget",
    "Charge",
    "CheckIn",
    "CheckInConfig",
    "Coupon",
    "CouponUse",
    "DashboardSession",
    "DeliveryAttempt",
    "Event",
    "Fulfilment",
    "FulfilmentSetting",
    "FundingOrder",
    "IdempotencyRecord",
    "KeySpend",
    "LedgerEntry",
    "Mail",
    "Merchant",
    "MerchantInvitation",
    "MerchantUser",
    "OAuthApp",
    "OAuthCode",
    "OAuthToken",
    "OperationalCount",
    "Pack",
    "PasswordReset",
    "Plan",
    "PolicyTemplate",
    "PolicyTemplateChange",
    "Receipt",
    "ReceiptSeries",
    "RecipientLinkRevocation",
    "RedemptionCode",
    "SandboxClock",
    "Subscription",
    "SubscriptionFailure",
    "SubscriptionInvoice",
    "Topup",
    "UpstreamKey",
    "User",
    "VoucherRedemption",
    "Wallet",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookInbox",
    "WebhookInboxRequest",
    "table_of",
]

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


def table_of(model: type[Base]) -> Table:
    """The Core table of a model, typed for ``insert``/``update``/``delete``."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # A label: two merchants may share one. Authority goes by id, never by name.
    name: Mapped[str] = mapped_column(String(200))
    low_balance_threshold_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    # The merchant's switch for the voucher e-mail to its recipients (``gateway.mail``).
    notify_recipients: Mapped[bool] = mapped_column(Boolean, server_default=true())
    # The name people see in e-mails and on the dashboard; ``name`` when unset.
    display_name: Mapped[str | None] = mapped_column(String(200))
    # The operator's override of ``AITOPUP_RETENTION_DAYS`` for this merchant; null: the default.
    retention_days: Mapped[int | None] = mapped_column(Integer)
    # The daily limit a consent to an unverified app gets unless the person widens it
    # (``apps.grants.consent_defaults``); null: ``AITOPUP_UNVERIFIED_APP_DAILY_CENTS``.
    unverified_app_daily_cents: Mapped[int | None] = mapped_column(BigInteger)
    # The language its recipients' page and e-mails are in (``values.languages``); null: each
    # reader's browser's, else English.
    language: Mapped[str | None] = mapped_column(String(8))


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
    frozen: Mapped[bool] = mapped_column(Boolean, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


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
    created_at: Mapped[datetime]


# The events Telegram relays (``telegram.alerts``): a chat's next ones are read from these
# alone, not from every event its merchant wrote since the last.
BALANCE_LOW_EVENTS = "type = 'balance.low'"


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_merchant_env_id", "merchant_id", "env", "id"),
        Index(
            "ix_events_balance_low",
            "merchant_id",
            "id",
            postgresql_where=text(BALANCE_LOW_EVENTS),
            sqlite_where=text(BALANCE_LOW_EVENTS),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    type: Mapped[str] = mapped_column(String(60))
    # The exact JSON body every delivery of this event sends, so retries sign the same bytes.
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_merchant_env", "merchant_id", "env"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    # ",topup.delivered,balance.low," or "" for every event: one LIKE matches on both backends.
    event_types: Mapped[str] = mapped_column(String(1000))
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    secret_sealed: Mapped[str] = mapped_column(Text)
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]
    # When the owners were warned that this run of failures will disable it: once a run, so
    # cleared with ``failing_since``.
    failing_warned_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Standard Webhooks v1a: hmac (the secret above), ed25519 (the keypair below) or both. The
    # private key sealed like the secret; the public key readable by the owner; rotated with the
    # same overlap.
    signing: Mapped[str] = mapped_column(String(10), server_default="hmac")
    signing_key_sealed: Mapped[str | None] = mapped_column(Text)
    signing_public_key: Mapped[str | None] = mapped_column(String(60))
    previous_signing_key_sealed: Mapped[str | None] = mapped_column(Text)
    previous_signing_public_key: Mapped[str | None] = mapped_column(String(60))
    previous_signing_key_expires_at: Mapped[datetime | None]
    # JSON: [{"name", "value"} | {"name", "secret": true, "sealed"}], sent on every attempt.
    custom_headers: Mapped[str | None] = mapped_column(Text)
    # At most this many deliveries a second (null: unthrottled), and the endpoint's next free
    # slot in microseconds since the epoch: an integer, so a lease reserves its slots with one
    # portable UPDATE on both stores (``webhooks.throttle``).
    throttle_per_second: Mapped[int | None] = mapped_column(Integer)
    throttle_next_us: Mapped[int | None] = mapped_column(BigInteger)
    # Which retry schedule its deliveries follow: ``standard`` (``webhook_retry_schedule``) or
    # ``long`` (``webhook_long_retry_schedule``).
    retry_schedule: Mapped[str] = mapped_column(
        String(10), nullable=False, default="standard", server_default="standard"
    )
    # Its deliveries go one at a time, in the order they were written: the next waits until
    # the one before it succeeded or was given up (``worker.ordered``).
    ordered: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    # An ordered endpoint's events a request, 1 to ``webhooks.batches.MAX_BATCH_SIZE``: above 1,
    # each request carries a JSON array of up to this many, in order (``worker.ordered``).
    batch_size: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")


class WebhookPoller(Base):
    """A consumer that reads its merchant's events by iterator instead of receiving them
    (``webhooks.pollers``): its key is stored as a peppered hash, its signing secret sealed."""

    __tablename__ = "webhook_pollers"
    __table_args__ = (Index("ix_webhook_pollers_merchant_env", "merchant_id", "env"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    description: Mapped[str | None] = mapped_column(String(500))
    # As an endpoint's: ",topup.delivered,balance.low," or "" for every event.
    event_types: Mapped[str] = mapped_column(String(1000))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    secret_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class OperationalCount(Base):
    """How many operational events one scope made in its current window of an hour
    (``webhooks.health``): a merchant's in an environment, or one endpoint's messages given up.
    One row a scope, its window moved on by the write that counts, so no row outlives its use
    by more than one per scope."""

    __tablename__ = "webhook_operational_counts"

    scope: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[datetime]
    used: Mapped[int] = mapped_column(Integer)


# The deliveries an ordered endpoint's head is one of (``worker.ordered``). A delivery leaves
# them when it finishes, so the index stays as small as the work waiting.
ORDERED_HEAD = "status = 'pending' AND trigger = 'auto'"
HELD_BY_THROTTLE = "throttle_slot_us IS NOT NULL"
# The pending deliveries of ordered endpoints' batches (``worker.ordered``): no other delivery
# has a ``batch_head``, so a plain one is never in that index.
BATCHED = f"batch_head IS NOT NULL AND {ORDERED_HEAD}"
# The deliveries' pages are left half free: a row leased then has room for its new version on
# its own page, where a heap-only update must put it (migration 0056).
DELIVERY_FILLFACTOR = 50


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_merchant_env_id", "merchant_id", "env", "id"),
        # An endpoint's deliveries over a time range (``webhooks.stats``).
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
        # An ordered endpoint's head, its oldest pending delivery of an automatic run
        # (``worker.ordered``): the index holds only those, so the lookup reads none of the
        # endpoint's finished deliveries before it.
        Index(
            "ix_webhook_deliveries_ordered_head",
            "endpoint_id",
            "created_at",
            "id",
            postgresql_where=text(ORDERED_HEAD),
            sqlite_where=text(ORDERED_HEAD),
        ),
        # An endpoint's deliveries a throttle holds, which move to later slots together
        # (``webhooks.throttle``): read from the endpoint's, not from every endpoint's.
        Index(
            "ix_webhook_deliveries_held_endpoint",
            "endpoint_id",
            "id",
            postgresql_where=text(HELD_BY_THROTTLE),
            sqlite_where=text(HELD_BY_THROTTLE),
        ),
        # A batch's members, by its head (``worker.ordered``), not the endpoint's whole backlog.
        Index(
            "ix_webhook_deliveries_batch",
            "batch_head",
            "created_at",
            "id",
            postgresql_where=text(BATCHED),
            sqlite_where=text(BATCHED),
        ),
        # The deliveries a throttle holds to their slots, which the lease takes first. Keyed as
        # the due index is: on a table without statistics the planner took the due index for
        # the held rows too, reading every due row each lease (migration 0054).
        Index(
            "ix_webhook_deliveries_held",
            "status",
            "next_attempt_at",
            postgresql_where=text(HELD_BY_THROTTLE),
            sqlite_where=text(HELD_BY_THROTTLE),
        ),
        # Room on each page for a leased row's new version (``leased_until``).
        {"postgresql_with": {"fillfactor": DELIVERY_FILLFACTOR}},
    )

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    env: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    event_type: Mapped[str] = mapped_column(String(60))
    # pending (due at next_attempt_at), succeeded, failed (schedule exhausted).
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # What started the current run of attempts (auto, replay, test) and the attempt count when it
    # started: a replay is one more attempt, an automatic run follows the retry schedule.
    trigger: Mapped[str] = mapped_column(String(10), default="auto")
    run_start: Mapped[int] = mapped_column(Integer, default=0)
    # The lease stamp (``store.queue``): bumped by every lease and record, so a worker whose
    # lease lapsed and was taken again records nothing.
    generation: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The throttle slot (microseconds since the epoch) this delivery was put off to and holds:
    # the lease that takes it once due sends it in that slot instead of reserving another.
    throttle_slot_us: Mapped[int | None] = mapped_column(BigInteger)
    # The head of the batch this delivery was first sent in (an ordered endpoint's with
    # ``batch_size`` above 1): a batch retried is the same events, in the same request.
    batch_head: Mapped[str | None] = mapped_column(String(80))
    # When the lease that holds it ends (``store.queue``, ``Queue.lease_end``); NULL when none
    # does. In no index, on pages left half free (migration 0056), so that a lease rewrites
    # the row in place on PostgreSQL (a heap-only update) and writes no index entry.
    leased_until: Mapped[datetime | None]


class DeliveryAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id", "delivery_id", "attempt"),)

    id: Mapped[int] = mapped_column(AutoBigInt, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(10))  # auto, replay, test
    started_at: Mapped[datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2048))
    request_headers: Mapped[dict[str, Any]]
    request_body: Mapped[str] = mapped_column(Text)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict[str, Any] | None]
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(500))


class WebhookInbox(Base):
    """A staging merchant's test inbox: the token in its URL, looked up by its hash and kept
    sealed for showing it back (``gateway.webhooks.inbox``)."""

    __tablename__ = "webhook_inboxes"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class WebhookInboxRequest(Base):
    """One request the test inbox received, kept a day and at most a number per merchant."""

    __tablename__ = "webhook_inbox_requests"
    __table_args__ = (Index("ix_webhook_inbox_requests_merchant_id", "merchant_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    method: Mapped[str] = mapped_column(String(10))
    received_at: Mapped[datetime]
    # {"headers": [[name, value], ...]}: in order, repeats kept, capped.
    headers: Mapped[dict[str, Any]]
    body: Mapped[str] = mapped_column(Text)
    body_bytes: Mapped[int] = mapped_column(Integer)
    # verified, failed, unsigned, no_endpoint; the endpoint that verified it; why not.
    signature: Mapped[str] = mapped_column(String(20))
    endpoint_id: Mapped[str | None] = mapped_column(String(40))
    signature_detail: Mapped[str | None] = mapped_column(String(200))


class WebhookReplayJob(Base):
    """A replay of a filtered set of deliveries as one job (``webhooks.replays``): the filter is
    kept as it was asked (JSON), and the runner replays its deliveries in bounded batches
    (``worker.replays``), each batch in the transaction that moves ``cursor`` past it.

    ``status``: ``pending`` (due at ``next_attempt_at``), ``done``, ``failed``. ``matched``:
    the deliveries the filter found when the job was made; ``enqueued``: those made due again
    so far (one still pending when its batch ran is left to its own run)."""

    __tablename__ = "webhook_replay_jobs"
    __table_args__ = (
        Index("ix_webhook_replay_jobs_due", "status", "next_attempt_at"),
        Index("ix_webhook_replay_jobs_merchant_env_id", "merchant_id", "env", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    filter: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    matched: Mapped[int] = mapped_column(Integer)
    enqueued: Mapped[int] = mapped_column(Integer)
    # The last delivery id a batch went past: the next batch starts after it.
    cursor: Mapped[str | None] = mapped_column(String(80))
    attempts: Mapped[int] = mapped_column(Integer)
    # The lease stamp (``store.queue``), as a delivery's.
    generation: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


# --- billing and admin ---


class Pack(Base):
    """A prepaid pack on sale. ``credits`` are the seed's units (1,000 per dollar of top-ups);
    ``credit_cents`` is what lands in the wallet."""

    __tablename__ = "packs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    credits: Mapped[int] = mapped_column(BigInteger)
    credit_cents: Mapped[int] = mapped_column(BigInteger)
    popular: Mapped[bool] = mapped_column(Boolean)
    active: Mapped[bool] = mapped_column(Boolean)
    sort_order: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Coupon(Base):
    """Percent or fixed amount off a pack's price at checkout; the credits stay whole."""

    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint("(percent_off IS NULL) <> (amount_off_cents IS NULL)", name="one_discount"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # What the merchant types, stored upper-cased. Not a secret: coupons are shared on purpose.
    code: Mapped[str] = mapped_column(String(40), unique=True)
    percent_off: Mapped[int | None] = mapped_column(Integer)
    amount_off_cents: Mapped[int | None] = mapped_column(BigInteger)
    pack_id: Mapped[str | None] = mapped_column(ForeignKey("packs.id"))
    expires_at: Mapped[datetime | None]
    # Per environment: ``coupon_uses`` counts each env's uses against it apart.
    max_uses: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CouponUse(Base):
    """How many uses of a coupon one environment holds: reserved at checkout, given back when
    the order fails or expires. Counted per env, so a staging sandbox checkout never takes a use
    a live payer could have had."""

    __tablename__ = "coupon_uses"

    coupon_id: Mapped[str] = mapped_column(ForeignKey("coupons.id"), primary_key=True)
    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    uses: Mapped[int] = mapped_column(Integer)


class FundingOrder(Base):
    """One attempt to put money into a merchant wallet: a checkout (Stripe or the staging
    sandbox) or a redemption. The funding history is this table."""

    __tablename__ = "funding_orders"
    __table_args__ = (
        Index("ix_funding_orders_merchant_env_id", "merchant_id", "env", "id"),
        Index("ix_funding_orders_status_expires_at", "status", "expires_at"),
        Index("ix_funding_orders_status_created_at", "status", "created_at"),
        # A provider's ids are its account's own: unique within the account the channel's
        # credentials name (``Credentials.account_id``), never across providers or accounts.
        UniqueConstraint(
            "channel",
            "env",
            "provider_account",
            "provider_session_id",
            name="uq_funding_orders_provider_session",
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    kind: Mapped[str] = mapped_column(String(20))  # checkout, redemption
    provider: Mapped[str] = mapped_column(String(20))  # stripe, sandbox, redemption, ...
    # The channel the payer chose (``billing.channels.registry``): the provider itself in live; in
    # staging the channel the sandbox stood in for. None for orders made before channels.
    channel: Mapped[str | None] = mapped_column(String(30))
    provider_session_id: Mapped[str | None] = mapped_column(String(255))
    # The account the channel's credentials named when the order was made ("" where they name
    # none in the clear: the channel and environment are then the account).
    provider_account: Mapped[str] = mapped_column(String(255), server_default=text("''"))
    checkout_url: Mapped[str | None] = mapped_column(Text)
    success_url: Mapped[str | None] = mapped_column(String(2048))
    cancel_url: Mapped[str | None] = mapped_column(String(2048))
    pack_id: Mapped[str | None] = mapped_column(ForeignKey("packs.id"))
    pack_name: Mapped[str | None] = mapped_column(String(100))
    coupon_id: Mapped[str | None] = mapped_column(ForeignKey("coupons.id"))
    credits: Mapped[int] = mapped_column(BigInteger)
    credit_cents: Mapped[int] = mapped_column(BigInteger)
    price_cents: Mapped[int] = mapped_column(BigInteger)
    discount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)  # what the payer is charged
    # A custom amount's discount tier (``billing.orders.pricing``); 0 for packs and redemptions.
    tier_percent: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    tier_discount_cents: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    currency: Mapped[str] = mapped_column(String(3))
    # What the payer is charged where the provider charges in its own currency (MyFatoorah's
    # KWD): integer minor units of ``charge_currency``, and the rate used (decimal text: units
    # of it per unit of ``currency``). None: the payer is charged ``amount_cents`` of
    # ``currency``. Either way the wallet is credited ``credit_cents``.
    charge_minor: Mapped[int | None] = mapped_column(BigInteger)
    charge_currency: Mapped[str | None] = mapped_column(String(3))
    charge_rate: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # pending, completed, failed, expired
    # What the provider last said (Stripe's session or invoice status), its payment intent or
    # invoice id, and when it was last looked up: reconciliation's view of the order.
    provider_payment_id: Mapped[str | None] = mapped_column(String(255))
    provider_status: Mapped[str | None] = mapped_column(String(40))
    checked_at: Mapped[datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    # Of ``amount_cents``, what was given back to the payer (``admin.refunds``): raised by one
    # conditional UPDATE that never passes ``amount_cents``.
    refunded_cents: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # An agent's x402 order: the signed payment and the requirement it meets (the facilitator's
    # ``{paymentPayload, paymentRequirements}``, JSON), so reconciliation can ask the settle
    # again when its answer was lost. It pays only the operator's address; None for the rest.
    payment_payload: Mapped[str | None] = mapped_column(Text)
    # An agent's order: the SHA-256 (hex) of the credential that claimed it, the only one that
    # may take its money (``agent_payments``); another presented for it is refused unasked.
    # None for the rest.
    credential_digest: Mapped[str | None] = mapped_column(String(64))
    # A pending checkout can be paid until then: the sandbox's TTL, or the Stripe session's own
    # expiry. None for redemptions, which complete at once.
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class OrderRefund(Base):
    """An operator's refund of a paid order (``admin.refunds``), written with the wallet's debit
    before the provider is asked, and a kind of the runner's work while its answer is not
    known (``worker.refunds``).

    ``amount_cents``: given back, in the order's currency; ``before_cents``: what of the order
    was refunded before it, which fixes what the provider is asked; ``debit_cents``: the credits
    it took from the wallet, given back if the provider refuses. ``status``: ``pending`` (due at
    ``next_attempt_at``), ``succeeded``, ``failed`` (its debit reversed). ``idempotency_key``
    is what every ask of the provider names, so a retry answers the refund already made."""

    __tablename__ = "order_refunds"
    __table_args__ = (Index("ix_order_refunds_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("funding_orders.id"), index=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    env: Mapped[str] = mapped_column(String(10))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    before_cents: Mapped[int] = mapped_column(BigInteger)
    debit_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    provider_refund_id: Mapped[str | None] = mapped_column(String(255))
    provider_status: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer)
    # The lease stamp (``store.queue``), as a delivery's.
    generation: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PaymentChannel(Base):
    """A payment channel as the operator set it for one environment: offered or not, and its
    credentials (the provider's ``Credentials`` as JSON, sealed; context channel and env).
    No row: the provider's own default (``Provider.enabled_by_default``)."""

    __tablename__ = "payment_channels"

    channel: Mapped[str] = mapped_column(String(30), primary_key=True)
    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    credentials_sealed: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class PaymentNotice(Base):
    """Every verified notification of a channel, once: the primary key is the dedupe on the
    channel's event id (Stripe's too, under ``stripe``)."""

    __tablename__ = "payment_notices"

    channel: Mapped[str] = mapped_column(String(30), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    outcome: Mapped[str] = mapped_column(String(30))
    received_at: Mapped[datetime]


class RedemptionCode(Base):
    __tablename__ = "redemption_codes"
    __table_args__ = (Index("ix_redemption_codes_batch_id", "batch_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(100))
    env: Mapped[str] = mapped_column(String(10))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    # Peppered HMAC of the code: the code itself is shown once, at creation.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_suffix: Mapped[str] = mapped_column(String(4))
    expires_at: Mapped[datetime | None]
    redeemed_at: Mapped[datetime | None]
    redeemed_by: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"))
    order_id: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    # An operator voided it: it can no longer be redeemed.
    voided_at: Mapped[datetime | None]
    voided_by: Mapped[str | None] = mapped_column(String(100))


class Adjustment(Base):
    """An operator's manual change to a merchant wallet: who, why, how much."""

    __tablename__ = "adjustments"
    __table_args__ = (Index("ix_adjustments_merchant_id", "merchant_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    env: Mapped[str] = mapped_column(String(10))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(400))
    actor: Mapped[str] = mapped_column(String(100))
    balance_after_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class AuditRecord(Base):
    """One row per admin call, written in the same transaction as the change it made."""

    __tablename__ = "admin_audit"
    __table_args__ = (Index("ix_admin_audit_target", "target_id"),)

    id: Mapped[int] = mapped_column(AutoBigInt, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    target_id: Mapped[str | None] = mapped_column(String(60))
    status_code: Mapped[int] = mapped_column(Integer)
    code: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None]
    request_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]


# --- merchant accounts (the dashboard) ---


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


# --- fulfilment ---


class FulfilmentSetting(Base):
    """Which provider fulfils a merchant's top-ups on one platform in one environment; no row
    means the built-in voucher. Credentials are sealed (context: merchant, env, platform) and
    never returned after saving."""

    __tablename__ = "fulfilment_settings"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    platform: Mapped[str] = mapped_column(String(20), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))  # voucher, newapi, openrouter
    base_url: Mapped[str | None] = mapped_column(String(2048))
    account: Mapped[str | None] = mapped_column(String(100))  # New API's user id
    credentials_sealed: Mapped[str | None] = mapped_column(Text)
    quota_per_usd: Mapped[int | None] = mapped_column(BigInteger)
    # Where recipients redeem (a public address a person opens) and one line on how.
    redeem_url: Mapped[str | None] = mapped_column(String(2048))
    redeem_instructions: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class VoucherRedemption(Base):
    """Where a merchant's users redeem its built-in voucher, and one line on how, in one
    environment: the voucher e-mail's and the recipient page's button and line. No row: the
    e-mail says only to hand the code to the merchant."""

    __tablename__ = "voucher_redemptions"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    redeem_url: Mapped[str | None] = mapped_column(String(2048))
    redeem_instructions: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime]


class Fulfilment(Base):
    """The outbox of upstream work: one row per top-up an upstream fulfils, written in the
    send's transaction. ``due`` until the upstream answered (or failed for good), taken by
    whoever moves ``next_attempt_at`` past now first; ``reference`` is ours, sent upstream, so
    a retry finds what an earlier try made."""

    __tablename__ = "fulfilments"
    __table_args__ = (Index("ix_fulfilments_due", "status", "next_attempt_at"),)

    topup_id: Mapped[str] = mapped_column(ForeignKey("topups.id"), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    env: Mapped[str] = mapped_column(String(10))
    provider: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(20))  # due, done, failed
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UpstreamKey(Base):
    """The one key an upstream (OpenRouter) holds for a recipient of a merchant in an
    environment: its limit is the absolute total delivered to them, so retries converge."""

    __tablename__ = "upstream_keys"
    __table_args__ = (UniqueConstraint("merchant_id", "env", "provider", "recipient_email"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    env: Mapped[str] = mapped_column(String(10))
    provider: Mapped[str] = mapped_column(String(20))
    recipient_email: Mapped[str] = mapped_column(String(254))
    label: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str | None] = mapped_column(String(200))
    key_sealed: Mapped[str | None] = mapped_column(Text)
    limit_cents: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RecipientLinkRevocation(Base):
    """When a merchant last ended every link to a recipient's page in an environment: a link
    made until ``revoked_at`` no longer opens the page or its live stream."""

    __tablename__ = "recipient_link_revocations"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    recipient_email: Mapped[str] = mapped_column(String(254), primary_key=True)
    revoked_at: Mapped[datetime]


# --- mail ---


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


class PasswordReset(Base):
    """A password-reset link: only its token's SHA-256, single use (``used_at``), expiring."""

    __tablename__ = "password_resets"
    __table_args__ = (Index("ix_password_resets_user_id", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class ApprovalLink(Base):
    """A held send's one-time decision token for one approver (``topup.approval_links``): only
    its keyed hash, spent once (``used_at``) and only through its ``door`` (``mail``: the
    e-mailed link's page; ``telegram``: a button's press), ending with the hold."""

    __tablename__ = "approval_links"
    __table_args__ = (Index("ix_approval_links_topup_id", "topup_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    topup_id: Mapped[str] = mapped_column(ForeignKey("topups.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    door: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


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
    # The last ``balance.low`` event of the merchant this chat was told of (``telegram.alerts``):
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


# --- Daily check-in and the staging test clock (``gateway.billing.checkin.daily``,
# ``gateway.billing.sandbox_clock``).


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


class SandboxClock(Base):
    """A staging merchant's test clock: how far ahead of real time its staging runs. Only
    moved forward; live never reads it."""

    __tablename__ = "sandbox_clocks"
    __table_args__ = (CheckConstraint("offset_seconds >= 0", name="forward_only"),)

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    offset_seconds: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class BillingProfile(Base):
    """A merchant's legal identity for its receipts: one per merchant (a business is one legal
    person whichever environment it pays in). A receipt keeps a copy as it was when paid."""

    __tablename__ = "billing_profiles"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    address_line1: Mapped[str] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    tax_id: Mapped[str | None] = mapped_column(String(50))
    updated_at: Mapped[datetime]


class ReceiptSeries(Base):
    """The last receipt number given in an environment: raised by one conditional write in the
    transaction that pays, so a payment rolled back gives its number back (no gap)."""

    __tablename__ = "receipt_series"

    env: Mapped[str] = mapped_column(String(10), primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger)


class Receipt(Base):
    """A paid order's number in its environment's series, and the billing profile as it was
    when paid (every profile column empty when the merchant had none). ``reference``: what
    was paid (an order id)."""

    __tablename__ = "receipts"
    __table_args__ = (
        UniqueConstraint("env", "number"),
        Index("ix_receipts_merchant_id", "merchant_id"),
    )

    reference: Mapped[str] = mapped_column(String(64), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    number: Mapped[int] = mapped_column(BigInteger)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    legal_name: Mapped[str | None] = mapped_column(String(200))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    tax_id: Mapped[str | None] = mapped_column(String(50))
    issued_at: Mapped[datetime]


# --- plans and subscriptions ---

# A subscription holds its merchant's one place in an environment while it is any of these
# (as the migration wrote the index).
SUBSCRIPTION_HOLDS = "status IN ('incomplete', 'active', 'past_due')"


class Plan(Base):
    """A subscription plan of one environment: its prices a month and a year (cents, USD) and
    the wallet credit each paid period brings. A live plan's Stripe product and prices are kept
    by id; a price that changes gets a new Stripe price (Stripe's prices never change)."""

    __tablename__ = "plans"
    __table_args__ = (Index("ix_plans_env_active", "env", "active"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500))
    price_monthly: Mapped[int] = mapped_column(BigInteger)
    price_yearly: Mapped[int] = mapped_column(BigInteger)
    credits_included: Mapped[int] = mapped_column(BigInteger)
    features: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean)
    sort_order: Mapped[int] = mapped_column(Integer)
    stripe_product_id: Mapped[str | None] = mapped_column(String(255))
    stripe_price_monthly_id: Mapped[str | None] = mapped_column(String(255))
    stripe_price_yearly_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Subscription(Base):
    """A merchant's subscription to a plan in one environment. At most one holds the merchant's
    place at a time (a unique partial index over ``SUBSCRIPTION_HOLDS``): ``incomplete`` from
    its checkout until it is paid or the checkout expires (``expires_at``), then ``active`` or
    ``past_due``, and ``canceled`` for good. ``provider`` is ``stripe`` or ``sandbox``;
    ``card_fails`` is the sandbox tester's card that will be declined."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        Index(
            "ix_subscriptions_holder",
            "merchant_id",
            "env",
            unique=True,
            postgresql_where=text(SUBSCRIPTION_HOLDS),
            sqlite_where=text(SUBSCRIPTION_HOLDS),
        ),
        Index("ix_subscriptions_provider_id", "provider_subscription_id", unique=True),
        Index("ix_subscriptions_status_period", "status", "current_period_end"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    env: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"))
    interval: Mapped[str] = mapped_column(String(10))  # "month" | "year"
    provider: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    provider_session_id: Mapped[str | None] = mapped_column(String(255))
    provider_subscription_id: Mapped[str | None] = mapped_column(String(255))
    provider_customer_id: Mapped[str | None] = mapped_column(String(255))
    checkout_url: Mapped[str | None] = mapped_column(String(2048))
    success_url: Mapped[str | None] = mapped_column(String(2048))
    cancel_url: Mapped[str | None] = mapped_column(String(2048))
    current_period_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean)
    card_fails: Mapped[bool] = mapped_column(Boolean)
    periods_paid: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime | None]
    # When the provider said what ``status`` is: an older report arriving later changes nothing.
    state_at: Mapped[datetime | None]
    checked_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SubscriptionInvoice(Base):
    """A paid period of a subscription, once: the primary key is the provider's invoice id, so
    however many times and in whatever order it is reported, one row, one credit."""

    __tablename__ = "subscription_invoices"
    __table_args__ = (Index("ix_subscription_invoices_subscription", "subscription_id"),)

    invoice_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"))
    env: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    plan_id: Mapped[str] = mapped_column(String(40))
    amount_paid_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    credit_cents: Mapped[int] = mapped_column(BigInteger)
    period_end: Mapped[datetime | None]
    paid_at: Mapped[datetime]


class SubscriptionFailure(Base):
    """A period of a subscription whose payment failed, once per invoice (the provider's
    invoice id, as ``subscription_invoices``' key): what the merchant's list shows as failed
    until the same invoice is paid, when its ``subscription_invoices`` row is the period."""

    __tablename__ = "subscription_failures"
    __table_args__ = (Index("ix_subscription_failures_merchant_env", "merchant_id", "env"),)

    invoice_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"))
    env: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    plan_id: Mapped[str] = mapped_column(String(40))
    amount_due_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    failed_at: Mapped[datetime]


# --- policy templates (``gateway.policies.templates``) ---


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
