"""Who is calling: an API key authenticated to its merchant and environment.

``authenticate`` is a plain function every door calls (the REST middleware, MCP, the CLI): the
presented key is parsed, looked up by its peppered HMAC (so the comparison never touches the raw
key), and refused, each case with its own code, if unknown or revoked.
"""

from dataclasses import dataclass
from typing import Any

from keys import InvalidApiKey, hash_api_key, parse_api_key

from .codes import Code
from .outcome import ApiError
from .store.db import Database
from .store.raw import Raw, Statement

__all__ = ["Caller", "authenticate"]

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
class Caller:
    key_id: str
    merchant_id: str
    env: str
    low_balance_threshold_cents: int
    wallet_id: str  # the merchant's wallet in this key's environment


async def authenticate(db: Database, pepper: bytes, presented: str) -> Caller:
    """The caller behind ``presented`` (the bare ``ak_…`` key), or ``ApiError``."""
    try:
        key = parse_api_key(presented)
    except InvalidApiKey:
        raise ApiError(Code.AUTH_MALFORMED) from None
    key_hash = hash_api_key(key, pepper)

    async def lookup(tx: Raw) -> dict[str, Any] | None:
        return await tx.fetchrow(_LOOKUP, {"key_hash": key_hash})

    row = await db.run(lookup, read_only=True)
    if row is None:
        raise ApiError(Code.AUTH_UNKNOWN)
    if row["revoked_at"] is not None:
        raise ApiError(Code.AUTH_REVOKED)
    return Caller(
        str(row["id"]),
        str(row["merchant_id"]),
        str(row["env"]),
        int(row["low_balance_threshold_cents"]),
        str(row["wallet_id"]),
    )
