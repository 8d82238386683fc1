"""Merchants, their wallets and their API keys. Keys are stored only as peppered hashes."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import ENVS, ApiKey, Env, hash_api_key, mint_api_key

from ..ledger import grants
from ..ledger import service as ledger
from ..policies.model import Policy, load
from ..store.engine import Database
from ..store.models import ApiKeyRow, Merchant, table_of
from ..store.rows import CoreRow
from ..values.clock import new_id
from ..values.marking import marked
from . import holds, names, template_store

__all__ = [
    "KeyInfo",
    "MerchantInfo",
    "create_key",
    "create_merchant",
    "key_info",
    "list_keys",
    "list_merchants",
    "merchant_by_id",
    "notify_recipients",
    "revoke_key",
    "set_notify_recipients",
]

_M = table_of(Merchant)
_K = table_of(ApiKeyRow)


@dataclass(frozen=True, slots=True)
class MerchantInfo:
    id: str
    name: str
    low_balance_threshold_cents: int


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    merchant_id: str
    merchant_name: str
    env: str
    display_prefix: str
    created_at: datetime
    revoked_at: datetime | None
    name: str | None
    policy: Policy  # the effective one: ``UNRESTRICTED`` for a legacy key
    legacy: bool  # no stored policy: made before policies existed
    last_used_at: datetime | None


def key_info(row: CoreRow, merchant_name: str) -> KeyInfo:
    """A key as it reads, from its ``api_keys`` row."""
    return KeyInfo(
        row.id,
        row.merchant_id,
        merchant_name,
        row.env,
        row.display_prefix,
        row.created_at,
        row.revoked_at,
        row.name,
        load(row.policy),
        row.policy is None,
        row.last_used_at,
    )


async def create_merchant(
    conn: AsyncConnection,
    db: Database,
    *,
    name: str,
    low_balance_threshold_cents: int,
    staging_initial_balance_cents: int,
    now: datetime,
    language: str | None = None,
) -> MerchantInfo:
    """A merchant with a wallet per environment; the staging one starts funded. ``name`` keeps
    the rule of names (``names.check_name``): each door says so in its own words first.
    ``language``: its recipients' language to start with, one of ``values.languages``'s (the
    caller checks it; none: each reader's browser)."""
    name = names.check_name(name)
    merchant = MerchantInfo(new_id("mer"), name, low_balance_threshold_cents)
    await conn.execute(
        insert(_M).values(
            id=merchant.id,
            name=name,
            low_balance_threshold_cents=low_balance_threshold_cents,
            language=language,
            created_at=now,
        )
    )
    for env in ENVS:
        wallet_id, _ = await ledger.ensure_wallet(conn, env, merchant.id, now)
        if env == "staging" and staging_initial_balance_cents > 0:
            await ledger.credit(conn, wallet_id, staging_initial_balance_cents, now, grants.PAID)
            await ledger.append(
                conn,
                [
                    ledger.Entry(
                        wallet_id,
                        env,
                        staging_initial_balance_cents,
                        "initial_funding",
                        memo=marked("staging sandbox starting balance"),
                    )
                ],
                now,
            )
    return merchant


async def merchant_by_id(conn: AsyncConnection, merchant_id: str) -> MerchantInfo | None:
    """The merchant with this id, or ``None``. Operators name a merchant by its id only: a name
    is a label anyone who signs up may pick, never a way to find whom to act for."""
    row = (await conn.execute(select(_M).where(_M.c.id == merchant_id))).first()
    if row is None:
        return None
    return MerchantInfo(row.id, row.name, row.low_balance_threshold_cents)


async def list_merchants(conn: AsyncConnection) -> list[MerchantInfo]:
    rows = await conn.execute(select(_M).order_by(_M.c.id))
    return [MerchantInfo(r.id, r.name, r.low_balance_threshold_cents) for r in rows]


async def create_key(
    conn: AsyncConnection,
    merchant_id: str,
    env: Env,
    pepper: bytes,
    now: datetime,
    *,
    name: str | None = None,
    policy: Policy | None = None,
    hides_codes: bool = False,
) -> tuple[str, ApiKey]:
    """Mint a key; the raw key exists only in the return value. Without a policy the key is
    stored as the keys made before policies were: no policy, every scope and no limit.
    ``hides_codes``: its maker may not see spendable codes, so the key sees none.

    Rules about who may make which key live in ``merchants.keys``; this is the write alone."""
    key = mint_api_key(env)
    key_id = new_id("key")
    await conn.execute(
        insert(_K).values(
            id=key_id,
            merchant_id=merchant_id,
            env=env,
            key_hash=hash_api_key(key, pepper),
            display_prefix=key.display_prefix,
            name=name,
            **template_store.columns(policy),
            created_at=now,
            revoked_at=None,
            hides_codes=hides_codes,
        )
    )
    return key_id, key


async def list_keys(conn: AsyncConnection, merchant_id: str | None = None) -> list[KeyInfo]:
    stmt = (
        select(_K, _M.c.name.label("merchant_name"))
        .join(_M, _M.c.id == _K.c.merchant_id)
        .order_by(_K.c.id)
    )
    if merchant_id is not None:
        stmt = stmt.where(_K.c.merchant_id == merchant_id)
    return [key_info(r, r.merchant_name) for r in await conn.execute(stmt)]


async def revoke_key(conn: AsyncConnection, key_id: str, now: datetime) -> bool:
    """Revoke; ``False`` if there is no such key. Revoking twice keeps the first time. What the
    key holds for approval is ended with it (``holds.close``)."""
    result = await conn.execute(
        update(_K).where(_K.c.id == key_id, _K.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    if result.rowcount:
        await holds.close(conn, select(_K.c.id).where(_K.c.id == key_id), now)
        return True
    return (await conn.execute(select(_K.c.id).where(_K.c.id == key_id))).first() is not None


async def notify_recipients(conn: AsyncConnection, merchant_id: str) -> bool:
    """Whether the merchant's recipients get the voucher e-mail (its own switch)."""
    found = await conn.execute(select(_M.c.notify_recipients).where(_M.c.id == merchant_id))
    return bool(found.scalar_one())


async def set_notify_recipients(conn: AsyncConnection, merchant_id: str, on: bool) -> None:
    await conn.execute(update(_M).where(_M.c.id == merchant_id).values(notify_recipients=on))
