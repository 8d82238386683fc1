"""Connected apps: the consents given to apps, as the merchant who gave them sees them.

A merchant lists its consents in an environment (the app, who consented, the policy and its
spend per window, the last use), changes a consent's policy, or revokes it (refused from the
next request, every token with it). A changed policy stays within what the app asked for and
apps may hold (``APP_SCOPES``), within what the changer may give (``merchants.keys``'s
rule for a key's scopes, the same one), and within what the member who gave it may give
(``grants.check_giver``).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..budgets import service as budgets
from ..callers import Caller
from ..merchants import keys as key_service
from ..merchants import template_store
from ..merchants.keys import revoke_consents
from ..policies.model import CONSENT_ONLY, Policy, load
from ..policies.usage import usage
from ..store.engine import Database
from ..store.models import ApiKeyRow, Merchant, OAuthApp, User, table_of
from ..store.rows import CoreRow
from ..values.clock import rfc3339, rfc3339_or_none, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from . import managed
from .grants import PERSON_CHOSEN, VOUCHED_FOR_ONLY, check_giver
from .schemas import APP_SCOPES, AppRef, ConnectionData, MeData, MerchantRef

__all__ = ["list_connections", "me", "revoke_connection", "update_connection"]

_K = table_of(ApiKeyRow)
_A = table_of(OAuthApp)
_U = table_of(User)
_M = table_of(Merchant)


@dataclass(frozen=True, slots=True)
class _Holder:
    """A consent as ``policies.usage`` reads a key: never one made before policies."""

    key_id: str
    env: str
    policy: Policy
    legacy: bool = False


def _query(merchant_id: str, env: str) -> Any:
    return (
        sa.select(_K, _A.c.name.label("app_name"), _U.c.email.label("granted_email"))
        .join(_A, _A.c.id == _K.c.app_id)
        .outerjoin(_U, _U.c.id == _K.c.granted_by)
        .where(_K.c.merchant_id == merchant_id, _K.c.env == env, _K.c.app_id.is_not(None))
    )


async def _data(db: Database, row: CoreRow, now: datetime) -> ConnectionData:
    policy = load(row.policy)
    found = await usage(db, _Holder(row.id, row.env, policy), now)
    return ConnectionData(
        id=row.id,
        app_id=row.app_id,
        app_name=row.app_name,
        env=row.env,
        granted_by=row.granted_email,
        policy=policy,
        windows=found.windows,
        created_at=rfc3339(row.created_at),
        last_used_at=rfc3339_or_none(row.last_used_at),
        revoked_at=rfc3339_or_none(row.revoked_at),
    )


async def _row(conn: AsyncConnection, merchant_id: str, env: str, key_id: str) -> Any:
    row = (await conn.execute(_query(merchant_id, env).where(_K.c.id == key_id))).first()
    if row is None:
        raise ApiError(Code.CONNECTION_NOT_FOUND)
    return row


async def list_connections(db: Database, merchant_id: str, env: str) -> Outcome:
    """Newest first, revoked ones too."""
    now = utcnow()
    async with db.read() as conn:
        rows = (await conn.execute(_query(merchant_id, env).order_by(_K.c.id.desc()))).all()
    return Outcome(Code.SUCCESS, [await _data(db, row, now) for row in rows])


async def update_connection(db: Database, caller: Caller, key_id: str, policy: Policy) -> Outcome:
    async with db.transaction() as conn:
        row = await _row(conn, caller.merchant_id, caller.env, key_id)
        app = (
            await conn.execute(sa.select(_A.c.scopes, _A.c.verified).where(_A.c.id == row.app_id))
        ).one()
        asked, given = app.scopes, load(row.policy).scopes
        beyond = [
            s
            for s in policy.scopes
            if s not in asked or s not in APP_SCOPES or (not app.verified and s in VOUCHED_FOR_ONLY)
        ]
        if beyond:
            raise ApiError(Code.KEY_SCOPE_NOT_GRANTABLE, data={"scopes": beyond})
        # A scope a person must choose is added by a person, on the consent page, never by a
        # credential's change of the consent (kept, it stays; this door is a key's alone).
        unchosen = [s for s in policy.scopes if s in PERSON_CHOSEN and s not in given]
        if unchosen:
            raise ApiError(
                Code.KEY_SCOPE_NOT_GRANTABLE,
                "Only a person adds this scope to an app's consent, on the consent page",
                data={"scopes": unchosen},
            )
        will = await template_store.bounded(conn, caller.merchant_id, caller.env, policy)
        # A scope only a consent holds, and this one already does, stays without the changer
        # holding it (no key does); adding one is the consent page's, an owner's, alone.
        kept = {s for s in given if s in CONSENT_ONLY}
        key_service.check_grantable(
            key_service.by_key(caller), will.narrowed(s for s in will.scopes if s not in kept)
        )
        await check_giver(conn, row, policy)
        await budgets.check_policy(conn, caller.merchant_id, caller.env, policy)
        await conn.execute(
            sa.update(_K).where(_K.c.id == key_id).values(**template_store.columns(policy))
        )
        row = await _row(conn, caller.merchant_id, caller.env, key_id)
        await managed.end_if_beyond(conn, row, utcnow())
    return Outcome(Code.SUCCESS, await _data(db, row, utcnow()))


async def revoke_connection(db: Database, caller: Caller, key_id: str) -> Outcome:
    now = utcnow()
    async with db.transaction() as conn:
        await _row(conn, caller.merchant_id, caller.env, key_id)
        await revoke_consents(conn, _K.c.id == key_id, now)
        row = await _row(conn, caller.merchant_id, caller.env, key_id)
    return Outcome(Code.DELETED, await _data(db, row, now))


async def me(db: Database, caller: Caller) -> Outcome:
    async with db.read() as conn:
        name = (
            await conn.execute(sa.select(_M.c.name).where(_M.c.id == caller.merchant_id))
        ).scalar_one()
        app = None
        if caller.app_id is not None:
            app_name = (
                await conn.execute(sa.select(_A.c.name).where(_A.c.id == caller.app_id))
            ).scalar_one()
            app = AppRef(id=caller.app_id, name=app_name)
    return Outcome(
        Code.SUCCESS,
        MeData(
            merchant=MerchantRef(id=caller.merchant_id, name=name),
            env=caller.env,
            app=app,
            scopes=list(caller.policy.scopes),
            policy=caller.policy,
        ),
    )
