"""Authentication by API key, below every door: ``Authorization: Bearer ak_<env>_…`` → the
caller. ``presented_key`` reads the header and ``challenged`` adds the 401's challenge for REST
and MCP over HTTP alike; ``insufficient_scope`` is the 403's challenge (RFC 6750 3.1) to a
credential that is valid but lacks the call's scope, which ``ScopeChallenge`` adds to every
such refusal of the REST API and ``/mcp`` answers before a tool runs (``mcp.http``).

Runs as Starlette's AuthenticationMiddleware backend over ``authenticate_key``: the lockout
(``gateway.lockout``) around ``callers.authenticate``, for every door that takes keys over the
network. No header leaves the request anonymous (the route decides whether that is allowed); a
bad header is refused here, each case with its own code, and two headers are refused whatever
they hold, so no layer can read one and another layer the other.
"""

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from keys import POLLER_KEY_PREFIX, InvalidApiKey, parse_api_key

from .callers import Caller, authenticate, require_scope
from .freezes.service import FREEZE_PATH
from .lockout import client_address
from .policies.model import SCOPES, Scope
from .ratelimit import Decision, Limit, LimiterUnavailable, unavailable
from .services import Services, services
from .values.clock import utcnow
from .values.code_names import Code
from .values.codes import CATALOGUE
from .values.envelope import SCOPE_CODE, error_response
from .values.outcome import ApiError
from .values.public_base import base_url
from .values.resources import API_PATH, PROTECTED_RESOURCE_PATH, Resource
from .values.settings import Settings
from .webhooks.urls import INBOX_PATH, POLLERS_PATH

