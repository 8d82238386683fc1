"""What every upstream's client shares: one call to the far side over a given
``httpx.AsyncClient`` (the SSRF-checked one, ``upstreams.outbound``), a provider's API as its
client reaches it (``Api``: its root, its credentials' headers, its share of the pool), and the
failures. Each provider's own client, spoken as its API documents it, is in its module
(``upstreams.providers``).

Every failure is an ``UpstreamError`` that says whether trying again can help (``transient``:
a 5xx, a timeout, a connection that failed) or not (a 4xx, refused credentials, an answer that
says no), and why: its ``outcome``, one of a small fixed set, and its ``reason``, that outcome in
the product's own words. What the far side said (its status, its message, a TLS or connection
error's text) is only ever ``detail``, for the log: a reply that repeated it would let anyone who
can name an upstream's address use the gateway to read what hosts answer from where it sits.
"""

from dataclasses import dataclass
from typing import Any

import httpx

from ..values import outside_json
from ..values.marking import marked
from ..webhooks.bodies import BodyTooLarge, encoded, read_capped
from ..webhooks.transport import SHARE

__all__ = [
    "OUTCOMES",
    "VOUCHER",
    "Api",
    "UpstreamError",
    "call",
    "message",
    "said",
    "sentence",
]

VOUCHER = "voucher"

_MAX_DETAIL = 200  # an upstream's message, as much of it as the log keeps
_MAX_BODY = 1 << 20  # what we read of an upstream's answer

# Every outcome a failure can have, and what the merchant is told of it ({name}: the provider).
CREDENTIALS_REFUSED = "credentials_refused"
REQUEST_REFUSED = "request_refused"
NOT_THE_PROVIDER = "not_the_provider"
FAILING = "failing"
NO_ANSWER = "no_answer"
UNREACHABLE = "unreachable"
ADDRESS_REFUSED = "address_refused"
PROVIDER_UNSET = "provider_unset"
KEY_EXPIRED = "key_expired"
# Marked: the dashboard shows them in the reader's words (``sentence``); the API in English.
_SAID = {
    CREDENTIALS_REFUSED: marked("%(name)s refused the credentials"),
    REQUEST_REFUSED: marked("%(name)s refused the request"),
    NOT_THE_PROVIDER: marked("The address answered, but not as %(name)s does"),
    FAILING: marked("%(name)s answered with an error of its own"),
    NO_ANSWER: marked("%(name)s did not answer in time"),
    UNREACHABLE: marked("%(name)s could not be reached"),
    ADDRESS_REFUSED: marked("%(name)s's address is refused: it must be on the public internet"),
    PROVIDER_UNSET: marked("The %(name)s provider is no longer set for this platform"),
    KEY_EXPIRED: marked("The recipient's %(name)s key has expired: it takes no more credit"),
}
OUTCOMES = tuple(_SAID)


def sentence(name: str, outcome: str) -> tuple[str, dict[str, str]]:
    """``outcome`` of a call to the provider a reader knows as ``name`` (``New API``), as a
    marked sentence and its values, for a page to say in its reader's words."""
    return _SAID[outcome], {"name": name}


def said(name: str, outcome: str) -> str:
    """``outcome`` of a call to the provider called ``name``, in the product's words (an
    ``UpstreamError``'s ``reason``)."""
    text, values = sentence(name, outcome)
    return text % values


class UpstreamError(Exception):
    """``transient``: a later try may succeed (5xx, timeout, connection); otherwise it fails
    at once (a 4xx, refused credentials, a refusal in the body). ``reason`` is ``outcome`` in
    the product's words; ``detail`` what the far side said, for the log only."""

    def __init__(
        self,
        name: str,
        outcome: str,
        *,
        transient: bool,
        status: int | None = None,
        detail: str = "",
    ) -> None:
        reason = _SAID[outcome] % {"name": name}
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.transient = transient
        self.status = status
        self.detail = detail[:_MAX_DETAIL]


