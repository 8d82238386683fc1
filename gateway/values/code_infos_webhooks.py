"""The code catalogue's 5xxx band: webhooks, their endpoints, deliveries and pollers.
``codes.CATALOGUE`` holds every band."""

from .code_names import Code, CodeInfo

__all__ = ["WEBHOOKS"]

WEBHOOKS: dict[Code, CodeInfo] = {
    Code.WEBHOOK_ENDPOINT_NOT_FOUND: CodeInfo(404, "Webhook endpoint not found"),
    Code.WEBHOOK_URL_INVALID: CodeInfo(422, "Webhook URL invalid"),
    Code.WEBHOOK_DELIVERY_NOT_FOUND: CodeInfo(404, "Webhook delivery not found"),
    Code.WEBHOOK_ENDPOINT_DISABLED: CodeInfo(
        409, "Webhook endpoint is disabled; enable it with PATCH first"
    ),
    Code.WEBHOOK_DELIVERY_PENDING: CodeInfo(
        409, "Webhook delivery is already pending; wait for its attempt to finish"
    ),
    Code.WEBHOOK_ENDPOINT_LIMIT_REACHED: CodeInfo(
        409, "Webhook endpoint limit reached for this environment; delete one first"
    ),
    Code.WEBHOOK_TEST_RATE_LIMITED: CodeInfo(
        429, "Too many webhook test events for this merchant; see Retry-After"
    ),
    Code.WEBHOOK_REPLAY_RATE_LIMITED: CodeInfo(
        429, "Too many delivery replays for this merchant; see Retry-After"
    ),
    Code.WEBHOOK_RECOVER_RATE_LIMITED: CodeInfo(
        429, "Too many replays of failed deliveries for this merchant; see Retry-After"
    ),
    Code.WEBHOOK_PAST_RETENTION: CodeInfo(
        410,
        "Past retention: webhook history older than the merchant's retention period is not "
        "kept; data.kept_since is the oldest moment still held",
    ),
    Code.WEBHOOK_HEADERS_TOO_MANY: CodeInfo(
        422, "Too many custom headers on one webhook endpoint (see data.limit)"
    ),
    Code.WEBHOOK_HEADER_NAME_INVALID: CodeInfo(
        422, "Custom header name invalid: an HTTP token of at most 64 characters (data.header)"
    ),
    Code.WEBHOOK_HEADER_VALUE_INVALID: CodeInfo(
        422,
        "Custom header value invalid: 1 to 1,000 printable ASCII characters, no CR, LF or other "
        "control characters (data.header)",
    ),
    Code.WEBHOOK_HEADER_DUPLICATE: CodeInfo(
        422, "Custom header given twice (names are case-insensitive; data.header)"
    ),
    Code.WEBHOOK_HEADER_RESERVED_HTTP: CodeInfo(
        422,
        "Custom header not allowed: the gateway sets it or it is hop-by-hop (Host, "
        "Content-Length, Content-Type, Transfer-Encoding, Connection…; data.header)",
    ),
    Code.WEBHOOK_HEADER_RESERVED_SIGNATURE: CodeInfo(
        422, "Custom header not allowed: webhook-* are the Standard Webhooks headers (data.header)"
    ),
    Code.WEBHOOK_HEADER_RESERVED_GATEWAY: CodeInfo(
        422,
        "Custom header not allowed: X-AiTopUp-* and User-Agent are the gateway's own (data.header)",
    ),
    Code.WEBHOOK_THROTTLE_INVALID: CodeInfo(
        422,
        "Webhook throttle invalid: throttle_per_second is a whole number of deliveries per "
        "second, 1 to 1,000, or null for none (data.min, data.max)",
    ),
    Code.WEBHOOK_RANGE_INVALID: CodeInfo(422, "Time range invalid: until must be later than since"),
    Code.WEBHOOK_REPLAY_SPAN_TOO_LONG: CodeInfo(
        422, "Replay span too long: since to until may cover at most data.max_days days"
    ),
    Code.WEBHOOK_STATS_SPAN_TOO_LONG: CodeInfo(
        422, "Stats span too long: since to until may cover at most data.max_days days"
    ),
    Code.WEBHOOK_POLLER_NOT_FOUND: CodeInfo(404, "Poller not found"),
    Code.WEBHOOK_POLLER_KEY_INVALID: CodeInfo(
        401, "Poller key invalid: send Authorization: Bearer wpk_… of this poller"
    ),
    Code.WEBHOOK_POLLER_LIMIT_REACHED: CodeInfo(
        409, "Poller limit reached for this environment (data.limit); delete one first"
    ),
    Code.WEBHOOK_POLLER_ITERATOR_INVALID: CodeInfo(
        422, "Iterator invalid: send the iterator a read answered, or since, not both"
    ),
    Code.WEBHOOK_POLLER_RATE_LIMITED: CodeInfo(
        429, "Too many poller reads from this client; retry after Retry-After"
    ),
    Code.WEBHOOK_BATCH_SIZE_INVALID: CodeInfo(
        422,
        "Webhook batch size invalid: batch_size is a whole number of events a request, 1 to "
        "100 (data.min, data.max)",
    ),
    Code.WEBHOOK_BATCH_NEEDS_ORDER: CodeInfo(
        422, "Only an ordered endpoint takes batches: set ordered true, or batch_size 1"
    ),
    Code.WEBHOOK_FILTER_INVALID: CodeInfo(
        422, "Webhook filter invalid: a JSON object of fields and operators, or null to lift it"
    ),
    Code.WEBHOOK_FILTER_OPERATOR_UNKNOWN: CodeInfo(
        422, "Webhook filter operator not supported here (data.operator; data.supported)"
    ),
    Code.WEBHOOK_FILTER_TOO_DEEP: CodeInfo(
        422, "Webhook filter nested too deep (data.max_depth levels at most)"
    ),
    Code.WEBHOOK_FILTER_TOO_LARGE: CodeInfo(
        422, "Webhook filter too large (data.max_bytes of compact JSON at most)"
    ),
    Code.WEBHOOK_REPLAY_TOO_MANY: CodeInfo(
        422,
        "Replay matches too many deliveries: one job replays at most data.limit; narrow the "
        "filter or split the time range",
    ),
    Code.WEBHOOK_REPLAY_JOB_NOT_FOUND: CodeInfo(404, "Webhook replay job not found"),
    Code.WEBHOOK_REPLAY_JOBS_BUSY: CodeInfo(
        409,
        "Too many replay jobs still running for this environment (data.limit); wait for one "
        "to finish",
    ),
    Code.WEBHOOK_INBOX_STAGING_ONLY: CodeInfo(
        403, "The test inbox is staging's: live merchants have none; use a staging key"
    ),
    Code.WEBHOOK_INBOX_NOT_FOUND: CodeInfo(404, "No test inbox at this URL"),
    Code.WEBHOOK_INBOX_RATE_LIMITED: CodeInfo(
        429, "Too many requests to this merchant's test inbox; see Retry-After"
    ),
    Code.WEBHOOK_DESTINATION_TYPE_UNKNOWN: CodeInfo(
        422,
        "Destination type unknown: type is http, rabbitmq, nats, redis_stream, sqs, "
        "eventbridge or pubsub (data.types)",
    ),
    Code.WEBHOOK_DESTINATION_INVALID: CodeInfo(
        422, "Destination invalid: the destination object does not fit its type (data.field)"
    ),
    Code.WEBHOOK_DESTINATION_ADDRESS_REFUSED: CodeInfo(
        422,
        "Destination address refused: the broker's host is judged as a webhook URL's is "
        "(data.address, data.reason)",
    ),
    Code.WEBHOOK_DESTINATION_UNREACHABLE: CodeInfo(
        422,
        "Destination did not take the test publish: unreachable, credentials refused, or no "
        "such exchange, stream or subject (data.reason)",
    ),
}
