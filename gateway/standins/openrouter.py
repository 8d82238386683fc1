"""A stand-in of OpenRouter's key management API (what the gateway calls to make and limit a
recipient's key): ``Authorization: Bearer <management key>``; a key object in ``data``, the new
key's secret beside it in ``key`` on creation only; errors as ``{"error": {"code", "message"}}``.
"""

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import Faults

__all__ = ["MANAGEMENT_KEY", "OpenRouterStandIn"]

MANAGEMENT_KEY = "sk-or-v1-mgmt-0123456789abcdef"  # the tests' key; a command makes its own


def _openrouter_error(code: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=code)


@dataclass
class OpenRouterStandIn:
    """OpenRouter's key management API: ``Authorization: Bearer <management key>``; a key
    object in ``data``, the new key's secret beside it in ``key`` on creation only; errors as
    ``{"error": {"code", "message"}}``."""

    faults: Faults = field(default_factory=Faults)
    management_key: str = MANAGEMENT_KEY
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)

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

    @staticmethod
    def _public(data: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in data.items() if k != "secret"}

    async def create(self, request: Request) -> Response:
        failed = await self._refused(request)
        if failed is not None:
            return failed
        body = await request.json()
        name, limit = body.get("name"), body.get("limit")
        if not isinstance(name, str) or not name:
            return _openrouter_error(400, "name is required")
        secret = "sk-or-v1-" + secrets.token_hex(32)
        key_hash = hashlib.sha256(secret.encode()).hexdigest()
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        data = {
            "hash": key_hash,
            "name": name,
            "label": secret[:14] + "...",
            "disabled": False,
            "limit": limit,
            "limit_remaining": limit,
            "usage": 0,
            "created_at": now,
            "updated_at": None,
            "secret": secret,
        }
        self.keys[key_hash] = data
        return JSONResponse({"data": self._public(data), "key": secret}, status_code=201)

    async def update(self, request: Request) -> Response:
        data = await self._key(request)
        if isinstance(data, Response):
            return data
        body = await request.json()
        for name in ("name", "disabled", "limit"):
            if name in body:
                data[name] = body[name]
        data["limit_remaining"] = data["limit"]
        data["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
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

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v1/keys", self.create, methods=["POST"]),
                Route("/api/v1/keys", self.list, methods=["GET"]),
                Route("/api/v1/keys/{hash}", self.update, methods=["PATCH"]),
                Route("/api/v1/keys/{hash}", self.get, methods=["GET"]),
            ]
        )