async def call(
    http: httpx.AsyncClient,
    name: str,
    method: str,
    url: str,
    share: str | None,
    *,
    cap: int = _MAX_BODY,
    **kwargs: Any,
) -> tuple[int, Any]:
    """One request: its status and JSON body, or ``UpstreamError``. The body is read as it
    arrives and refused past ``cap`` bytes (``webhooks.bodies``); the client's read timeout
    bounds the whole exchange (``WebhookTransport``), which holds a slot of ``share``'s (the
    merchant's) share of the pool for it."""
    try:
        extensions = None if share is None else {SHARE: share}
        request = http.build_request(method, url, extensions=extensions, **kwargs)
        response = await http.send(request, stream=True)
        try:
            body = await read_capped(response, cap, whole=True)
        finally:
            await response.aclose()
    except BodyTooLarge:
        raise UpstreamError(
            name,
            NOT_THE_PROVIDER,
            transient=False,
            status=response.status_code,
            detail=f"answered more than {cap} bytes",
        ) from None
    except httpx.InvalidURL as exc:  # saved before the URL check refused its form
        raise UpstreamError(name, ADDRESS_REFUSED, transient=False, detail=str(exc)) from None
    except httpx.PoolTimeout:
        raise UpstreamError(
            name, NO_ANSWER, transient=True, detail="this merchant's share of the pool is in use"
        ) from None
    except httpx.TimeoutException:
        raise UpstreamError(name, NO_ANSWER, transient=True) from None
    except httpx.TransportError as exc:
        said = str(exc) or type(exc).__name__
        if said.startswith("blocked:"):  # the address check: no later try will pass it
            raise UpstreamError(name, ADDRESS_REFUSED, transient=False, detail=said) from None
        raise UpstreamError(name, UNREACHABLE, transient=True, detail=said) from None
    status = response.status_code
    detail = f"HTTP {status}"
    if status in (401, 403):
        raise UpstreamError(
            name, CREDENTIALS_REFUSED, transient=False, status=status, detail=detail
        )
    if status == 429 or status >= 500:
        raise UpstreamError(name, FAILING, transient=True, status=status, detail=detail)
    if encoded(response):  # asked for identity (``outbound``): never decoded here
        raise UpstreamError(
            name, NOT_THE_PROVIDER, transient=False, status=status, detail=f"{detail} encoded"
        )
    if status < 200 or 300 <= status < 400 or status in (404, 405):
        raise UpstreamError(name, NOT_THE_PROVIDER, transient=False, status=status, detail=detail)
    try:
        parsed = outside_json.loads(body)
    except ValueError:
        raise UpstreamError(
            name, NOT_THE_PROVIDER, transient=False, status=status, detail=f"{detail} not JSON"
        ) from None
    if status >= 300:
        raise UpstreamError(
            name,
            REQUEST_REFUSED,
            transient=False,
            status=status,
            detail=f"{detail} {message(parsed)}".strip(),
        )
    return status, parsed


@dataclass(frozen=True, slots=True)
class Api:
    """A provider's API as its client reaches it: the root its paths are under, the headers
    every call carries (its credentials), and whose share of the pool its calls hold (a
    merchant's id), and how much of an answer it reads."""

    http: httpx.AsyncClient
    name: str  # the provider as a reader knows it, in its failures: "New API"
    base_url: str
    headers: dict[str, str]
    share: str | None = None
    cap: int = _MAX_BODY

    async def body(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of one ``call`` of ``path`` under the root, or ``UpstreamError``."""
        url = self.base_url.rstrip("/") + path
        _, body = await call(
            self.http,
            self.name,
            method,
            url,
            self.share,
            cap=self.cap,
            headers=self.headers,
            **kwargs,
        )
        return body


def message(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:_MAX_DETAIL]
        if isinstance(body.get("message"), str):
            return str(body["message"])[:_MAX_DETAIL]
    return ""
