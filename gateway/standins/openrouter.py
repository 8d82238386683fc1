"""A stand-in of OpenRouter's key management API (what the gateway calls to make and limit a
recipient's key, and to read what it spent): ``Authorization: Bearer <management key>``; a key
object in ``data``, the new key's secret beside it in ``key`` on creation only; errors as
``{"error": {"code", "message"}}``.

A key holds what OpenRouter's does: ``limit``, ``limit_reset`` (``daily``, ``weekly``,
``monthly`` or null), ``expires_at`` (ISO 8601 UTC, or null; another zone is refused, as
OpenRouter refuses it), ``usage`` and its ``usage_daily``/``usage_weekly``/``usage_monthly``, and
``limit_remaining``: the limit less the period's usage (the whole usage without a reset), null
without a limit. Its periods never roll over: a test moves usage by hand.

Spending is the stand-in's own, there being no model here to call: ``record_usage`` (what a test
calls), or ``POST /api/v1/standin/usage {"usd": 0.25}`` with the recipient's key as the Bearer
(for ``aitopup dev openrouter``), which adds to the key's usage as a completion would. Calls made
with a key (that one and OpenRouter's ``GET /api/v1/key``) are refused as OpenRouter refuses
them: 401 for a key unknown, disabled or expired; 402 once its limit is spent."""

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import Faults

__all__ = ["LIMIT_RESETS", "MANAGEMENT_KEY", "OpenRouterStandIn"]

MANAGEMENT_KEY = "sk-or-v1-mgmt-0123456789abcdef"  # the tests' key; a command makes its own
LIMIT_RESETS = ("daily", "weekly", "monthly")
_PERIODS = ("usage_daily", "usage_weekly", "usage_monthly")


