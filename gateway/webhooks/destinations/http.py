"""The ``http`` destination type, every endpoint's with a ``url``: one attempt on the wire, the
signed body POSTed to the endpoint through the environment's checked transport, never following a
redirect, within its deadline, and what the receiver answered, bounded on the way in (its head
by ``connections.HeadLimits``, its body read to ``RESPONSE_CAP``) and again in what the attempt
row keeps of it (``Attempt``)."""

import email.utils
import functools
from datetime import UTC, datetime
from typing import Any

import httpx

from ..bodies import read_capped
from ..connections import HeadTooLarge
from ..transport import SEND_BY
from .base import Addressed, Attempt, Destination, Message, Via

__all__ = [
    "HTTP_TYPE",
    "RESPONSE_CAP",
    "RETRY_AFTER_STATUSES",
    "STORED_HEADERS",
    "STORED_NAME",
    "STORED_VALUE",
    "Http",
    "post",
    "retry_after_seconds",
]

RESPONSE_CAP = 4096
# What the attempt row keeps of a response's headers: the first ones, each cut short. The head
# on the wire may hold far more (``HeadLimits``), and the delivery log serves back what is kept.
STORED_HEADERS = 50
STORED_NAME = 128
STORED_VALUE = 512
RETRY_AFTER_CAP = 3600.0
# The replies whose ``Retry-After`` is honoured: too many requests, unavailable.
RETRY_AFTER_STATUSES = (429, 503)
CONNECT_TIMEOUT = 5.0


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds (delta or HTTP date), capped at an hour."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_CAP)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - now).total_seconds(), 0.0), RETRY_AFTER_CAP)


def _kept_headers(headers: httpx.Headers) -> dict[str, str]:
    """The first ``STORED_HEADERS`` header names, each value cut to ``STORED_VALUE``; a name
    sent more than once keeps its values joined, as ``Headers.items`` joins them."""
    kept: dict[str, str] = {}
    encoding = headers.encoding  # what ``multi_items`` decodes with, read once, not twice a header
    for raw_name, raw_value in headers.raw:
        name, value = raw_name.lower().decode(encoding)[:STORED_NAME], raw_value.decode(encoding)
        before = kept.get(name)
        if before is not None:
            value = f"{before}, {value}"
        elif len(kept) == STORED_HEADERS:
            continue
        kept[name] = value[:STORED_VALUE]
    return kept


def _describe(exc: Exception) -> str:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, HeadTooLarge):
        return detail[:500]  # says what it is: "response headers too large: …"
    if isinstance(exc, httpx.TimeoutException):
        kind = "timeout"
    elif isinstance(exc, httpx.ConnectError):
        kind = "connect failed"
    elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        kind = "connection broken"
    else:
        kind = "request failed"
    return f"{kind}: {detail}"[:500]


@functools.lru_cache(maxsize=4096)
def _target(url: str) -> tuple[httpx.URL, bytes]:
    """An endpoint's URL parsed, and its ``Host`` header. Parsing is most of what building an
    ``httpx.Request`` from a string costs; an endpoint's URL is the same on every delivery, and
    ``httpx.URL`` is immutable, so one parse serves them all."""
    parsed = httpx.URL(url)
    return parsed, parsed.netloc


@functools.lru_cache(maxsize=64)
def _timeouts(deadline: float) -> dict[str, float]:
    return {"connect": min(CONNECT_TIMEOUT, deadline), "read": deadline, "write": deadline}


def _request(
    url: str, body: bytes, headers: dict[str, str], deadline: float, send_by: float | None
) -> httpx.Request:
    """The attempt as an ``httpx.Request`` with its headers already encoded and its ``Host`` and
    ``Content-Length`` set, which is what httpx would add. Given text headers and a ``content``,
    httpx normalises and searches its header list once per header it adds: several times the
    cost of the rest of the request, for headers this module writes itself."""
    target, host = _target(url)
    raw = [(b"Host", host), (b"Content-Length", str(len(body)).encode())]
    raw += [(name.encode(), value.encode()) for name, value in headers.items()]
    extensions: dict[str, Any] = {"timeout": _timeouts(deadline)}
    if send_by is not None:
        extensions[SEND_BY] = send_by
    request = httpx.Request(
        "POST",
        target,
        stream=httpx.ByteStream(body),
        headers=raw,
        extensions=extensions,
    )
    request.read()  # in memory already; reading it here spares the transport an async read
    return request


async def post(
    transport: httpx.AsyncBaseTransport,
    url: str,
    body: bytes,
    headers: dict[str, str],
    deadline: float,
    send_by: float | None = None,
) -> Attempt:
    """One signed POST, never following a redirect, with ``deadline`` on the whole exchange
    (``WebhookTransport``'s read timeout), so a receiver that trickles bytes cannot hold the
    attempt past it. ``send_by``: ``TooLate`` if its first byte could not be written by then.

    The request goes to the shared client's transport as an ``httpx.Request``: a delivery needs
    none of the client's cookie jar (a receiver's cookies must not ride along to the next one),
    auth, redirects or header merging, which cost several times the CPU of the request itself."""
    result = Attempt()
    location = ""
    try:
        request = _request(url, body, headers, deadline, send_by)
        response = await transport.handle_async_request(request)
        try:
            result.status = response.status_code
            result.headers = _kept_headers(response.headers)
            # Each looked up only where it is used: a lookup scans every header of the reply.
            if result.status in RETRY_AFTER_STATUSES:
                result.retry_after = response.headers.get("retry-after")
            elif 300 <= result.status < 400:
                location = response.headers.get("location", "")
            raw = await read_capped(response, RESPONSE_CAP)
            result.body = raw.decode("utf-8", errors="replace")
        finally:
            await response.aclose()
    except httpx.ReadTimeout:
        result.error = f"timeout: no complete response within {deadline:g}s"
    except httpx.HTTPError as exc:
        result.error = _describe(exc)
    except httpx.InvalidURL as exc:  # saved before the URL check refused its form
        result.error = f"URL refused: {exc}"[:500]
    if result.error is None and result.status is not None and not 200 <= result.status < 300:
        if 300 <= result.status < 400:
            result.error = f"redirect not followed: HTTP {result.status} to {location}"[:500]
        else:
            result.error = f"HTTP {result.status}"
    return result


class Http(Destination):
    """A webhook: the message's body POSTed with its headers to the endpoint's URL."""

    name = "http"

    async def deliver(self, via: Via, to: Addressed, message: Message) -> Attempt:
        send_by = to.send_by
        return await post(
            via.transport,
            to.url,
            message.body,
            message.headers,
            via.seconds,
            None if send_by is None else send_by.timestamp(),
        )


HTTP_TYPE = Http()
