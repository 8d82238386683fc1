"""The operator's view across merchants, as the command line shows it: every merchant, every key,
a merchant by its id, and a key's policy or revocation named by the key alone (the operator acts
for the key's merchant, ``keys.by_operator``). Each opens its own read or transaction and answers
an ``Outcome``, whose data is the value the command prints from."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from ..policies.model import Policy
from ..store.engine import Database
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from . import keys, service
from .schemas import KeyData

__all__ = [
    "OwnedKey",
    "all_keys",
    "all_merchants",
    "merchant",
    "revoke_any_key",
    "set_key_policy",
]


@dataclass(frozen=True, slots=True)
class OwnedKey:
    merchant: service.MerchantInfo
    key: KeyData


async def all_merchants(db: Database) -> Outcome:
    """Every merchant (``MerchantInfo``), by id."""
    async with db.read() as conn:
        found = await service.list_merchants(conn)
    return Outcome(Code.SUCCESS, found)


async def merchant(db: Database, merchant_id: str) -> Outcome:
    """The merchant with this id (``MerchantInfo``), or ``None`` as the data."""
    async with db.read() as conn:
        found = await service.merchant_by_id(conn, merchant_id)
    return Outcome(Code.SUCCESS, found)


async def all_keys(db: Database) -> Outcome:
    """Every merchant's keys (``KeyInfo``, its merchant's name in it), oldest first."""
    async with db.read() as conn:
        found = await service.list_keys(conn)
    return Outcome(Code.SUCCESS, found)


async def _owner(conn: AsyncConnection, key_id: str) -> service.MerchantInfo:
    found = await service.merchant_by_id(conn, await keys.merchant_of(conn, key_id))
    if found is None:  # a key's merchant is a foreign key: it exists while the key does
        raise ApiError(Code.MERCHANT_NOT_FOUND)
    return found


async def set_key_policy(db: Database, key_id: str, policy: Policy) -> Outcome:
    """``policy`` as the key's whole policy (``OwnedKey``); no such key is 2006."""
    async with db.transaction() as conn:
        owner = await _owner(conn, key_id)
        changed = await keys.replace_policy(conn, keys.by_operator(owner.id), key_id, policy)
    return Outcome(Code.SUCCESS, OwnedKey(owner, changed))


async def revoke_any_key(db: Database, key_id: str) -> Outcome:
    """The key revoked (the first time kept); the data is its merchant (``MerchantInfo``), or
    ``None`` if there is no such key."""
    async with db.transaction() as conn:
        if not await service.revoke_key(conn, key_id, utcnow()):
            return Outcome(Code.SUCCESS, None)
        owner = await _owner(conn, key_id)
    return Outcome(Code.DELETED, owner)
