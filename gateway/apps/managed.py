"""The key an app manages through its consent: made, read and rotated with an access token
whose consent gives ``keys:manage``.

An app acting for a merchant may hold one API key of its own in that merchant's environment,
for what a token's hour does not cover (a server calling on its own). The key is within what
the consent gives, never more: its scopes are among the consent's (as the token holds them),
``keys:manage`` never among them, the code's reveal only where the consent reveals, and every
limit no looser (``Policy.beyond`` empty against the consent's policy as it acts, under its
template). Past that, ``MANAGED_KEY_BEYOND_CONSENT``, nothing made. The raw key is in the
answer that makes it alone; reading it answers the key as the merchant's own list shows it.

What is judged here is what the key is made with. What it may do is judged again at every
request, against the consent as it stands then (``callers``: the key is read with its consent
and the consent's template, and acts under ``templates.under_consent``), and every payment it
makes counts in the consent's own windows too (``rules.Consent``): the windows of the consent's
tokens, shared by every key it ever managed, so a rotation, which starts the new key's own
windows afresh, gives the app nothing of the consent's, and needs no count of its own.

One live key per consent: the consent's row is locked while a key is made or rotated, so two
concurrent makes see each other and the second is refused (``MANAGED_KEY_EXISTS``); a partial
unique index (``api_keys.managed_by`` where not revoked) holds it as well. A rotation revokes
the key it replaces in the same transaction as it makes the new one. Revoking the consent, in
any way it ends, revokes the key with it (``merchants.keys.revoke_consents``); narrowing the
consent past the key revokes the key (``end_if_beyond``).

The key is one of the merchant's keys (counted with them, listed on its Keys page, revoked
there as any other); the app sees no other: it reaches this one key through its consent alone,
and its tokens never hold the ``keys`` scope the key routes ask for.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..callers import Caller, require_scope
from ..merchants import keys as key_service
from ..merchants import service, template_store
from ..merchants.schemas import KeyCreated, KeyData
from ..policies.model import Policy, Scope, load
from ..store.engine import Database
from ..store.models import ApiKeyRow, table_of
from ..store.rows import CoreRow
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome

__all__ = ["MANAGE", "end_if_beyond", "mint_key", "read_key", "rotate_key"]

MANAGE: Scope = "keys:manage"
_K = table_of(ApiKeyRow)


def _consent_of(caller: Caller) -> str:
    """The consent the caller's token acts as; a merchant's own key manages keys at ``/keys``."""
    if caller.app_id is None:
        raise ApiError(Code.MANAGED_KEY_FOR_APPS_ONLY)
    require_scope(caller, MANAGE)
    return caller.key_id


async def _consent_policy(conn: AsyncConnection, caller: Caller) -> Policy:
    """The consent's policy as it acts now, within the token's scopes, its row locked: makes
    and rotations of one consent take turns. A consent revoked since the token was read is
    refused as its token would be from now on."""
    row = (
        await conn.execute(
            sa.select(_K.c.policy, _K.c.revoked_at)
            .where(_K.c.id == caller.key_id, _K.c.app_id == caller.app_id)
            .with_for_update()
        )
    ).first()
    if row is None or row.revoked_at is not None:
        raise ApiError(Code.TOKEN_REVOKED)
    held = await template_store.bounded(conn, caller.merchant_id, caller.env, load(row.policy))
    return held.narrowed(caller.policy.scopes)


async def _beyond(
    conn: AsyncConnection, merchant_id: str, env: str, consent: Policy, policy: Policy
) -> dict[str, Any] | None:
    """What a key with ``policy`` would do beyond ``consent``: a scope it lacks (or
    ``keys:manage``), the code's reveal it does not give, a limit looser than its own."""
    missing = [s for s in policy.scopes if s not in consent.scopes or s == MANAGE]
    if missing:
        return {"scopes": missing}
    if policy.reveals_voucher() and not consent.reveals_voucher():
        return {"reveal_voucher": True}
    wider = (await template_store.bounded(conn, merchant_id, env, policy)).beyond(consent)
    return {"fields": list(wider)} if wider else None


