"""Events and their webhooks. Events and deliveries are the outbox: written in the same
transaction as the change they report, and the truth for the worker. Beside them the
endpoints, pollers, attempts, the test inbox and replay jobs."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
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

__all__ = [
    "BATCHED",
    "DELIVERY_FILLFACTOR",
    "HELD_BY_THROTTLE",
    "ORDERED_HEAD",
    "RELAYED_EVENTS",
    "RELAYED_TYPES",
    "DeliveryAttempt",
    "Event",
    "OperationalCount",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookFiltered",
    "WebhookInbox",
    "WebhookInboxRequest",
    "WebhookPoller",
    "WebhookReplayJob",
]

# The events Telegram relays (``telegram.alerts``): a chat's next ones are read from these
# alone, not from every event its merchant wrote since the last. The index keeps its first
# name, from when it held ``balance.low`` alone (migration 0067 widened it to the windows').
RELAYED_TYPES = (
    "balance.low",
    "balance.recovered",
    "key.budget_threshold",
    "key.budget_recovered",
    "budget.threshold",
    "budget.recovered",
)
RELAYED_EVENTS = "type IN (" + ", ".join(f"'{t}'" for t in RELAYED_TYPES) + ")"


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_merchant_env_id", "merchant_id", "env", "id"),
        Index(
            "ix_events_balance_low",
            "merchant_id",
            "id",
            postgresql_where=text(RELAYED_EVENTS),
            sqlite_where=text(RELAYED_EVENTS),
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
    # Where its deliveries go (``webhooks.destinations``): ``http`` POSTs to ``url``; a broker's
    # type publishes to the destination object, sealed whole as the secret is (its URL may hold
    # credentials), and shown on reads with its secrets masked; ``url`` then holds the broker's
    # address masked, which the lists and the operational events show.
    destination_type: Mapped[str] = mapped_column(
        String(20), nullable=False, default="http", server_default="http"
    )
    destination_sealed: Mapped[str | None] = mapped_column(Text)
    destination_shown: Mapped[str | None] = mapped_column(Text)
    # The payload filter (``values.payload_filters``): its compact JSON, which SQLite's fan-out
    # matches with the rule itself, and its SQL/JSON path, which PostgreSQL's matches; both
    # null for none.
    filter: Mapped[str | None] = mapped_column(Text)
    filter_path: Mapped[str | None] = mapped_column(Text)


class WebhookFiltered(Base):
    """An event an endpoint's filter dropped: the fan-out wrote it no delivery, and the
    endpoint's stats count these over a range. A row each, never one counter updated, so two
    events of one statement (a send and the low balance it crossed) never write the same row;
    its key serves the stats' range, and the retention drops them with the deliveries."""

    __tablename__ = "webhook_filtered"

    endpoint_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), primary_key=True)


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
