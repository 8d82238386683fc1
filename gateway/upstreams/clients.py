"""The upstreams' far sides, each behind one small client over a given ``httpx.AsyncClient``
(the SSRF-checked one, ``upstreams.outbound``): New API's admin redemption API and OpenRouter's
key management API, spoken as each documents it.

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
    "NEWAPI",
    "NEWAPI_TOPUP_PAGE",
    "OPENROUTER",
    "OPENROUTER_BASE_URL",
    "OPENROUTER_SITE",
    "PROVIDERS",
    "UPSTREAM_PROVIDERS",
    "VOUCHER",
    "NewApi",
    "OpenRouter",
    "OpenRouterKey",
    "UpstreamError",
    "name_of",
    "said",
    "sentence",
]

VOUCHER = "voucher"
NEWAPI = "newapi"
OPENROUTER = "openrouter"
PROVIDERS = (VOUCHER, NEWAPI, OPENROUTER)
UPSTREAM_PROVIDERS = (NEWAPI, OPENROUTER)
OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
OPENROUTER_SITE = "https://openrouter.ai"  # where a person spends an OpenRouter key
# New API's console page where a user redeems a code (Wallet: "Redemption code").
NEWAPI_TOPUP_PAGE = "/console/topup"
_NEWAPI = "New API"
_OPENROUTER = "OpenRouter"

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
}
OUTCOMES = tuple(_SAID)

# New API's redemption statuses (common.RedemptionCodeStatus*): enabled, disabled, used.
_CODE_STATES = {1: "unused", 2: "disabled", 3: "spent"}


_NAMES = {NEWAPI: _NEWAPI, OPENROUTER: _OPENROUTER}


def name_of(provider: str) -> str:
    """A provider as a reader sees it (``New API``); the built-in voucher by its identifier."""
    return _NAMES.get(provider, provider)


def sentence(provider: str, outcome: str) -> tuple[str, dict[str, str]]:
    """``outcome`` of a call to ``provider`` as a marked sentence and its values, for a page to
    say in its reader's words."""
    return _SAID[outcome], {"name": name_of(provider)}


def said(provider: str, outcome: str) -> str:
    """``outcome`` of a call to ``provider``, in the product's words (an ``UpstreamError``'s
    ``reason``)."""
    message, values = sentence(provider, outcome)
    return message % values


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


async def _call(
    http: httpx.AsyncClient, name: str, method: str, url: str, share: str | None, **kwargs: Any
) -> tuple[int, Any]:
    """One request: its status and JSON body, or ``UpstreamError``. The body is read as it
    arrives and refused past ``_MAX_BODY`` (``webhooks.bodies``); the client's read timeout
    bounds the whole exchange (``WebhookTransport``), which holds a slot of ``share``'s (the
    merchant's) share of the pool for it."""
    try:
        extensions = None if share is None else {SHARE: share}
        request = http.build_request(method, url, extensions=extensions, **kwargs)
        response = await http.send(request, stream=True)
        try:
            body = await read_capped(response, _MAX_BODY, whole=True)
        finally:
            await response.aclose()
    except BodyTooLarge:
        raise UpstreamError(
            name,
            NOT_THE_PROVIDER,
            transient=False,
            status=response.status_code,
            detail=f"answered more than {_MAX_BODY} bytes",
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
            detail=f"{detail} {_message(parsed)}".strip(),
        )
    return status, parsed


def _message(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:_MAX_DETAIL]
        if isinstance(body.get("message"), str):
            return str(body["message"])[:_MAX_DETAIL]
    return ""


