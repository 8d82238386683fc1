"""API keys as operators manage them: minted for a merchant (shown once), listed by display
prefix, revoked. Keys are stored only as peppered hashes (``merchants.service``)."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..clock import rfc3339, utcnow
from ..codes import Code
from ..merchants import service as merchants
from ..outcome import ApiError
from ..settings import Settings
from ..store.db import Database
from ..store.models import Merchant, table_of
from .audit import Call, record
from .schemas import ApiKeyCreated, ApiKeyData, KeyCreate

__all__ = ["create_key", "list_keys", "revoke_key"]

_M = table_of(Merchant)


def _data(key: merchants.KeyInfo) -> ApiKeyData:
    return ApiKeyData(
        id=key.id,
        env=key.env,
        display_prefix=key.display_prefix,
        created_at=rfc3339(key.created_at),
        revoked_at=rfc3339(key.revoked_at) if key.revoked_at else None,
    )


async def _merchant_exists(conn: AsyncConnection, merchant_id: str) -> None:
    if (await conn.execute(select(_M.c.id).where(_M.c.id == merchant_id))).first() is None:
        raise ApiError(Code.MERCHANT_NOT_FOUND)


async def list_keys(db: Database, merchant_id: str) -> list[ApiKeyData]:
    async with db.read() as conn:
        await _merchant_exists(conn, merchant_id)
        return [_data(k) for k in await merchants.list_keys(conn, merchant_id)]


async def create_key(
    db: Database, settings: Settings, call: Call, merchant_id: str, body: KeyCreate
) -> ApiKeyCreated:
    now = utcnow()
    pepper = settings.key_pepper.get_secret_value().encode()
    async with db.transaction() as conn:
        await _merchant_exists(conn, merchant_id)
        key_id, key = await merchants.create_key(conn, merchant_id, body.env, pepper, now)
        # The audit row names the key by id and prefix; the key itself exists only in the reply.
        await record(
            conn,
            call,
            Code.CREATED,
            now,
            target_id=merchant_id,
            details={"key_id": key_id, "env": body.env, "display_prefix": key.display_prefix},
        )
    return ApiKeyCreated(
        id=key_id,
        env=body.env,
        display_prefix=key.display_prefix,
        created_at=rfc3339(now),
        revoked_at=None,
        key=key.raw,
    )


async def revoke_key(db: Database, call: Call, merchant_id: str, key_id: str) -> ApiKeyData:
    """Refused from the next request on. Revoking twice keeps the first time."""
    now = utcnow()
    async with db.transaction() as conn:
        await _merchant_exists(conn, merchant_id)
        found = [k for k in await merchants.list_keys(conn, merchant_id) if k.id == key_id]
        if not found:
            raise ApiError(Code.API_KEY_NOT_FOUND)
        await merchants.revoke_key(conn, key_id, now)
        await record(
            conn, call, Code.SUCCESS, now, target_id=merchant_id, details={"key_id": key_id}
        )
        revoked = [k for k in await merchants.list_keys(conn, merchant_id) if k.id == key_id]
    return _data(revoked[0])
