"""The ``http`` destination type, every endpoint's with a ``url``: one attempt on the wire, the
signed body POSTed to the endpoint through the environment's checked transport, never following a
redirect, within its deadline, and what the receiver answered, bounded on the way in (its head
by ``connections.HeadLimits``, its body read to ``RESPONSE_CAP``) and again in what the attempt
row keeps of it (``Attempt``)."""

import email.utils
import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from ..bodies import read_stream_capped
from ..connections import HeadTooLarge
from ..transport import SEND_BY, Reply, WebhookTransport
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


def _kept_headers(raw: Sequence[tuple[bytes, bytes]], encoding: str) -> dict[str, str]:
    """The first ``STORED_HEADERS`` header names, each value cut to ``STORED_VALUE``; a name
    sent more than once keeps its values joined, as ``_header`` joins them."""
    kept: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name, value = raw_name.lower().decode(encoding)[:STORED_NAME], raw_value.decode(encoding)
        before = kept.get(name)
        if before is not None:
            value = f"{before}, {value}"
        elif len(kept) == STORED_HEADERS:
            continue
        kept[name] = value[:STORED_VALUE]
    return kept


def _kept(raw: Sequence[tuple[bytes, bytes]]) -> tuple[dict[str, str], str]:
    """The headers the attempt keeps, and the encoding they were read with: read as ASCII, as
    nearly every reply's are, in the one pass that keeps them (each line is decoded whole, so it
    fails just where httpx's ``Headers.encoding`` would not choose ASCII); else as that chooses
    (UTF-8, or else Latin-1, which reads any bytes)."""
    try:
        return _kept_headers(raw, "ascii"), "ascii"
    except UnicodeDecodeError:
        encoding = httpx.Headers(list(raw)).encoding
        return _kept_headers(raw, encoding), encoding


def _header(raw: Sequence[tuple[bytes, bytes]], name: bytes, encoding: str) -> str | None:
    """Header ``name`` (lower case) of every line of the head, its values joined by ", " when
    sent more than once; ``None`` when it was not sent."""
    values = [value.decode(encoding) for key, value in raw if key.lower() == name]
    return ", ".join(values) if values else None


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


@functools.lru_cache(maxsize=64)
def _timeouts(deadline: float) -> dict[str, float]:
    return {"connect": min(CONNECT_TIMEOUT, deadline), "read": deadline, "write": deadline}


def _request(
    url: str, body: bytes, headers: dict[str, str], deadline: float, send_by: float | None
) -> httpx.Request:
    """The attempt as an ``httpx.Request``, for a transport other than the worker's own."""
    extensions: dict[str, Any] = {"timeout": _timeouts(deadline)}
    if send_by is not None:
        extensions[SEND_BY] = send_by
    raw = [(name.encode(), value.encode()) for name, value in headers.items()]
    request = httpx.Request("POST", url, content=body, headers=raw, extensions=extensions)
    request.read()
    return request


async def _sent(
    transport: httpx.AsyncBaseTransport,
    url: str,
    body: bytes,
    headers: dict[str, str],
    deadline: float,
    send_by: float | None,
) -> Reply:
    """The POST on ``transport``: on the worker's own (``WebhookTransport``) as bytes, its header
    lines written once, without an ``httpx.Request`` and ``httpx.Response`` around it, whose
    headers httpx would normalise and look through again, several times the cost of the rest of
    the request; on any other transport (a test's stand-in) as an httpx request."""
    if isinstance(transport, WebhookTransport):
        timeouts = _timeouts(deadline)  # the request's, as an httpx request would carry them
        return await transport.post(
            url,
            headers,
            body,
            connect=timeouts["connect"],
            read=timeouts["read"],
            send_by=send_by,
        )
    response = await transport.handle_async_request(_request(url, body, headers, deadline, send_by))
    stream = response.stream
    assert isinstance(stream, httpx.AsyncByteStream)
    return Reply(response.status_code, response.headers.raw, stream)


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

    The request goes to the shared client's transport itself (``_sent``), not through the
    client: a delivery needs none of the client's cookie jar (a receiver's cookies must not ride
    along to the next one), auth, redirects or header merging, which cost several times the CPU
    of the request itself."""
    result = Attempt()
    location = ""
    try:
        reply = await _sent(transport, url, body, headers, deadline, send_by)
        try:
            result.status = reply.status
            result.headers, encoding = _kept(reply.headers)
            # Each looked up only where it is used: a lookup scans every header of the reply.
            if result.status in RETRY_AFTER_STATUSES:
                result.retry_after = _header(reply.headers, b"retry-after", encoding)
            elif 300 <= result.status < 400:
                location = _header(reply.headers, b"location", encoding) or ""
            raw = await read_stream_capped(reply.body, RESPONSE_CAP)
            result.body = raw.decode("utf-8", errors="replace")
        finally:
            await reply.body.aclose()
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
