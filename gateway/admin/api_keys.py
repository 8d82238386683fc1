"""API keys as operators manage them: minted for a merchant with a name and a policy (shown
once), listed by display prefix, their policy changed, revoked. The rules are the merchant's own
(``merchants.keys``, acting as an operator: both environments, any scope); each change writes
its audit row in its own transaction. Keys are stored only as peppered hashes."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..merchants import keys
from ..merchants import service as merchants
from ..merchants.schemas import KeyUpdate
from ..policies.model import UNRESTRICTED
from ..store.engine import Database
from ..store.models import Merchant, table_of
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from .audit import Call, record
from .schemas import KeyCreate

__all__ = ["create_key", "list_keys", "revoke_key", "update_key"]

_M = table_of(Merchant)


async def _merchant_exists(conn: AsyncConnection, merchant_id: str) -> None:
    if (await conn.execute(select(_M.c.id).where(_M.c.id == merchant_id))).first() is None:
        raise ApiError(Code.MERCHANT_NOT_FOUND)


async def list_keys(db: Database, merchant_id: str) -> Outcome:
    async with db.read() as conn:
        await _merchant_exists(conn, merchant_id)
        found = [keys.data(k) for k in await merchants.list_keys(conn, merchant_id)]
    return Outcome(Code.SUCCESS, found)


async def create_key(
    db: Database, settings: Settings, call: Call, merchant_id: str, body: KeyCreate
) -> Outcome:
    """Without a policy the key may do everything, as an operator's keys always could: it is
    often a merchant's first, which makes the others."""
    now = utcnow()
    pepper = settings.key_pepper.get_secret_value().encode()
    async with db.transaction() as conn:
        await _merchant_exists(conn, merchant_id)
        created = await keys.create(
            conn,
            keys.by_operator(merchant_id),
            env=body.env,
            name=body.name,
            policy=body.policy or UNRESTRICTED,
            pepper=pepper,
            now=now,
            cap=settings.max_keys_per_merchant_env,
        )
        # The audit row names the key by id and prefix; the key itself exists only in the reply.
        await record(
            conn,
            call,
            Code.CREATED,
            now,
            target_id=merchant_id,
            details={
                "key_id": created.id,
                "env": body.env,
                "display_prefix": created.display_prefix,
                "scopes": list(created.policy.scopes),
            },
        )
    return Outcome(Code.CREATED, created)


async def update_key(
    db: Database, call: Call, merchant_id: str, key_id: str, body: KeyUpdate
) -> Outcome:
    """PATCH a key's name or policy, as the merchant would, with any scope to give."""
    now = utcnow()
    async with db.transaction() as conn:
        await _merchant_exists(conn, merchant_id)
        updated = await keys.update(conn, keys.by_operator(merchant_id), key_id, body)
        changed = sorted(body.model_fields_set - {"policy"})
        if body.policy is not None:
            changed += sorted(f"policy.{f}" for f in body.policy.model_fields_set)
        await record(
            conn,
            call,
            Code.SUCCESS,
            now,
            target_id=merchant_id,
            details={"key_id": key_id, "changed": changed},
        )
    return Outcome(Code.SUCCESS, updated)


async def revoke_key(db: Database, call: Call, merchant_id: str, key_id: str) -> Outcome:
    """Refused from the next request on. Revoking twice keeps the first time."""
    now = utcnow()
    async with db.transaction() as conn:
        await _merchant_exists(conn, merchant_id)
        revoked = await keys.revoke(conn, keys.by_operator(merchant_id), key_id, now)
        await record(
            conn, call, Code.SUCCESS, now, target_id=merchant_id, details={"key_id": key_id}
        )
    return Outcome(Code.SUCCESS, revoked)
