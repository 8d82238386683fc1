"""One exchange with a provider's API: its answer read bounded and parsed, a failure the
provider's error."""

from dataclasses import dataclass
from typing import Any

import httpx

from ....webhooks.bodies import BodyTooLarge, encoded, read_capped
from ..protocols.money import loads
from .errors import ProviderError

__all__ = ["ANSWER_CAP", "Answer", "read_json", "request_json"]

# What is read of one answer from a provider's API: their objects are a few kilobytes.
ANSWER_CAP = 1 << 20


@dataclass(frozen=True, slots=True)
class Answer:
    """A provider's answer: its HTTP status and its body parsed as JSON."""

    status: int
    body: Any


async def read_json(response: httpx.Response, cap: int = ANSWER_CAP) -> Any:
    """A provider's JSON answer on a streamed response (``http.send(..., stream=True)``), read
    to ``cap`` and parsed, its amounts as ``Decimal`` (``money.loads``), the response closed;
    ``ProviderError`` if it is longer, encoded unasked or not JSON."""
    try:
        body = await read_capped(response, cap, whole=True)
    except BodyTooLarge:
        raise ProviderError("answer too long", status=response.status_code) from None
    finally:
        await response.aclose()
    if encoded(response):
        raise ProviderError("answer in an encoding not asked for", status=response.status_code)
    try:
        return loads(body)
    except ValueError:
        raise ProviderError("answer is not JSON", status=response.status_code) from None


async def request_json(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Answer:
    """One exchange with a provider's API (``kwargs`` as ``httpx.AsyncClient.build_request``
    takes them), its answer read by ``read_json``; a timeout or a failed connection is a
    ``ProviderError`` (``timeout`` set for the first). Whether the status is a refusal is the
    provider's to judge."""
    headers = {**dict(kwargs.pop("headers", None) or {}), "Accept-Encoding": "identity"}
    try:
        request = http.build_request(method, url, headers=headers, **kwargs)
        response = await http.send(request, stream=True)
        return Answer(response.status_code, await read_json(response))
    except httpx.TimeoutException:
        raise ProviderError("no answer in time", timeout=True) from None
    except httpx.HTTPError as exc:
        raise ProviderError(f"unreachable: {type(exc).__name__}") from None