__all__ = [
    "ApiKeyBackend",
    "ScopeChallenge",
    "auth_error",
    "authenticate_key",
    "challenged",
    "door_resource",
    "insufficient_scope",
    "presented_key",
    "require_caller",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KeyUser(BaseUser):
    caller: Caller

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.caller.merchant_id

    @property
    def identity(self) -> str:
        return self.caller.key_id


class KeyRefused(AuthenticationError):
    def __init__(self, refusal: ApiError) -> None:
        super().__init__(int(refusal.code))
        self.refusal = refusal


def _locked_out(lockout: Decision) -> ApiError:
    return ApiError(Code.AUTH_RATE_LIMITED, data=lockout.data(), headers=lockout.headers())


def _limits(svc: Services, client: str, presented: str) -> list[Limit]:
    """The buckets an attempt with ``presented`` counts against: the client's, and the pair of
    client and key prefix when it is shaped like a key (the display prefix, env included). The
    prefix is public (dashboards and logs show it), so a bucket of the prefix alone would let
    anyone lock a merchant's key out by failing with it; a pair's failures lock out only the
    client that made them."""
    settings = svc.settings
    window = settings.auth_failure_window_seconds
    limits = [Limit(f"auth:client:{client}", settings.auth_failures_per_client, window)]
    try:
        prefix = parse_api_key(presented).display_prefix
    except InvalidApiKey:
        return limits
    limits.append(
        Limit(f"auth:key:{client}:{prefix}", settings.auth_failures_per_key_prefix, window)
    )
    return limits


async def authenticate_key(
    svc: Services,
    pepper: bytes,
    presented: str,
    client: str,
    resource: Resource | None = None,
    *,
    frozen_ok: bool = False,
) -> Caller:
    """The caller behind ``presented`` (the bare key, or an access token for ``resource``), or
    ``ApiError``: locked out (``AUTH_RATE_LIMITED``, the right key too) if this client or key
    prefix is, else the refusal of ``callers.authenticate``, which counts against both (but a
    frozen environment's: the key is right, and its person must be able to unfreeze from the
    same address)."""
    limits = _limits(svc, client, presented)
    locked = await svc.lockout.locked(svc.redis, limits)
    if locked is not None:
        raise _locked_out(locked)
    try:
        caller = await authenticate(
            svc.db, pepper, presented, resource=resource, frozen_ok=frozen_ok
        )
    except ApiError as refused:
        if refused.code == Code.ENVIRONMENT_FROZEN:
            raise
        over = await svc.lockout.failed(svc.redis, limits)
        if over is not None:
            raise _locked_out(over) from None
        raise
    per_minute = caller.policy.rate_limit_per_minute
    if per_minute is not None:
        await _within_rate(svc, caller.key_id, per_minute)
    await svc.last_used.touch(svc.db, caller.key_id, utcnow())
    svc.key_requests.record(svc.redis, caller.key_id)
    return caller


async def _within_rate(svc: Services, key_id: str, per_minute: int) -> None:
    """The key's ``rate_limit_per_minute``, counted in Redis for every gateway process (in
    batches: ``ratelimit.Leases``). Closed: the limit is what the key's owner gave it (an agent's
    key, say), not the holder's to lift, so a count Redis cannot make refuses the request (503),
    and a count that is only slow (the holder's own burst) waits for it rather than skip it."""
    try:
        decision = await svc.leases.hit(
            svc.redis,
            f"key:{key_id}",
            per_minute,
            60,
            closed=True,
            answer_within=svc.settings.redis_answer_seconds,
        )
    except LimiterUnavailable as exc:
        log.warning("key rate limit could not be counted, refusing: %s", exc)
        raise unavailable() from None
    if not decision.allowed:
        raise ApiError(Code.KEY_RATE_LIMITED, data=decision.data(), headers=decision.headers())


def presented_key(conn: HTTPConnection) -> str | None:
    """The key of the one ``Authorization`` header (``None``: there is none); every door that
    takes a key over HTTP reads it here. Anything but a bearer key is a failed attempt too, so
    it comes back as ``""`` and counts against the client."""
    headers = conn.headers.getlist("authorization")
    if not headers:
        return None
    if len(headers) > 1:
        raise ApiError(Code.AUTH_HEADER_REPEATED)
    scheme, _, presented = headers[0].partition(" ")
    return presented.strip() if scheme.lower() == "bearer" else ""


def challenged(
    conn: HTTPConnection,
    refusal: ApiError,
    path: str = API_PATH,
    *,
    scope: Sequence[str] = (),
) -> ApiError:
    """``refusal`` with the Bearer challenge every 401 carries, unless it set its own headers:
    where the protected resource at ``path`` is described (RFC 9728 5.1), so an OAuth client
    finds its authorization server from any door; the ``scope`` a client should ask for, where
    the door names one (RFC 6750 3: without it the `mcp` SDK's client asks for what the
    metadata lists); and ``error="invalid_token"`` when a credential was given and is not one
    (RFC 6750 3.1: none when there was no credential). A refusal for a missing scope gets
    ``insufficient_scope``'s challenge instead, for the request's caller (``KeyUser``), on a
    door that renders its refusals itself (New API's); the REST API's get it from
    ``ScopeChallenge``."""
    if refusal.headers is None and refusal.code == Code.KEY_SCOPE_MISSING:
        needed = _named(refusal.data)
        if needed is not None:
            challenge = insufficient_scope(conn, needed, _caller_of(conn.scope), path)
            refusal.headers = {"WWW-Authenticate": challenge}
    if refusal.headers is None and CATALOGUE[refusal.code].http_status == 401:
        base = base_url(services(conn).settings.public_base_url)
        challenge = f'Bearer resource_metadata="{base}{PROTECTED_RESOURCE_PATH}{path}"'
        if scope:
            challenge += f', scope="{" ".join(scope)}"'
        if refusal.code != Code.AUTH_MISSING:
            challenge += ', error="invalid_token"'
        refusal.headers = {"WWW-Authenticate": challenge}
    return refusal


def insufficient_scope(
    conn: HTTPConnection, needed: Scope, caller: Caller | None, path: str = API_PATH
) -> str:
    """The ``WWW-Authenticate`` challenge of a credential that is valid but lacks ``needed``
    (RFC 6750 3.1), as MCP's scope challenge has it: ``error="insufficient_scope"``, the
    ``scope`` to ask for, and where the resource at ``path`` is described (RFC 9728 5.1).

    The ``scope`` is the one the call needs, then every scope the credential already holds:
    a client that asks again for exactly this keeps what it had. MCP's 2026-07-28 revision
    has the client add what it held itself and lets the server name either; naming both
    serves the clients of the earlier revision too, which ask for the challenge's scopes
    alone. It is only what to ask for: the consent page gives no more than the app registered
    and the person's role may give, and a refresh never adds a scope."""
    held = () if caller is None else caller.policy.scopes
    asked = [needed, *(s for s in SCOPES if s in held and s != needed)]
    base = base_url(services(conn).settings.public_base_url)
    return (
        f'Bearer error="insufficient_scope", scope="{" ".join(asked)}", '
        f'resource_metadata="{base}{PROTECTED_RESOURCE_PATH}{path}"'
    )


def _named(data: object) -> Scope | None:
    """The scope a ``KEY_SCOPE_MISSING`` refusal's data names (``{"scope": …}``), if it is one."""
    needed = data.get("scope") if isinstance(data, dict) else None
    return next((s for s in SCOPES if s == needed), None)


def _needed(body: bytes) -> Scope | None:
    """The scope a refusal's envelope names (``data.scope``), if it is one."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return None
    return _named(envelope.get("data")) if isinstance(envelope, dict) else None


def _caller_of(scope: AsgiScope) -> Caller | None:
    user = scope.get("user")
    return user.caller if isinstance(user, KeyUser) else None


class ScopeChallenge:
    """Every refusal of the REST API for a missing scope (``KEY_SCOPE_MISSING``, 403), whoever
    made it (a route's ``require_caller``, a send's or a charge's policy, raised or returned as
    the outcome), leaves with the ``insufficient_scope`` challenge for its credential, a key's
    or a token's alike; its body stays the envelope. The scope comes from the envelope's own
    ``data.scope``, read back from the one body message an envelope is sent in. Any other
    reply passes as it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PATH + "/"):
            await self.app(scope, receive, send)
            return
        held: Message | None = None

        async def challenging(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                if message["status"] == 403 and scope.get(SCOPE_CODE) == Code.KEY_SCOPE_MISSING:
                    held = message
                    return
            elif held is not None:
                start, held = held, None
                needed = None if message.get("more_body") else _needed(message.get("body", b""))
                if needed is not None:
                    conn = HTTPConnection(scope)
                    challenge = insufficient_scope(conn, needed, _caller_of(scope)).encode()
                    start["headers"] = [*start.get("headers", ()), (b"www-authenticate", challenge)]
                await send(start)
            await send(message)

        await self.app(scope, receive, challenging)


def door_resource(settings: Settings, path: str = API_PATH) -> Resource:
    """A door (the REST API, ``/mcp``) as a resource an access token is bound to."""
    return Resource.of(base_url(settings.public_base_url), path)


class ApiKeyBackend(AuthenticationBackend):
    """Only ``/api/public/`` routes take API keys (and access tokens issued for the API); the
    admin API has its own token."""

    def __init__(self, pepper: bytes) -> None:
        self._pepper = pepper

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        # The scope's path, not ``conn.url``'s: the prefixes compare alike, and a URL object
        # built on every request only to read its path was a tenth of the key's admission.
        path: str = conn.scope["path"]
        # The test inbox receives what an endpoint sends, a merchant's own Authorization header
        # included: its token in the path is all it asks for.
        if not path.startswith("/api/public/") or path.startswith(INBOX_PATH):
            return None
        try:
            presented = presented_key(conn)
            if presented is None:
                return None
            # A poller's own key reads its poller and nothing else: its route checks it.
            if presented.startswith(POLLER_KEY_PREFIX) and path.startswith(POLLERS_PATH):
                return None
            svc = services(conn)
            caller = await authenticate_key(
                svc,
                self._pepper,
                presented,
                client_address(conn),
                door_resource(svc.settings),
                frozen_ok=path == FREEZE_PATH,
            )
        except ApiError as refused:
            raise KeyRefused(refused) from None
        return AuthCredentials(["api"]), KeyUser(caller)


def auth_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    refusal = exc.refusal if isinstance(exc, KeyRefused) else ApiError(Code.AUTH_MALFORMED)
    return error_response(challenged(conn, refusal))


def require_caller(request: Request, scope: Scope | None) -> Caller:
    """The request's caller, whose key's scopes must include ``scope`` (``None``: the
    operation checks it itself, with the rest of the key's policy)."""
    user = request.scope.get("user")
    if not isinstance(user, KeyUser):
        raise challenged(request, ApiError(Code.AUTH_MISSING))
    if scope is not None:
        require_scope(user.caller, scope)
    return user.caller
