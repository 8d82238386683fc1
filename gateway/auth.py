"""Bearer API keys: ``Authorization: Bearer ak_<env>_…`` → the merchant and environment.

Runs as Starlette's AuthenticationMiddleware backend. No header leaves the request anonymous (the
route decides whether that is allowed); a bad header is refused here, each case with its own code.
The key is looked up by its peppered HMAC, so the comparison never touches the raw key.
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

from keys import InvalidApiKey, hash_api_key, parse_api_key

from .codes import Code
from .envelope import ApiError
from .services import services
from .store.raw import Statement

__all__ = ["ApiKeyBackend", "Caller", "auth_error", "require_caller"]

# One statement per request: the key, its merchant and the wallet of its environment. Every
# merchant has a wallet per environment from the moment it is created.
_LOOKUP = Statement(
    """SELECT k.id, k.env, k.revoked_at, k.merchant_id, m.low_balance_threshold_cents,
        w.id AS wallet_id
    FROM api_keys k
    JOIN merchants m ON m.id = k.merchant_id
    JOIN wallets w ON w.env = k.env AND w.owner = 'm:' || k.merchant_id
    WHERE k.key_hash = :key_hash""",
    ("id", "env", "revoked_at", "merchant_id", "low_balance_threshold_cents", "wallet_id"),
)


@dataclass(frozen=True, slots=True)
class Caller(BaseUser):
    key_id: str
    merchant_id: str
    env: str
    low_balance_threshold_cents: int
    wallet_id: str  # the merchant's wallet in this key's environment

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
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise KeyRefused(Code.AUTH_MALFORMED)
        try:
            key = parse_api_key(presented.strip())
        except InvalidApiKey:
            raise KeyRefused(Code.AUTH_MALFORMED) from None
        async with services(conn).db.reader() as db:
            row = await db.fetchrow(_LOOKUP, {"key_hash": hash_api_key(key, self._pepper)})
        if row is None:
            raise KeyRefused(Code.AUTH_UNKNOWN)
        if row["revoked_at"] is not None:
            raise KeyRefused(Code.AUTH_REVOKED)
        caller = Caller(
            row["id"],
            row["merchant_id"],
            row["env"],
            int(row["low_balance_threshold_cents"]),
            row["wallet_id"],
        )
        return AuthCredentials(["api"]), caller


def auth_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    code = exc.code if isinstance(exc, KeyRefused) else Code.AUTH_MALFORMED
    return ApiError(code, headers={"WWW-Authenticate": "Bearer"}).response()


def require_caller(request: Request) -> Caller:
    user = request.scope.get("user")
    if not isinstance(user, Caller):
        raise ApiError(Code.AUTH_MISSING, headers={"WWW-Authenticate": "Bearer"})
    return user
