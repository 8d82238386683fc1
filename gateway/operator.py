"""What the operator does on the gateway's machine, outside any request: make a merchant, find
one by its id, make a key for it. The command line and ``aitopup run``'s demo key both call these.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Env, Sealer

from .merchants import directory
from .merchants import keys as merchant_keys
from .merchants import service as merchants
from .policies.model import UNRESTRICTED, Policy
from .store.db import open_database
from .store.engine import Database
from .values.clock import utcnow
from .values.settings import Settings

if TYPE_CHECKING:
    from .freezes.schemas import FreezeData, Held

__all__ = [
    "UnknownMerchant",
    "command_store",
    "create_key",
    "create_merchant",
    "find_merchant",
    "merchant_with_id",
    "revoke_key",
    "switch_freeze",
]


class UnknownMerchant(Exception):
    """``--merchant`` named no merchant's id; the message says how to find one."""

    def __init__(self, given: str) -> None:
        super().__init__(
            f"no merchant has the id {given!r}: --merchant takes a merchant's id (mer_…), never "
            "its name; `aitopup merchants list` shows each id with its name, and "
            "`aitopup merchants create NAME` makes a merchant and prints its id"
        )


@asynccontextmanager
async def command_store(settings: Settings) -> AsyncIterator[Database]:
    """The store for one command: opened for it, and disposed of after it, whatever happens."""
    db = open_database(settings.database_url, statement_cache=settings.database_statement_cache)
    try:
        yield db
    finally:
        await db.dispose()


async def merchant_with_id(conn: AsyncConnection, merchant_id: str) -> merchants.MerchantInfo:
    found = await merchants.merchant_by_id(conn, merchant_id)
    if found is None:
        raise UnknownMerchant(merchant_id)
    return found


async def _create_merchant(settings: Settings, name: str) -> merchants.MerchantInfo:
    async with command_store(settings) as db, db.transaction() as conn:
        return await merchants.create_merchant(
            conn,
            db,
            name=name,
            low_balance_threshold_cents=settings.default_low_balance_threshold_cents,
            staging_initial_balance_cents=settings.staging_initial_balance_cents,
            now=utcnow(),
        )


def create_merchant(settings: Settings, name: str) -> merchants.MerchantInfo:
    """A new merchant (its staging wallet funded), whatever other merchants are called."""
    return asyncio.run(_create_merchant(settings, name))


async def _find_merchant(settings: Settings, merchant_id: str) -> merchants.MerchantInfo | None:
    async with command_store(settings) as db, db.read() as conn:
        return await merchants.merchant_by_id(conn, merchant_id)


def find_merchant(settings: Settings, merchant_id: str) -> merchants.MerchantInfo | None:
    return asyncio.run(_find_merchant(settings, merchant_id))


async def _create_key(
    settings: Settings, env: Env, merchant_id: str, name: str | None, policy: Policy
) -> tuple[merchants.MerchantInfo, str, str]:
    async with command_store(settings) as db:
        async with db.transaction() as conn:
            merchant = await merchant_with_id(conn, merchant_id)
            created = await merchant_keys.create(
                conn,
                merchant_keys.by_operator(merchant.id),
                env=env,
                name=name,
                policy=policy,
                pepper=settings.key_pepper.get_secret_value().encode(),
                now=utcnow(),
                cap=settings.max_keys_per_merchant_env,
            )
        return merchant, created.id, created.key


def create_key(
    settings: Settings,
    env: Env,
    merchant_id: str,
    *,
    name: str | None = None,
    policy: Policy = UNRESTRICTED,
) -> tuple[merchants.MerchantInfo, str, str]:
    """``(merchant, key id, raw key)`` for the merchant with this id (``UnknownMerchant`` if
    none); the raw key is never stored. Without a policy the operator's key may do everything:
    often the merchant's first, it makes the others."""
    return asyncio.run(_create_key(settings, env, merchant_id, name, policy))


async def _revoke_key(settings: Settings, key_id: str) -> merchants.MerchantInfo | None:
    async with command_store(settings) as db:
        revoked = await directory.revoke_any_key(db, key_id)
    return None if revoked.data is None else revoked.one(merchants.MerchantInfo)


def revoke_key(settings: Settings, key_id: str) -> merchants.MerchantInfo | None:
    """The merchant whose key this was (revoked now, or kept revoked since it first was), or
    ``None`` if there is no such key."""
    return asyncio.run(_revoke_key(settings, key_id))


async def _switch_freeze(
    settings: Settings, merchant_id: str, env: str, held: "Held | None"
) -> "FreezeData":
    # Here, not at the top: the other commands of this module start without the top-ups.
    from .freezes import hands
    from .freezes import service as freezes
    from .freezes.schemas import FreezeData, FreezeRequest

    sealer = Sealer(settings.secret_key.get_secret_value().encode())
    who = freezes.Freezer(merchant_id, env, "the operator (cli)")
    async with command_store(settings) as db:
        if (await directory.merchant(db, merchant_id)).data is None:
            raise UnknownMerchant(merchant_id)
        if held is None:
            done = await freezes.unfreeze(db, sealer, who, hands.OPERATOR)
        else:
            asked = FreezeRequest(held=held)
            done = await freezes.freeze(db, sealer, who, asked)
    return done.one(FreezeData)


def switch_freeze(
    settings: Settings, merchant_id: str, env: str, held: "Held | None"
) -> "FreezeData":
    """The kill switch of the merchant's ``env``: frozen, held sends as ``held`` says, or (``held``
    ``None``) unfrozen; its state after. The workers find the event's and the mails' rows on
    their own: nothing here wakes them."""
    return asyncio.run(_switch_freeze(settings, merchant_id, env, held))
