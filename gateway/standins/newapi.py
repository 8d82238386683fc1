"""A stand-in of New API: the admin's redemption create and search (what the gateway calls),
the user's register, login, self and top-up (what a recipient does), and the console's Wallet
page (``/console/topup``) whose form signs in and redeems through those same routes.

Its answers are New API's: ``{success, message, data}``, HTTP 200 even for a refusal (401 or
403 for access). A call as a user carries ``New-Api-User: <id>`` and either that user's access
token (``Authorization``) or the session cookie login set, as New API's own middleware asks."""

import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .faults import Faults

__all__ = ["ADMIN_ID", "ADMIN_TOKEN", "SESSION_COOKIE", "NewApiStandIn"]

# The tests' admin; a command makes its own.
ADMIN_TOKEN = "newapi-admin-access-token-0123456789"  # noqa: S105
ADMIN_ID = 1
SESSION_COOKIE = "session"
_NAME_MAX = 20  # New API's own bounds on a username and a code's name
_PASSWORD = (8, 20)
_BODY_MAX = 4096  # what a user's JSON body may weigh here


def _refusal(message: str, status_code: int = 200) -> JSONResponse:
    """New API's refusal: ``success`` false and a message, HTTP 200 unless it is about access."""
    return JSONResponse({"success": False, "message": message}, status_code=status_code)


def _answer(data: Any = None, message: str = "") -> JSONResponse:
    return JSONResponse({"success": True, "message": message, "data": data})


def _digest(password: str) -> bytes:
    return hashlib.sha256(password.encode()).digest()


async def _json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > _BODY_MAX:
        return {}
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


@dataclass
class NewApiStandIn:
    """One New API instance in memory. ``users`` by id: its access ``token``, ``quota``,
    ``username`` and password digest; the admin is user 1, with ``admin_token``."""

    faults: Faults = field(default_factory=Faults)
    admin_token: str = ADMIN_TOKEN
    redemptions: list[dict[str, Any]] = field(default_factory=list)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.users.setdefault(
            ADMIN_ID,
            {"token": self.admin_token, "quota": 0, "username": "root", "password": None},
        )

    def add_user(self, username: str | None = None, password: str | None = None) -> tuple[int, str]:
        """A user, and their access token."""
        user_id = max(self.users) + 1
        token = secrets.token_hex(16)
        self.users[user_id] = {
            "token": token,
            "quota": 0,
            "username": username or f"user{user_id}",
            "password": None if password is None else _digest(password),
        }
        return user_id, token

    def _user(self, request: Request, *, admin: bool) -> int | Response:
        raw = request.headers.get("new-api-user", "")
        if not raw:
            return _refusal("No permission to do this: New-Api-User not provided", 401)
        try:
            user_id = int(raw)
        except ValueError:
            user_id = -1
        user = self.users.get(user_id)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        by_session = self.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        if token:
            known = user is not None and secrets.compare_digest(user["token"], token)
        else:
            known = user is not None and by_session == user_id
        if not known:
            return _refusal("No permission to do this: access token invalid", 401)
        if admin and user_id != ADMIN_ID:
            return _refusal("No permission to do this: insufficient privilege", 403)
        return user_id

    async def _admin(self, request: Request) -> int | Response:
        """The admin's calls: the faults a test set first, then the admin's credentials."""
        return await self.faults.before() or self._user(request, admin=True)

    async def create(self, request: Request) -> Response:
        user = await self._admin(request)
        if isinstance(user, Response):
            return user
        body = await request.json()
        name, count, quota = body.get("name", ""), body.get("count", 0), body.get("quota", 0)
        if not 0 < len(name) <= _NAME_MAX:
            return _refusal("Redemption code name must be 1-20 characters")
        if not 0 < count <= 100 or quota <= 0:
            return _refusal("Quota must be greater than 0")
        keys = []
        for _ in range(count):
            key = uuid.uuid4().hex
            self.redemptions.append(
                {
                    "id": len(self.redemptions) + 1,
                    "user_id": user,
                    "key": key,
                    "status": 1,
                    "name": name,
                    "quota": quota,
                    "created_time": int(time.time()),
                    "redeemed_time": 0,
                    "used_user_id": 0,
                    "expired_time": body.get("expired_time", 0),
                }
            )
            keys.append(key)
        return _answer(keys)

    async def search(self, request: Request) -> Response:
        user = await self._admin(request)
        if isinstance(user, Response):
            return user
        keyword = request.query_params.get("keyword", "")
        items = [r for r in self.redemptions if r["name"].startswith(keyword)]
        items.sort(key=lambda r: -r["id"])
        page = {"page": 1, "page_size": 10, "total": len(items), "items": items[:10]}
        return _answer(page)

    async def register(self, request: Request) -> Response:
        body = await _json(request)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not 0 < len(username) <= _NAME_MAX:
            return _refusal("Invalid username: 1-20 characters")
        if not isinstance(password, str) or not _PASSWORD[0] <= len(password) <= _PASSWORD[1]:
            return _refusal("Invalid password: 8-20 characters")
        if any(u["username"] == username for u in self.users.values()):
            return _refusal("Username already exists")
        self.add_user(username, password)
        return _answer(message="")

    async def login(self, request: Request) -> Response:
        body = await _json(request)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return _refusal("Invalid parameters")
        for user_id, user in self.users.items():
            stored = user["password"]
            if user["username"] != username or stored is None:
                continue
            if secrets.compare_digest(stored, _digest(password)):
                session = secrets.token_urlsafe(24)
                self.sessions[session] = user_id
                data = {"id": user_id, "username": username, "display_name": username}
                answer = _answer(data)
                answer.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict")
                return answer
        return _refusal("Username or password is wrong, or the user is banned")

    async def me(self, request: Request) -> Response:
        user_id = self._user(request, admin=False)
        if isinstance(user_id, Response):
            return user_id
        user = self.users[user_id]
        return _answer({"id": user_id, "username": user["username"], "quota": user["quota"]})

    async def topup(self, request: Request) -> Response:
        user = self._user(request, admin=False)
        if isinstance(user, Response):
            return user
        key = (await _json(request)).get("key", "")
        presented = key.encode() if isinstance(key, str) else b""
        for redemption in self.redemptions:
            if secrets.compare_digest(redemption["key"].encode(), presented):
                if redemption["status"] != 1:
                    break
                redemption.update(status=3, used_user_id=user, redeemed_time=int(time.time()))
                self.users[user]["quota"] += redemption["quota"]
                return _answer(redemption["quota"])
        return _refusal("Redemption failed, please try again later")

    async def topup_page(self, request: Request) -> Response:
        """The console's Wallet page: sign in (or register), then redeem a code, as New API's
        own page does it (``/api/user/login``, then ``/api/user/topup`` with the session)."""
        page = files(__package__).joinpath("console.html").read_text(encoding="utf-8")
        return HTMLResponse(page)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/console/topup", self.topup_page, methods=["GET"]),
                Route("/api/redemption/", self.create, methods=["POST"]),
                Route("/api/redemption/search", self.search, methods=["GET"]),
                Route("/api/user/register", self.register, methods=["POST"]),
                Route("/api/user/login", self.login, methods=["POST"]),
                Route("/api/user/self", self.me, methods=["GET"]),
                Route("/api/user/topup", self.topup, methods=["POST"]),
            ]
        )
