"""The code catalogue: the single source of every ``code`` the API answers with.

Bands: 1xxx success, 2xxx auth and keys, 3xxx validation, 4xxx wallet and transactions,
5xxx webhooks, 9xxx internal. A code's number never changes meaning once published.
"""

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["CATALOGUE", "Code", "CodeInfo"]


class Code(IntEnum):
    SUCCESS = 1000
    TOPUP_DELIVERED = 1001
    TOPUP_PENDING = 1002
    TOPUP_CANCELLED = 1003
    CREATED = 1004
    DELETED = 1005

    AUTH_MISSING = 2001
    AUTH_MALFORMED = 2002
    AUTH_UNKNOWN = 2003
    AUTH_REVOKED = 2004
    ENV_NOT_ALLOWED = 2005

    VALIDATION_FAILED = 3001
    INVALID_JSON = 3002
    UNSUPPORTED_MEDIA_TYPE = 3003
    BODY_TOO_LARGE = 3004
    INVALID_CURSOR = 3005
    INVALID_QUERY = 3006
    ROUTE_NOT_FOUND = 3007
    METHOD_NOT_ALLOWED = 3008

    INSUFFICIENT_BALANCE = 4001
    TRANSACTION_NOT_FOUND = 4002
    IDEMPOTENCY_KEY_REUSED = 4003
    TOPUP_FAILED = 4004
    TOPUP_NOT_CANCELLABLE = 4005
    INVALID_IDEMPOTENCY_KEY = 4006

    WEBHOOK_ENDPOINT_NOT_FOUND = 5001
    WEBHOOK_URL_INVALID = 5002
    WEBHOOK_DELIVERY_NOT_FOUND = 5003
    WEBHOOK_ENDPOINT_DISABLED = 5004
    WEBHOOK_DELIVERY_PENDING = 5005

    INTERNAL_ERROR = 9001
    SERVICE_UNAVAILABLE = 9002


@dataclass(frozen=True, slots=True)
class CodeInfo:
    http_status: int
    message: str


CATALOGUE: dict[Code, CodeInfo] = {
    Code.SUCCESS: CodeInfo(200, "Success"),
    Code.TOPUP_DELIVERED: CodeInfo(200, "Top-up delivered"),
    Code.TOPUP_PENDING: CodeInfo(202, "Top-up pending"),
    Code.TOPUP_CANCELLED: CodeInfo(200, "Top-up cancelled; funds refunded"),
    Code.CREATED: CodeInfo(201, "Created"),
    Code.DELETED: CodeInfo(200, "Deleted"),
    Code.AUTH_MISSING: CodeInfo(401, "Missing API key: send Authorization: Bearer ak_..."),
    Code.AUTH_MALFORMED: CodeInfo(401, "Malformed API key: expected ak_<env>_<32 characters>"),
    Code.AUTH_UNKNOWN: CodeInfo(401, "Unknown API key"),
    Code.AUTH_REVOKED: CodeInfo(401, "API key revoked"),
    Code.ENV_NOT_ALLOWED: CodeInfo(403, "Not available with this key's environment"),
    Code.VALIDATION_FAILED: CodeInfo(422, "Request validation failed"),
    Code.INVALID_JSON: CodeInfo(400, "Request body is not valid JSON"),
    Code.UNSUPPORTED_MEDIA_TYPE: CodeInfo(415, "Content-Type must be application/json"),
    Code.BODY_TOO_LARGE: CodeInfo(413, "Request body too large"),
    Code.INVALID_CURSOR: CodeInfo(422, "Invalid pagination cursor"),
    Code.INVALID_QUERY: CodeInfo(422, "Invalid query parameter"),
    Code.ROUTE_NOT_FOUND: CodeInfo(404, "No such route"),
    Code.METHOD_NOT_ALLOWED: CodeInfo(405, "Method not allowed on this route"),
    Code.INSUFFICIENT_BALANCE: CodeInfo(402, "Insufficient wallet balance"),
    Code.TRANSACTION_NOT_FOUND: CodeInfo(404, "Transaction not found"),
    Code.IDEMPOTENCY_KEY_REUSED: CodeInfo(
        409, "Idempotency-Key was already used with a different request"
    ),
    Code.TOPUP_FAILED: CodeInfo(402, "Top-up failed; funds refunded"),
    Code.TOPUP_NOT_CANCELLABLE: CodeInfo(409, "Only a pending top-up can be cancelled"),
    Code.INVALID_IDEMPOTENCY_KEY: CodeInfo(
        422, "Idempotency-Key must be 1 to 255 printable ASCII characters"
    ),
    Code.WEBHOOK_ENDPOINT_NOT_FOUND: CodeInfo(404, "Webhook endpoint not found"),
    Code.WEBHOOK_URL_INVALID: CodeInfo(422, "Webhook URL invalid"),
    Code.WEBHOOK_DELIVERY_NOT_FOUND: CodeInfo(404, "Webhook delivery not found"),
    Code.WEBHOOK_ENDPOINT_DISABLED: CodeInfo(
        409, "Webhook endpoint is disabled; enable it with PATCH first"
    ),
    Code.WEBHOOK_DELIVERY_PENDING: CodeInfo(
        409, "Webhook delivery is already pending; wait for its attempt to finish"
    ),
    Code.INTERNAL_ERROR: CodeInfo(500, "Internal error"),
    Code.SERVICE_UNAVAILABLE: CodeInfo(503, "Service unavailable"),
}
