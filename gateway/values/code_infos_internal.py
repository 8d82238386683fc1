"""The code catalogue's 9xxx band: internal, the gateway or what it stands on failing, and
what the reverse proxy answers before it. ``codes.CATALOGUE`` holds every band."""

from .code_names import Code, CodeInfo

__all__ = ["INTERNAL"]

INTERNAL: dict[Code, CodeInfo] = {
    Code.INTERNAL_ERROR: CodeInfo(500, "Internal error"),
    Code.SERVICE_UNAVAILABLE: CodeInfo(503, "Service unavailable"),
    Code.STORE_TIMED_OUT: CodeInfo(503, "The store did not answer in time; try again shortly"),
    Code.METRICS_TOKEN_INVALID: CodeInfo(
        401, "Missing or invalid metrics token: send Authorization: Bearer <AITOPUP_METRICS_TOKEN>"
    ),
    # The next two are answered by the reverse proxy (deploy/nginx.conf), before the gateway.
    Code.TOO_MANY_REQUESTS: CodeInfo(
        429, "Too many requests or connections from this client; retry later"
    ),
    Code.BAD_HTTP_REQUEST: CodeInfo(400, "Malformed HTTP request, or its URI or headers too long"),
}
