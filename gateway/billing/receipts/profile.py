"""The merchant's billing profile: the legal name, address, country and tax id its receipts carry.

One per merchant, not per environment: a business has one legal identity whichever environment
it pays in. Every key of the merchant reads it; it is changed by an owner in the dashboard or
with a live key (a staging key is a developer's, and must not change what live receipts say).
A receipt copies it when the order is paid (``receipts``): changing it later changes no receipt.
"""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ...callers import Caller
from ...store.engine import Database
from ...store.expressions import upsert
from ...store.models import BillingProfile, table_of
from ...values.clock import rfc3339_or_none, utcnow
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from . import PROFILE_COLUMNS
from .schemas import BillingProfileData, BillingProfileReply, BillingProfileRequest

__all__ = ["get_profile", "profile_of", "put_profile", "save_profile"]

_BP = table_of(BillingProfile)


def profile_of(row: Any) -> BillingProfileData | None:
    """The profile columns of ``row`` (a profile, or a receipt's copy); ``None`` when empty."""
    values = {column: getattr(row, column) for column in PROFILE_COLUMNS}
    if values["legal_name"] is None:
        return None
    return BillingProfileData(**values)


def _reply(merchant_id: str, row: Any) -> BillingProfileReply:
    if row is None:
        empty = dict.fromkeys(PROFILE_COLUMNS)
        return BillingProfileReply(merchant_id=merchant_id, updated_at=None, **empty)
    values = {column: getattr(row, column) for column in PROFILE_COLUMNS}
    return BillingProfileReply(
        merchant_id=merchant_id, updated_at=rfc3339_or_none(row.updated_at), **values
    )


async def _read(conn: AsyncConnection, merchant_id: str) -> BillingProfileReply:
    row = (await conn.execute(select(_BP).where(_BP.c.merchant_id == merchant_id))).first()
    return _reply(merchant_id, row)


async def get_profile(db: Database, merchant_id: str) -> Outcome:
    """The merchant's billing profile (``BillingProfileReply``; every field null until saved)."""
    async with db.read() as conn:
        return Outcome(Code.SUCCESS, await _read(conn, merchant_id))


async def save_profile(db: Database, merchant_id: str, body: BillingProfileRequest) -> Outcome:
    """Replace the merchant's billing profile with ``body`` (validated by its model); the
    profile after. Receipts already issued keep the one they copied."""
    values = {**body.model_dump(), "updated_at": utcnow()}
    stmt = upsert(_BP).values(merchant_id=merchant_id, **values)
    stmt = stmt.on_conflict_do_update(index_elements=[_BP.c.merchant_id], set_=values)
    async with db.transaction() as conn:
        await conn.execute(stmt)
        found = await _read(conn, merchant_id)
    return Outcome(Code.BILLING_PROFILE_SAVED, found)


async def put_profile(db: Database, caller: Caller, body: BillingProfileRequest) -> Outcome:
    """The API's door: a live key only (``BILLING_PROFILE_LIVE_ONLY``), as the dashboard lets
    only an owner."""
    if caller.env != "live":
        raise ApiError(Code.BILLING_PROFILE_LIVE_ONLY)
    return await save_profile(db, caller.merchant_id, body)
