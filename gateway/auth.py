"""The REST door's authentication: ``Authorization: Bearer ak_<env>_…`` → the caller.

Runs as Starlette's AuthenticationMiddleware backend over ``callers.authenticate``, the one
definition every door uses. No header leaves the request anonymous (the route decides whether
that is allowed); a bad header is refused here, each case with its own code.
"""

from dataclasses import dataclass

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from .callers import Caller, authenticate
from .codes import Code
from .envelope import error_response
from .outcome import ApiError
from .services import services

__all__ = ["ApiKeyBackend", "Caller", "auth_error", "require_caller"]


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
    def __init__(self, code: Code) -> None:
        super().__init__(int(code))
        self.code = code


class ApiKeyBackend(AuthenticationBackend):
    """Only ``/api/public/`` routes take API keys; the admin API has its own token."""

    def __init__(self, pepper: bytes) -> None:
        self._pepper = pepper

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        if not conn.url.path.startswith("/api/public/"):
            return None
        header = conn.headers.get("authorization")
        if header is None:
            return None
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise KeyRefused(Code.AUTH_MALFORMED)
        try:
            caller = await authenticate(services(conn).db, self._pepper, presented.strip())
        except ApiError as refused:
            raise KeyRefused(refused.code) from None
        return AuthCredentials(["api"]), KeyUser(caller)


def auth_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    code = exc.code if isinstance(exc, KeyRefused) else Code.AUTH_MALFORMED
    return error_response(ApiError(code, headers={"WWW-Authenticate": "Bearer"}))


def require_caller(request: Request) -> Caller:
    user = request.scope.get("user")
    if not isinstance(user, KeyUser):
        raise ApiError(Code.AUTH_MISSING, headers={"WWW-Authenticate": "Bearer"})
    return user.caller