async def _within(conn: AsyncConnection, caller: Caller, consent: Policy, policy: Policy) -> None:
    refused = await _beyond(conn, caller.merchant_id, caller.env, consent, policy)
    if refused is not None:
        raise ApiError(Code.MANAGED_KEY_BEYOND_CONSENT, data=refused)


async def end_if_beyond(conn: AsyncConnection, consent: CoreRow, now: datetime) -> None:
    """After the merchant changed the consent ``consent`` (its row as it is now), revoke its key
    if the key now does more than the consent gives: a key is never wider than its consent, and
    the app asks again (make) rather than act on more than it was given."""
    live = await _live(conn, consent.id)
    if live is None:
        return
    env = str(consent.env)
    given = await template_store.bounded(conn, consent.merchant_id, env, load(consent.policy))
    if await _beyond(conn, consent.merchant_id, env, given, load(live.policy)) is not None:
        await service.revoke_key(conn, live.id, now)


async def _live(conn: AsyncConnection, consent_id: str) -> Any:
    return (
        await conn.execute(
            sa.select(_K).where(_K.c.managed_by == consent_id, _K.c.revoked_at.is_(None))
        )
    ).first()


def _actor(caller: Caller, consent: Policy) -> key_service.Actor:
    """The consent as the maker of its key: within it, and hiding codes where it does."""
    return key_service.Actor(
        caller.merchant_id,
        caller.env,
        frozenset(s for s in consent.scopes if s != MANAGE),
        consent.reveals_voucher(),
        hides_codes=not caller.sees_codes(upstream=False),
        bound=consent,
    )


async def _make(
    conn: AsyncConnection,
    caller: Caller,
    consent: Policy,
    *,
    name: str | None,
    policy: Policy,
    pepper: bytes,
    now: datetime,
    cap: int,
) -> KeyCreated:
    await _within(conn, caller, consent, policy)
    made = await key_service.create(
        conn, _actor(caller, consent), name=name, policy=policy, pepper=pepper, now=now, cap=cap
    )
    await conn.execute(sa.update(_K).where(_K.c.id == made.id).values(managed_by=caller.key_id))
    return made


async def mint_key(
    db: Database, caller: Caller, *, name: str | None, policy: Policy, pepper: bytes, cap: int
) -> Outcome:
    """The consent's key, if it has none live (``MANAGED_KEY_EXISTS`` else, naming it); the raw
    key in this answer alone. ``cap``: the merchant's keys per environment, this one among them."""
    consent_id = _consent_of(caller)
    async with db.transaction() as conn:
        consent = await _consent_policy(conn, caller)
        live = await _live(conn, consent_id)
        if live is not None:
            raise ApiError(Code.MANAGED_KEY_EXISTS, data={"id": live.id})
        made = await _make(
            conn, caller, consent, name=name, policy=policy, pepper=pepper, now=utcnow(), cap=cap
        )
    return Outcome(Code.CREATED, made)


async def read_key(db: Database, caller: Caller) -> Outcome:
    """The consent's live key as the merchant's list shows it: never the raw key again."""
    consent_id = _consent_of(caller)
    async with db.read() as conn:
        live = await _live(conn, consent_id)
        if live is None:
            raise ApiError(Code.MANAGED_KEY_NOT_FOUND)
        found: KeyData = await key_service.get(conn, _actor(caller, caller.policy), live.id)
    return Outcome(Code.SUCCESS, found)


async def rotate_key(db: Database, caller: Caller, *, pepper: bytes, cap: int) -> Outcome:
    """A new key with the old one's name and policy, shown once; the old one is revoked in the
    same transaction. Its policy is judged again against the consent as it is now: a consent
    narrowed since refuses it (``MANAGED_KEY_BEYOND_CONSENT``), and the old key stands."""
    consent_id = _consent_of(caller)
    now = utcnow()
    async with db.transaction() as conn:
        consent = await _consent_policy(conn, caller)
        live = await _live(conn, consent_id)
        if live is None:
            raise ApiError(Code.MANAGED_KEY_NOT_FOUND)
        await service.revoke_key(conn, live.id, now)
        made = await _make(
            conn,
            caller,
            consent,
            name=live.name,
            policy=load(live.policy),
            pepper=pepper,
            now=now,
            cap=cap,
        )
    return Outcome(Code.CREATED, made)