def _openrouter_error(code: int, message: str, **metadata: Any) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if metadata:
        error["metadata"] = metadata
    return JSONResponse({"error": error}, status_code=code)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(given: Any) -> datetime | None:
    """An ``expires_at`` OpenRouter takes: ISO 8601 in UTC (``Z`` or ``+00:00``), else ``None``."""
    if not isinstance(given, str):
        return None
    try:
        found = datetime.fromisoformat(given)
    except ValueError:
        return None
    if found.utcoffset() != timedelta(0):  # naive, or another zone
        return None
    return found.astimezone(UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class OpenRouterStandIn:
    """OpenRouter's key management API: ``Authorization: Bearer <management key>``; a key
    object in ``data``, the new key's secret beside it in ``key`` on creation only; errors as
    ``{"error": {"code", "message"}}``. ``clock``: the time a key's expiry is judged by (a test
    moves it instead of waiting)."""

    faults: Faults = field(default_factory=Faults)
    management_key: str = MANAGEMENT_KEY
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock: Callable[[], datetime] = _utcnow
    # Each creation's body as it was received, for a test to read.
    created: list[dict[str, Any]] = field(default_factory=list)

    async def _refused(self, request: Request) -> Response | None:
        """Every call: the faults a test set first, then the management key."""
        failed = await self.faults.before()
        if failed is not None:
            return failed
        presented = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not secrets.compare_digest(presented, self.management_key):
            return _openrouter_error(401, "Invalid key")
        return None

    async def _key(self, request: Request) -> dict[str, Any] | Response:
        """The key a call names, past the same checks as every call."""
        failed = await self._refused(request)
        if failed is not None:
            return failed
        data = self.keys.get(request.path_params["hash"])
        return _openrouter_error(404, "Key not found") if data is None else data

    def expired(self, data: dict[str, Any]) -> bool:
        expires = _utc(data.get("expires_at"))
        return expires is not None and expires <= self.clock()

    @staticmethod
    def _remaining(data: dict[str, Any]) -> None:
        """``limit_remaining``: the limit less the usage it counts (the period's with a reset)."""
        limit = data["limit"]
        if limit is None:
            data["limit_remaining"] = None
            return
        reset = data.get("limit_reset")
        used = data[f"usage_{reset}"] if reset in LIMIT_RESETS else data["usage"]
        data["limit_remaining"] = round(limit - used, 6)

    @staticmethod
    def _public(data: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in data.items() if k != "secret"}

    async def create(self, request: Request) -> Response:
        failed = await self._refused(request)
        if failed is not None:
            return failed
        body = await request.json()
        self.created.append(body)
        name, limit = body.get("name"), body.get("limit")
        if not isinstance(name, str) or not name:
            return _openrouter_error(400, "name is required")
        reset = body.get("limit_reset")
        if reset is not None and reset not in LIMIT_RESETS:
            return _openrouter_error(400, "limit_reset must be daily, weekly, monthly or null")
        expires = body.get("expires_at")
        if expires is not None and _utc(expires) is None:
            return _openrouter_error(400, "expires_at must be an ISO 8601 timestamp in UTC")
        secret = "sk-or-v1-" + secrets.token_hex(32)
        key_hash = hashlib.sha256(secret.encode()).hexdigest()
        data = {
            "hash": key_hash,
            "name": name,
            "label": secret[:14] + "...",
            "disabled": False,
            "limit": limit,
            "limit_remaining": limit,
            "limit_reset": reset,
            "usage": 0,
            **dict.fromkeys(_PERIODS, 0),
            "created_at": _stamp(self.clock()),
            "updated_at": None,
            "expires_at": expires,
            "secret": secret,
        }
        self._remaining(data)
        self.keys[key_hash] = data
        return JSONResponse({"data": self._public(data), "key": secret}, status_code=201)

    async def update(self, request: Request) -> Response:
        data = await self._key(request)
        if isinstance(data, Response):
            return data
        body = await request.json()
        if "limit_reset" in body and body["limit_reset"] not in (None, *LIMIT_RESETS):
            return _openrouter_error(400, "limit_reset must be daily, weekly, monthly or null")
        for name in ("name", "disabled", "limit", "limit_reset"):
            if name in body:
                data[name] = body[name]
        self._remaining(data)
        data["updated_at"] = _stamp(self.clock())
        return JSONResponse({"data": self._public(data)})

    async def get(self, request: Request) -> Response:
        data = await self._key(request)
        if isinstance(data, Response):
            return data
        return JSONResponse({"data": self._public(data)})

    async def list(self, request: Request) -> Response:
        failed = await self._refused(request)
        if failed is not None:
            return failed
        return JSONResponse({"data": [self._public(d) for d in self.keys.values()]})

    def by_secret(self, secret: str) -> dict[str, Any]:
        return self.keys[hashlib.sha256(secret.encode()).hexdigest()]

    def record_usage(self, key_hash: str, usd: float) -> dict[str, Any]:
        """The stand-in's own: ``usd`` spent with the key (all time and in every period), as a
        completion would; OpenRouter's ``limit_remaining`` follows. Whatever the key's state."""
        data = self.keys[key_hash]
        for name in ("usage", *_PERIODS):
            data[name] = round(data[name] + usd, 6)
        self._remaining(data)
        return data

    async def _spending(self, request: Request) -> dict[str, Any] | Response:
        """The key a call is made with (not the management key), refused as OpenRouter refuses
        it: unknown, disabled or expired, 401."""
        failed = await self.faults.before()
        if failed is not None:
            return failed
        presented = request.headers.get("authorization", "").removeprefix("Bearer ")
        found = self.keys.get(hashlib.sha256(presented.encode()).hexdigest())
        if found is None or found["disabled"] or self.expired(found):
            return _openrouter_error(401, "User not found.")
        return found

    async def current(self, request: Request) -> Response:
        """OpenRouter's ``GET /api/v1/key``: the calling key's own figures."""
        data = await self._spending(request)
        if isinstance(data, Response):
            return data
        shown = {k: data[k] for k in ("label", "limit", "limit_remaining", "limit_reset")}
        periods = {name: data[name] for name in ("usage", *_PERIODS)}
        return JSONResponse({"data": {**shown, **periods, "expires_at": data["expires_at"]}})

    async def spend(self, request: Request) -> Response:
        """The stand-in's own ``POST /api/v1/standin/usage {"usd"}``: spending with the key."""
        data = await self._spending(request)
        if isinstance(data, Response):
            return data
        body = await request.json()
        usd = body.get("usd") if isinstance(body, dict) else None
        if isinstance(usd, bool) or not isinstance(usd, int | float) or not 0 < usd <= 1000:
            return _openrouter_error(400, "usd: a number above 0, at most 1000")
        left = data["limit_remaining"]
        if left is not None and left <= 0:
            return _openrouter_error(402, "Key limit exceeded", limit_source="openrouter_key_limit")
        spent = self.record_usage(data["hash"], float(usd))
        return JSONResponse({"data": self._public(spent)})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v1/keys", self.create, methods=["POST"]),
                Route("/api/v1/keys", self.list, methods=["GET"]),
                Route("/api/v1/keys/{hash}", self.update, methods=["PATCH"]),
                Route("/api/v1/keys/{hash}", self.get, methods=["GET"]),
                Route("/api/v1/key", self.current, methods=["GET"]),
                Route("/api/v1/standin/usage", self.spend, methods=["POST"]),
            ]
        )
