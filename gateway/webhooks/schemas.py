"""Wire models of the webhook routes: what requests must be, and what replies carry."""

from typing import Any, Literal, get_args

from pydantic import ConfigDict, Field, field_validator

from ..values.model import Model
from ..values.timestamps import Instant

__all__ = [
    "EVENT_TYPES",
    "MAX_HEADERS",
    "SIGNING_SCHEMES",
    "AttemptData",
    "CustomHeader",
    "CustomHeaderData",
    "DeliveriesQuery",
    "DeliveryData",
    "DeliveryDetail",
    "EndpointCreate",
    "EndpointData",
    "EndpointSecretData",
    "EndpointUpdate",
    "EndpointsQuery",
    "EventType",
    "ReplayFailedData",
    "ReplayFailedRequest",
    "ReplayJobCreate",
    "ReplayJobData",
    "ReplayJobFilter",
    "RotateRequest",
    "Signing",
    "TestData",
]

EventType = Literal[
    "topup.delivered",
    "topup.failed",
    "topup.cancelled",
    "topup.approval_required",
    "topup.approval_denied",
    "topup.approval_expired",
    "voucher.redeemed",
    "balance.low",
    "balance.recovered",
    "key.budget_low",
    "key.budget_threshold",
    "key.budget_recovered",
    "budget.threshold",
    "budget.recovered",
    "wallet.credited",
    "wallet.debited",
    "credit.expired",
    "order.paid",
    "checkin.credited",
    "charge.succeeded",
    "charge.refunded",
    "payment.pending_approval",
    "payment.authorized",
    "payment.used",
    "payment.released",
    "payment.failed",
    "payment.denied",
    "payment.expired",
    "subscription.created",
    "subscription.renewed",
    "subscription.past_due",
    "subscription.canceled",
    "endpoint.failing",
    "endpoint.disabled",
    "endpoint.recovered",
    "delivery.exhausted",
    "delivery.recovered",
    "delivery.skipped",
    "auto_top_up.disabled",
    "environment.frozen",
    "environment.unfrozen",
    "webhook.endpoint.disabled",
    "webhook.test",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
_MAX_ROTATION_OVERLAP = 7 * 24 * 3600
Signing = Literal["hmac", "ed25519", "both"]
RetrySchedule = Literal["standard", "long"]
SIGNING_SCHEMES: tuple[str, ...] = get_args(Signing)
MAX_HEADERS = 20


class _Strict(Model):
    model_config = ConfigDict(extra="forbid", strict=True)


def _known_types(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    unknown = sorted({t for t in value if t not in EVENT_TYPES})
    if unknown:
        raise ValueError(f"unknown event types {unknown}; known: {list(EVENT_TYPES)}")
    return sorted(set(value))


class CustomHeader(_Strict):
    """One header sent on every attempt. The rules a name and a value must meet, and their
    codes, are ``webhooks.headers``; the bounds here only keep a request small."""

    name: str = Field(min_length=1, max_length=256)
    value: str | None = Field(
        default=None,
        max_length=4096,
        description="Absent on a PATCH of a secret header: keep its stored value.",
    )
    secret: bool = Field(
        default=False, description="Sealed at rest, masked in every reply and in the delivery log."
    )


_SIGNING = Field(
    default=None,
    description="hmac (v1 with the whsec_ secret, the default), ed25519 (v1a, verified with the "
    "public key) or both.",
)
_THROTTLE = Field(
    default=None,
    description="At most this many deliveries a second to this endpoint, 1 to 1,000; null: "
    "unthrottled. Deliveries past the rate wait for their turn, untried.",
)
_HEADERS = Field(
    default=None,
    max_length=100,
    description=f"Up to {MAX_HEADERS} headers sent on every attempt; a PATCH replaces the list.",
)

_RETRY_SCHEDULE = (
    "Which retry schedule its deliveries follow: standard (immediately, 5 s, 30 s) or long "
    "(immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h)."
)
_ORDERED = (
    "true: its deliveries go one at a time, in the order their events were written; the next "
    "waits until the one before it succeeded or was given up (delivery.skipped tells of that)."
)

_BATCH_SIZE = (
    "An ordered endpoint's events a request, 1 to 100. Above 1, each request's body is a JSON "
    "array of up to this many events, oldest first, with a webhook-id of its own."
)

_FILTER = (
    "Only events whose body this payload filter passes are delivered (Hookdeck's shape: "
    "fields and the operators $eq, $neq, $gt, $gte, $lt, $lte, $in, $nin, $startsWith, $exist, "
    "$not, $and, $or; docs/webhooks.md#payload-filters); an event it drops gets no delivery "
    "and counts as filtered in the endpoint's stats. null (or {}): every event."
)


_TYPE = (
    "Where deliveries go: http (POSTed to url), rabbitmq, nats, redis_stream, sqs, "
    "eventbridge or pubsub (published to destination; the broker's acknowledgement is the "
    "attempt's outcome)."
)
_DESTINATION = (
    "The broker of a type other than http, with url its address: rabbitmq {url, exchange, "
    "routing_key}, nats {url, subject}, redis_stream {url, stream, max_len?}, sqs {queue_url, "
    "region, access_key_id, secret_access_key, endpoint_url?}, eventbridge {bus, source, "
    "region, access_key_id, secret_access_key, endpoint_url?}, pubsub {topic, credentials, "
    "endpoint_url?}. Sealed at rest; reads show it "
    "with the URL's password and secret keys masked. Given on a change, it is given whole: a "
    "secret left as read (absent, empty or ***, a URL's password ***) keeps the saved one "
    "while the address stays on the same scheme, host, port and user, and is refused once it "
    "moves."
)


class EndpointCreate(_Strict):
    url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="Absolute http(s) URL; an http endpoint's, and only its.",
    )
    type: str = Field(default="http", max_length=40, description=_TYPE)
    destination: dict[str, Any] | None = Field(default=None, description=_DESTINATION)
    event_types: list[str] | None = Field(
        default=None, max_length=len(EVENT_TYPES), description="Empty or absent: every event."
    )
    description: str | None = Field(default=None, max_length=500)
    signing: Signing = Field(
        default="hmac",
        description="hmac (v1 with the whsec_ secret), ed25519 (v1a, verified with the public "
        "key) or both.",
    )
    headers: list[CustomHeader] | None = _HEADERS
    throttle_per_second: int | None = _THROTTLE
    retry_schedule: RetrySchedule = Field(default="standard", description=_RETRY_SCHEDULE)
    ordered: bool = Field(default=False, description=_ORDERED)
    batch_size: int | None = Field(default=None, description=_BATCH_SIZE)
    filter: dict[str, Any] | None = Field(default=None, description=_FILTER)

    _types = field_validator("event_types")(_known_types)


class EndpointUpdate(_Strict):
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    type: str | None = Field(default=None, max_length=40, description=_TYPE)
    destination: dict[str, Any] | None = Field(default=None, description=_DESTINATION)
    event_types: list[str] | None = Field(default=None, max_length=len(EVENT_TYPES))
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(
        default=None, description="true re-enables an endpoint the gateway disabled."
    )
    signing: Signing | None = _SIGNING
    headers: list[CustomHeader] | None = _HEADERS
    throttle_per_second: int | None = _THROTTLE
    retry_schedule: RetrySchedule | None = Field(default=None, description=_RETRY_SCHEDULE)
    ordered: bool | None = Field(default=None, description=_ORDERED)
    batch_size: int | None = Field(default=None, description=_BATCH_SIZE)
    filter: dict[str, Any] | None = Field(default=None, description=_FILTER)

    _types = field_validator("event_types")(_known_types)


class RotateRequest(_Strict):
    overlap_seconds: int = Field(
        default=24 * 3600,
        ge=0,
        le=_MAX_ROTATION_OVERLAP,
        description="How long the previous secret keeps signing beside the new one.",
    )


class ReplayFailedRequest(Model):
    model_config = ConfigDict(extra="forbid")

    since: Instant = Field(description="RFC 3339; failed deliveries created since then.")
    until: Instant | None = Field(
        default=None, description="RFC 3339; and before then. Absent: up to now."
    )


class ReplayJobFilter(Model):
    """Which deliveries a replay job sends again: always the caller's own, in its environment,
    finished (a pending one is already on its way), of an endpoint still enabled."""

    model_config = ConfigDict(extra="forbid")

    since: Instant = Field(description="RFC 3339; deliveries created at or after it.")
    until: Instant | None = Field(
        default=None, description="RFC 3339; deliveries created before it. Absent: now."
    )
    endpoint_id: str | None = Field(default=None, max_length=40)
    event_types: list[EventType] | None = Field(
        default=None, max_length=len(EVENT_TYPES), description="Absent or empty: every type."
    )
    status: Literal["failed", "succeeded"] | None = Field(default=None, description="Absent: both.")


class ReplayJobCreate(ReplayJobFilter):
    """``POST /webhooks/replays``: the filter of one job."""


class EndpointsQuery(Model):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")


class DeliveriesQuery(Model):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")
    endpoint_id: str | None = Field(default=None, max_length=40)
    event_type: EventType | None = None
    status: Literal["pending", "succeeded", "failed"] | None = None
    created_after: Instant | None = None
    created_before: Instant | None = None


class StatsQuery(Model):
    model_config = ConfigDict(extra="forbid")

    since: Instant | None = Field(
        default=None, description="RFC 3339; default: a day before until."
    )
    until: Instant | None = Field(default=None, description="RFC 3339; default: now.")


class LatencyData(Model):
    attempts: int = Field(description="Attempts of the range's deliveries.")
    p50_ms: int | None = Field(description="Half the attempts took at most this long.")
    p90_ms: int | None
    p99_ms: int | None


class EndpointStatsData(Model):
    endpoint_id: str
    since: str
    until: str
    succeeded: int = Field(description="Deliveries created in the range that succeeded.")
    pending: int = Field(description="Waiting for their first attempt.")
    sending: int = Field(description="Tried and failed, with a retry to come.")
    failed: int = Field(description="Given up after their last retry.")
    filtered: int = Field(
        default=0, description="Events of the range the endpoint's filter dropped: no delivery."
    )
    latency: LatencyData


class PollerCreate(_Strict):
    event_types: list[str] | None = Field(
        default=None, max_length=len(EVENT_TYPES), description="Empty or absent: every event."
    )
    description: str | None = Field(default=None, max_length=500)

    _types = field_validator("event_types")(_known_types)


class PollerRead(Model):
    model_config = ConfigDict(extra="forbid")

    iterator: str | None = Field(
        default=None, max_length=40, description="meta.iterator of the previous read."
    )
    since: Instant | None = Field(
        default=None, description="RFC 3339: read from the first event at or after it."
    )
    limit: int = Field(default=50, ge=1, le=250)


class PollerData(Model):
    id: str
    env: str
    description: str | None
    event_types: list[str] = Field(description="Empty: every event.")
    created_at: str


class PollerKeyData(PollerData):
    key: str = Field(description="wpk_…: reads this poller and nothing else; shown once.")
    secret: str = Field(description="whsec_…: verifies each event's signature; shown once.")


class PolledEvent(Model):
    id: str = Field(description="The event's id, its webhook-id.")
    type: str
    created_at: str
    payload: str = Field(description="The exact body an endpoint would have received.")
    headers: dict[str, str] = Field(
        description="webhook-id, webhook-timestamp and webhook-signature of the payload, signed "
        "with the poller's secret at the time of the read."
    )


class CustomHeaderData(Model):
    name: str
    value: str = Field(description="A secret header's value is masked.")
    secret: bool


class EndpointData(Model):
    id: str
    env: str
    url: str
    description: str | None
    event_types: list[str] = Field(description="Empty: every event.")
    enabled: bool
    disabled_reason: str | None
    failing_since: str | None
    secret_rotation_ends_at: str | None = Field(
        description="While set, the previous secret still signs beside the current one."
    )
    signing: Signing
    public_key: str | None = Field(
        description="whpk_…: verifies the v1a signatures; null while the endpoint signs by HMAC "
        "alone."
    )
    previous_public_key: str | None = Field(
        description="While set, the previous ed25519 key still signs beside the current one."
    )
    signing_key_rotation_ends_at: str | None
    headers: list[CustomHeaderData]
    throttle_per_second: int | None = Field(
        description="Deliveries a second at most; null: unthrottled."
    )
    retry_schedule: RetrySchedule = Field(description=_RETRY_SCHEDULE)
    ordered: bool = Field(default=False, description=_ORDERED)
    batch_size: int = Field(default=1, description=_BATCH_SIZE)
    type: str = Field(default="http", description=_TYPE)
    destination: dict[str, Any] | None = Field(
        default=None, description="null for http; its secrets masked."
    )
    filter: dict[str, Any] | None = Field(default=None, description=_FILTER)
    created_at: str
    updated_at: str


class EndpointSecretData(EndpointData):
    secret: str = Field(description="whsec_…: shown only on create and rotate.")


class TestData(Model):
    event_id: str
    delivery_id: str


class DeliveryData(Model):
    id: str
    event_id: str
    endpoint_id: str
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    trigger: str
    next_attempt_at: str | None
    last_attempt_at: str | None
    created_at: str
    updated_at: str


class AttemptData(Model):
    attempt: int
    trigger: Literal["auto", "replay", "test"]
    started_at: str
    duration_ms: int
    url: str
    request_headers: dict[str, Any]
    request_body: str
    response_status: int | None
    response_headers: dict[str, Any] | None
    response_body: str | None = Field(description="The first 4 KiB.")
    error: str | None


class DeliveryDetail(DeliveryData):
    payload: str = Field(description="The exact event body every attempt sends.")
    attempt_log: list[AttemptData]


class ReplayFailedData(Model):
    replayed: int = Field(description="Deliveries made due again by this call.")
    delivery_ids: list[str]
    job_id: str | None = Field(
        default=None,
        description="The replay job (wrj_…) that replays the rest, when more matched than one "
        "call replays (500); read it at GET /webhooks/replays/{id}. Null: every match is in "
        "`delivery_ids`.",
    )
    kept_since: str | None = Field(
        default=None,
        description="Set when `since` reached past the merchant's retention: deliveries older "
        "than this are no longer kept, so the replay started here. Null: the whole range is kept.",
    )


class ReplayJobData(Model):
    id: str = Field(description="wrj_…")
    status: Literal["running", "finished", "failed"]
    filter: ReplayJobFilter = Field(description="As asked, until filled in.")
    matched: int = Field(description="Deliveries the filter matched when the job was made.")
    enqueued: int = Field(
        description="Deliveries made due again so far; one that became pending meanwhile is "
        "left to its own run."
    )
    kept_since: str | None = Field(
        default=None,
        description="Set when `since` reached past the merchant's retention: the job starts here.",
    )
    created_at: str
    finished_at: str | None
