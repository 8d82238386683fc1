"""Bearer API keys: ``Authorization: Bearer ak_<env>_…`` → the merchant and environment.

Runs as Starlette's AuthenticationMiddleware backend. No header leaves the request anonymous (the
route decides whether that is allowed); a bad header is refused here, each case with its own code.
The key is looked up by its peppered HMAC, so the comparison never touches the raw key.
"""

from dataclasses import dataclass

from sqlalchemy import select
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from keys import InvalidApiKey, hash_api_key, parse_api_key

from .codes import Code
from .envelope import ApiError
from .services import services
from .store.models import ApiKeyRow, Merchant, table_of

__all__ = ["ApiKeyBackend", "Caller", "auth_error", "require_caller"]

_K = table_of(ApiKeyRow)
_M = table_of(Merchant)


@dataclass(frozen=True, slots=True)
class Caller(BaseUser):
    key_id: str
    merchant_id: str
    env: str
    low_balance_threshold_cents: int

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.merchant_id

    @property
    def identity(self) -> str:
        return self.key_id


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
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise KeyRefused(Code.AUTH_MALFORMED)
        try:
            key = parse_api_key(raw.strip())
        except InvalidApiKey:
            raise KeyRefused(Code.AUTH_MALFORMED) from None
        db = services(conn).db
        stmt = (
            select(
                _K.c.id,
                _K.c.env,
                _K.c.revoked_at,
                _K.c.merchant_id,
                _M.c.low_balance_threshold_cents,
            )
            .join(_M, _M.c.id == _K.c.merchant_id)
            .where(_K.c.key_hash == hash_api_key(key, self._pepper))
        )
        async with db.engine.connect() as c:
            row = (await c.execute(stmt)).first()
        if row is None:
            raise KeyRefused(Code.AUTH_UNKNOWN)
        if row.revoked_at is not None:
            raise KeyRefused(Code.AUTH_REVOKED)
        caller = Caller(row.id, row.merchant_id, row.env, row.low_balance_threshold_cents)
        return AuthCredentials(["api"]), caller


def auth_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    code = exc.code if isinstance(exc, KeyRefused) else Code.AUTH_MALFORMED
    return ApiError(code, headers={"WWW-Authenticate": "Bearer"}).response()


def require_caller(request: Request) -> Caller:
    user = request.scope.get("user")
    if not isinstance(user, Caller):
        raise ApiError(Code.AUTH_MISSING, headers={"WWW-Authenticate": "Bearer"})
    return user