@dataclass(frozen=True, slots=True)
class NewApi:
    """A New API instance's admin API: an admin's access token and its user id, both sent on
    every call (``Authorization: <token>``, ``New-Api-User: <id>``). Answers are
    ``{success, message, data}``, HTTP 200 even for a refusal."""

    http: httpx.AsyncClient
    base_url: str
    access_token: str
    user_id: str
    share: str | None = None  # whose share of the pool its calls hold (a merchant's id)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": self.access_token, "New-Api-User": self.user_id}

    def _url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    async def _envelope(self, method: str, path: str, **kwargs: Any) -> Any:
        _, body = await _call(
            self.http,
            _NEWAPI,
            method,
            self._url(path),
            self.share,
            headers=self._headers(),
            **kwargs,
        )
        if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
            raise UpstreamError(_NEWAPI, NOT_THE_PROVIDER, transient=False)
        if body["success"] is not True:
            raise UpstreamError(
                _NEWAPI, REQUEST_REFUSED, transient=False, detail=_message(body) or "no reason"
            )
        return body.get("data")

    async def create_code(self, name: str, quota: int) -> str:
        """One redemption code of ``quota``, never expiring, named ``name`` (≤ 20 characters):
        the code."""
        data = await self._envelope(
            "POST",
            "/api/redemption/",
            json={"name": name, "count": 1, "quota": quota, "expired_time": 0},
        )
        if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], str):
            raise UpstreamError(_NEWAPI, NOT_THE_PROVIDER, transient=False, detail="no one code")
        return data[0]

    async def find_code(self, name: str) -> str | None:
        """The code an earlier try made under ``name``, if any (the oldest, should there be
        more): New API has no idempotency, so this is what a retry asks first."""
        data = await self._envelope("GET", "/api/redemption/search", params={"keyword": name})
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise UpstreamError(_NEWAPI, NOT_THE_PROVIDER, transient=False, detail="no items")
        found = [i for i in items if isinstance(i, dict) and i.get("name") == name]
        found.sort(key=lambda item: int(item.get("id") or 0))
        key = found[0].get("key") if found else None
        return key if isinstance(key, str) and key else None

    async def code_state(self, name: str, code: str) -> str | None:
        """Whether code ``code``, made under ``name``, was redeemed: ``spent`` (New API's
        status 3, used), ``unused`` (1, enabled), ``disabled`` (2); ``None`` if the search
        does not find it. The same search a retry makes (``find_code``)."""
        data = await self._envelope("GET", "/api/redemption/search", params={"keyword": name})
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise UpstreamError(_NEWAPI, NOT_THE_PROVIDER, transient=False, detail="no items")
        for item in items:
            if isinstance(item, dict) and item.get("key") == code:
                status = item.get("status")
                return _CODE_STATES.get(status) if isinstance(status, int) else None
        return None

    async def check(self) -> None:
        """A read that needs the admin's rights: the credentials work. Its refusal in New API's
        envelope (HTTP 200, ``success`` false) is a refusal of the credentials."""
        try:
            await self._envelope("GET", "/api/redemption/search", params={"keyword": "atu-check"})
        except UpstreamError as exc:
            if exc.outcome != REQUEST_REFUSED or exc.status is not None:
                raise
            raise UpstreamError(
                _NEWAPI, CREDENTIALS_REFUSED, transient=False, detail=exc.detail
            ) from None


@dataclass(frozen=True, slots=True)
class OpenRouterKey:
    hash: str
    key: str | None  # shown only when the key is created
    limit_usd: float | None


@dataclass(frozen=True, slots=True)
class OpenRouter:
    """OpenRouter's key management API, with a management key (``Authorization: Bearer``).
    A key's ``limit`` is in US dollars."""

    http: httpx.AsyncClient
    management_key: str
    base_url: str = OPENROUTER_BASE_URL
    share: str | None = None  # whose share of the pool its calls hold (a merchant's id)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.management_key}"}

    def _url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        _, body = await _call(
            self.http,
            _OPENROUTER,
            method,
            self._url(path),
            self.share,
            headers=self._headers(),
            **kwargs,
        )
        if not isinstance(body, dict):
            raise UpstreamError(
                _OPENROUTER, NOT_THE_PROVIDER, transient=False, detail="not an object"
            )
        return body

    @staticmethod
    def _key(data: Any, key: Any = None) -> OpenRouterKey:
        if not isinstance(data, dict) or not isinstance(data.get("hash"), str):
            raise UpstreamError(_OPENROUTER, NOT_THE_PROVIDER, transient=False, detail="no key")
        limit = data.get("limit")
        return OpenRouterKey(
            data["hash"],
            key if isinstance(key, str) else None,
            float(limit) if isinstance(limit, int | float) else None,
        )

    async def create_key(self, name: str, limit_usd: float) -> OpenRouterKey:
        body = await self._call("POST", "/keys", json={"name": name, "limit": limit_usd})
        made = self._key(body.get("data"), body.get("key"))
        if made.key is None:
            raise UpstreamError(_OPENROUTER, NOT_THE_PROVIDER, transient=False, detail="no new key")
        return made

    async def set_limit(self, key_hash: str, limit_usd: float) -> OpenRouterKey:
        body = await self._call("PATCH", f"/keys/{key_hash}", json={"limit": limit_usd})
        return self._key(body.get("data"))

    async def get_key(self, key_hash: str) -> OpenRouterKey:
        body = await self._call("GET", f"/keys/{key_hash}")
        return self._key(body.get("data"))

    async def disable_named(self, name: str) -> int:
        """Disable every key named ``name`` among the most recent (a making whose answer was
        lost left it, its secret with it): how many."""
        body = await self._call("GET", "/keys", params={"offset": 0})
        listed = body.get("data")
        if not isinstance(listed, list):
            raise UpstreamError(
                _OPENROUTER, NOT_THE_PROVIDER, transient=False, detail="a list without data"
            )
        found = [k for k in listed if isinstance(k, dict) and k.get("name") == name]
        for key in found:
            if not key.get("disabled"):
                await self._call("PATCH", f"/keys/{key['hash']}", json={"disabled": True})
        return len(found)

    async def check(self) -> None:
        """Listing keys needs a management key: the credentials work."""
        body = await self._call("GET", "/keys", params={"offset": 0})
        if not isinstance(body.get("data"), list):
            raise UpstreamError(
                _OPENROUTER, NOT_THE_PROVIDER, transient=False, detail="a list without data"
            )


def usd(cents: int) -> float:
    """Cents as OpenRouter's dollars (exact for every whole number of cents we send)."""
    return round(cents / 100, 2)
