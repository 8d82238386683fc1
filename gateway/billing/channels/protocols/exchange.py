"""One JSON exchange with a payment channel's API, bounded three ways: the answer is read as it
arrives and refused past ``BODY_CAP`` (``webhooks.bodies``), the whole exchange takes at most
the caller's ``within`` seconds, and a failure is a ``ChannelError`` whose ``outcome`` is one of
a fixed set. What the far side said (its status, its message) is only ``detail``, for the log.

Amounts come back as ``Decimal`` (``money.loads``)."""

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ....webhooks.bodies import BodyTooLarge, encoded, read_capped
from .money import loads

__all__ = [
    "BODY_CAP",
    "CREDENTIALS_REFUSED",
    "FAILING",
    "NOT_THE_PROVIDER",
    "NO_ANSWER",
    "REQUEST_REFUSED",
    "UNREACHABLE",
    "ChannelApi",
    "ChannelError",
    "call",
    "iso_date",
]

# What is read of one answer: a channel's objects are a few kilobytes.
BODY_CAP = 1 << 20
_MAX_DETAIL = 200

CREDENTIALS_REFUSED = "credentials_refused"
REQUEST_REFUSED = "request_refused"
NOT_THE_PROVIDER = "not_the_provider"
FAILING = "failing"
NO_ANSWER = "no_answer"
UNREACHABLE = "unreachable"


class ChannelError(Exception):
    """A call to a channel that gave no usable answer. ``transient``: a later try may succeed
    (a timeout, a 5xx, a connection that failed); ``outcome`` says which of the fixed cases it
    was; ``detail`` is what the far side said, for the log only."""

    def __init__(
        self, outcome: str, *, transient: bool, status: int | None = None, detail: str = ""
    ) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.transient = transient
        self.status = status
        self.detail = detail[:_MAX_DETAIL]


async def call(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    within: float,
    headers: dict[str, str],
    body: Any = None,
    params: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """The status and parsed JSON of one request; a 4xx with a JSON body is returned for the
    channel's own reading of its refusal, everything else that is not an answer raises."""
    content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
    sent = {
        "Accept": "application/json",
        "Accept-Encoding": "identity",
        **({"Content-Type": "application/json"} if content is not None else {}),
        **headers,
    }
    try:
        async with asyncio.timeout(within):
            request = http.build_request(method, url, headers=sent, content=content, params=params)
            response = await http.send(request, stream=True)
            try:
                raw = await read_capped(response, BODY_CAP, whole=True)
            finally:
                await response.aclose()
    except BodyTooLarge:
        raise ChannelError(NOT_THE_PROVIDER, transient=False, detail="answer too long") from None
    except (TimeoutError, httpx.TimeoutException):
        raise ChannelError(NO_ANSWER, transient=True) from None
    except httpx.TransportError as exc:
        detail = str(exc) or type(exc).__name__
        raise ChannelError(UNREACHABLE, transient=True, detail=detail) from None
    status = response.status_code
    if status in (401, 403):
        raise ChannelError(CREDENTIALS_REFUSED, transient=False, status=status)
    if status == 429 or status >= 500:
        raise ChannelError(FAILING, transient=True, status=status, detail=f"HTTP {status}")
    if encoded(response) or status < 200 or 300 <= status < 400:
        raise ChannelError(NOT_THE_PROVIDER, transient=False, status=status)
    try:
        parsed = loads(raw)
    except ValueError:
        raise ChannelError(
            NOT_THE_PROVIDER, transient=False, status=status, detail="not JSON"
        ) from None
    return status, parsed


def iso_date(value: Any, *, naive_offset: timedelta = timedelta(0)) -> datetime | None:
    """A channel's ISO 8601 date (``Z`` or an offset; without one, ``naive_offset`` ahead of
    UTC, the channel's own clock), or None if it is none."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC) - naive_offset


@dataclass(frozen=True, slots=True)
class ChannelApi:
    """A channel's API for one account, over a given client: its root, the key it is called
    with and how long one exchange may take. A channel's module subclasses it with its calls
    and how the key travels."""

    http: httpx.AsyncClient
    api_base: str
    key: str
    timeout: float = 10.0

    async def exchange(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        body: Any = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """``call`` on ``path`` under the API's root, within the API's time."""
        url = f"{self.api_base.rstrip('/')}{path}"
        return await call(
            self.http, method, url, within=self.timeout, headers=headers, body=body, params=params
        )
