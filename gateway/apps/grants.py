"""Consents, codes and tokens: what the authorization server keeps, and its rules.

A person's consent is a key (``api_keys`` with ``app_id``), made through ``merchants.keys`` like
any other, so the scopes it gives are never more than the person's role may give
(``accounts.roles``, its ``connect`` action and ``grantable_scopes``, read in the consent's own
transaction) nor than the app asked for, and its policy is a key's policy, checked by the same
rules on every door. Its tokens act as that key, each with no more than the scopes it records
(``callers``): the budget is the consent's, whichever token spends it. Consents count against a
cap of their own per merchant and environment, apart from the keys. A consent lasts no longer
than its giver's right to give it: when the member leaves the merchant, or their new role could
not give it (``accounts.members``), it is revoked with every token, from the next request; it is
ended, never narrowed, so the app is refused and asks again rather than acting on less than it
was told it had.

- A code is single use: the first exchange wins (a conditional write); a code that comes back
  revokes every token it gave (its family), as OAuth 2.1 asks.
- A refresh token is used once and replaced (rotation); one used again revokes its family.
- An access token lives ``ACCESS_TTL`` and is bound to the resource it was asked for (RFC 8707).
Every code and token is kept only as its peppered HMAC.
"""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Env, hash_credential, mint_credential

from ..accounts import roles
from ..merchants import keys as key_service
from ..merchants import preferences
from ..merchants.keys import revoke_consents
from ..policies.model import KEY_ONLY, Limit, Policy, Scope, load
from ..store.engine import Database
from ..store.models import ApiKeyRow, Merchant, MerchantUser, OAuthCode, OAuthToken, table_of
from ..store.rows import CoreRow
from ..values.clock import new_id, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from .registry import App
from .schemas import APP_SCOPES

__all__ = [
    "ACCESS_TTL",
    "CODE_TTL",
    "PERSON_CHOSEN",
    "REFRESH_TTL",
    "VOUCHED_FOR_ONLY",
    "Granted",
    "Pending",
    "Tokens",
    "approve",
    "bounded",
    "check_giver",
    "find_access",
    "find_code",
    "find_refresh",
    "grantable",
    "preticked",
    "redeem_code",
    "revoke_connection",
    "revoke_token",
    "rotate_refresh",
]

ACCESS_TTL = timedelta(hours=1)
REFRESH_TTL = timedelta(days=30)
CODE_TTL = timedelta(minutes=5)
_C = table_of(OAuthCode)
_T = table_of(OAuthToken)
_K = table_of(ApiKeyRow)
_M = table_of(Merchant)
_MU = table_of(MerchantUser)


@dataclass(frozen=True, slots=True)
class Pending:
    """An authorization request the authorization endpoint checked, waiting for the person."""

    app_id: str
    redirect_uri: str
    redirect_uri_given: bool
    code_challenge: str
    resource: str
    scopes: tuple[str, ...]
    state: str | None


@dataclass(frozen=True, slots=True)
class Granted:
    """What a code or a refresh token holds, for the exchange."""

    app_id: str
    key_id: str
    family_id: str
    scopes: tuple[str, ...]
    resource: str | None
    expires_at: datetime | None
    redirect_uri: str = ""
    redirect_uri_given: bool = True
    code_challenge: str = ""


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    scopes: tuple[str, ...]


# Scopes a consent to an unverified app never starts with ticked: given only if the person
# ticks them, whatever the client asked (an MCP client asks for every scope it sees listed).
_TICKED_BY_A_PERSON: frozenset[str] = frozenset({"approvals", "fulfilment", "keys"})
# Scopes no consent starts with ticked, whoever vouches for the app: a key the app makes
# outlives every token, so a person (an owner, ``accounts.roles``) chooses it each time; and a
# payment to a seller moves money to whoever the app points it at. Only a person adds one to a
# consent, on the consent page: no credential widens a consent to one (``connections``).
PERSON_CHOSEN: frozenset[str] = frozenset({"keys:manage", "payments:send"})
# Scopes never given to an app nobody vouches for (a client that registered itself), whoever
# asks and whatever is ticked: paying sellers' 402s would let it move the wallet's money to a
# payee of its choosing.
VOUCHED_FOR_ONLY: frozenset[Scope] = frozenset({"payments:send"})


def preticked(app: App, asked: Sequence[str]) -> list[str]:
    """The scopes the consent page ticks before the person acts: what this request asks that
    the app registered, and for an app nobody vouches for, none that lets it approve, fulfil
    or make keys; and for any app, never ``keys:manage``."""
    return [
        s
        for s in APP_SCOPES
        if s in asked
        and s in app.scopes
        and (app.verified or s not in _TICKED_BY_A_PERSON)
        and s not in PERSON_CHOSEN
    ]


def bounded(app: App, policy: Policy, daily_cents: int) -> Policy:
    """The consent's policy: an unverified app's has a daily limit, the person's or, if they
    set none, ``daily_cents`` (the merchant's default); a merchant's own app, as given."""
    if app.verified or any(limit.interval == "daily" for limit in policy.limits):
        return policy
    daily = Limit(amount_cents=daily_cents, interval="daily")
    return policy.model_copy(update={"limits": (*policy.limits, daily)})


def grantable(app: App, role: str, env: str) -> frozenset[Scope]:
    """What a person of ``role`` may give ``app`` in ``env``: what the app asks for, that apps
    may hold at all, and that the role may give a key; nothing where the role may not connect
    apps at all; never a scope only a key holds (``KEY_ONLY``: the merchant's saved card),
    whatever the app's row says; and to an app nobody vouches for, none of ``VOUCHED_FOR_ONLY``
    (paying sellers)."""
    if not roles.allows(role, "connect", env):
        return frozenset()
    role_gives = roles.grantable_scopes(role, env)
    return frozenset(
        s
        for s in APP_SCOPES
        if s in app.scopes
        and s in role_gives
        and s not in KEY_ONLY
        and (app.verified or s not in VOUCHED_FOR_ONLY)
    )


async def approve(
    db: Database,
    *,
    app: App,
    pending: Pending,
    user_id: str,
    merchant_id: str,
    env: Env,
    policy: Policy,
    pepper: bytes,
    cap: int,
    unverified_daily_cents: int,
) -> Outcome:
    """The person's consent: a key for ``app`` with ``policy`` in ``merchant_id``'s ``env``, and
    a code for it. The person's role is read under the merchant's lock, as a removal or a role
    change takes it, so a consent is never given on a role just lost. Refused
    (``ROLE_NOT_ALLOWED``) where the role may not connect apps, or not a member at all;
    (``ROLE_SCOPE_NOT_GRANTABLE``) if the policy gives more than ``grantable``; the code's
    reveal never (an app reads codes only where the person could); past ``cap`` consents
    (``CONSENT_COUNT_LIMIT_REACHED``). An unverified app's consent is ``bounded`` by the
    merchant's default daily limit (``unverified_daily_cents`` where the merchant set none)
    unless the person set one. The code is the outcome's data."""
    now = utcnow()
    async with db.transaction() as conn:
        await conn.execute(sa.select(_M.c.id).where(_M.c.id == merchant_id).with_for_update())
        role = (
            await conn.execute(
                sa.select(_MU.c.role).where(
                    _MU.c.merchant_id == merchant_id, _MU.c.user_id == user_id
                )
            )
        ).scalar_one_or_none()
        if role is None:
            raise ApiError(Code.ROLE_NOT_ALLOWED)
        if not roles.allows(role, "connect", env):
            raise ApiError(Code.ROLE_NOT_ALLOWED, roles.describe(role, "connect", env))
        actor = key_service.by_role(
            merchant_id,
            env,
            grantable(app, role, env),
            roles.reveals_codes(role, env),
            f"An app gets no more than it asked for and your role ({role}) may give in {env}.",
            user_id,
        )
        if not app.verified:
            default = await preferences.unverified_app_daily(
                conn, merchant_id, unverified_daily_cents
            )
            policy = bounded(app, policy, default)
        made = await key_service.create(
            conn,
            actor,
            name=app.name,
            policy=policy,
            pepper=pepper,
            now=now,
            cap=cap,
            consent=True,
        )
        # The key itself is never shown: its tokens are the only way to act as it.
        await conn.execute(
            sa.update(_K)
            .where(_K.c.id == made.id)
            .values(app_id=app.id, key_hash=hash_credential(mint_credential("ocs"), pepper))
        )
        code = mint_credential("oac")
        await conn.execute(
            sa.insert(_C).values(
                code_hash=hash_credential(code, pepper),
                app_id=app.id,
                key_id=made.id,
                redirect_uri=pending.redirect_uri,
                redirect_uri_given=pending.redirect_uri_given,
                code_challenge=pending.code_challenge,
                resource=pending.resource,
                scopes=list(policy.scopes),
                family_id=new_id("fam"),
                expires_at=now + CODE_TTL,
                created_at=now,
            )
        )
    return Outcome(Code.CREATED, code)


async def check_giver(conn: AsyncConnection, row: CoreRow, policy: Policy) -> None:
    """Refuse (``ROLE_SCOPE_NOT_GRANTABLE``) a changed ``policy`` for the consent ``row`` that its
    giver's role could not give now: whoever changes a consent, it stays what a member of that
    role may give an app (``accounts.members`` ends one that no longer is)."""
    if row.granted_by is None:
        return
    role = (
        await conn.execute(
            sa.select(_MU.c.role).where(
                _MU.c.merchant_id == row.merchant_id, _MU.c.user_id == row.granted_by
            )
        )
    ).scalar_one_or_none()
    if role is None or not roles.gives(role, row.env, policy):
        raise ApiError(
            Code.ROLE_SCOPE_NOT_GRANTABLE,
            f"A consent gives no more than its giver's role ({role or 'none'}) may give in "
            f"{row.env}.",
            data={"scopes": list(policy.scopes)},
        )


async def _revoke_family(conn: AsyncConnection, family_id: str, now: datetime) -> None:
    await conn.execute(
        sa.update(_T)
        .where(_T.c.family_id == family_id, _T.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def find_code(db: Database, pepper: bytes, code: str, app_id: str) -> Granted | None:
    """The unused, unexpired code of ``app_id``. A code used already revokes what it gave."""
    now = utcnow()
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                sa.select(_C).where(
                    _C.c.code_hash == hash_credential(code, pepper), _C.c.app_id == app_id
                )
            )
        ).first()
        if row is None:
            return None
        if row.used_at is not None:
            await _revoke_family(conn, row.family_id, now)
            return None
    if row.expires_at <= now:
        return None
    return Granted(
        row.app_id,
        row.key_id,
        row.family_id,
        tuple(row.scopes),
        row.resource,
        row.expires_at,
        row.redirect_uri,
        row.redirect_uri_given,
        row.code_challenge,
    )


async def _mint(
    conn: AsyncConnection, pepper: bytes, granted: Granted, env: Env, now: datetime
) -> Tokens:
    access, refresh = mint_credential("oat", env), mint_credential("ort", env)
    common: dict[str, Any] = {
        "app_id": granted.app_id,
        "key_id": granted.key_id,
        "family_id": granted.family_id,
        "resource": granted.resource,
        "scopes": list(granted.scopes),
        "created_at": now,
    }
    await conn.execute(
        sa.insert(_T),
        [
            {
                **common,
                "token_hash": hash_credential(access, pepper),
                "kind": "access",
                "expires_at": now + ACCESS_TTL,
            },
            {
                **common,
                "token_hash": hash_credential(refresh, pepper),
                "kind": "refresh",
                "expires_at": now + REFRESH_TTL,
            },
        ],
    )
    return Tokens(access, refresh, int(ACCESS_TTL.total_seconds()), granted.scopes)


async def _consent(conn: AsyncConnection, granted: Granted) -> tuple[Env, Granted] | None:
    """The consent's environment while it stands (not revoked), and ``granted`` within the
    consent's scopes as they are now: a token never records a scope its consent no longer
    gives (the merchant narrowed it), so what the token endpoint answers is what it may do."""
    row = (
        await conn.execute(
            sa.select(_K.c.env, _K.c.policy).where(
                _K.c.id == granted.key_id, _K.c.revoked_at.is_(None)
            )
        )
    ).first()
    if row is None:
        return None
    given = load(row.policy).narrowed(granted.scopes).scopes
    return ("live" if row.env == "live" else "staging"), dataclasses.replace(
        granted, scopes=tuple(given)
    )


async def redeem_code(db: Database, pepper: bytes, code: str, granted: Granted) -> Tokens | None:
    """Tokens for ``code``, once: of concurrent exchanges one wins; the others (and any later
    one) revoke what the winner got and get ``None``."""
    now = utcnow()
    async with db.transaction() as conn:
        won = await conn.execute(
            sa.update(_C)
            .where(
                _C.c.code_hash == hash_credential(code, pepper),
                _C.c.used_at.is_(None),
                _C.c.expires_at > now,
            )
            .values(used_at=now)
        )
        consent = await _consent(conn, granted)
        if won.rowcount == 1 and consent is not None:
            return await _mint(conn, pepper, consent[1], consent[0], now)
    async with db.transaction() as conn:
        await _revoke_family(conn, granted.family_id, now)
    return None


async def find_refresh(db: Database, pepper: bytes, token: str, app_id: str) -> Granted | None:
    """The live refresh token of ``app_id``. One used before revokes its family: someone holds
    a copy (OAuth 2.1's refresh token rotation)."""
    now = utcnow()
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                sa.select(_T).where(
                    _T.c.token_hash == hash_credential(token, pepper),
                    _T.c.kind == "refresh",
                    _T.c.app_id == app_id,
                )
            )
        ).first()
        if row is None or row.revoked_at is not None:
            return None
        if row.used_at is not None:
            await _revoke_family(conn, row.family_id, now)
            return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    return Granted(
        row.app_id, row.key_id, row.family_id, tuple(row.scopes), row.resource, row.expires_at
    )


async def rotate_refresh(
    db: Database, pepper: bytes, token: str, granted: Granted, scopes: tuple[str, ...]
) -> Tokens | None:
    """New tokens for a refresh token, which is used up; ``scopes`` may narrow, never widen.
    Of concurrent uses one wins; the others revoke the family and get ``None``."""
    now = utcnow()
    narrowed = Granted(
        granted.app_id,
        granted.key_id,
        granted.family_id,
        tuple(s for s in granted.scopes if s in scopes) if scopes else granted.scopes,
        granted.resource,
        granted.expires_at,
    )
    async with db.transaction() as conn:
        won = await conn.execute(
            sa.update(_T)
            .where(
                _T.c.token_hash == hash_credential(token, pepper),
                _T.c.used_at.is_(None),
                _T.c.revoked_at.is_(None),
            )
            .values(used_at=now)
        )
        consent = await _consent(conn, narrowed)
        if won.rowcount == 1 and consent is not None:
            return await _mint(conn, pepper, consent[1], consent[0], now)
    async with db.transaction() as conn:
        await _revoke_family(conn, granted.family_id, now)
    return None


async def find_access(db: Database, pepper: bytes, token: str) -> Granted | None:
    """The access token ``token``, live or not: what its revocation needs."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(_T).where(
                    _T.c.token_hash == hash_credential(token, pepper), _T.c.kind == "access"
                )
            )
        ).first()
    if row is None:
        return None
    return Granted(
        row.app_id, row.key_id, row.family_id, tuple(row.scopes), row.resource, row.expires_at
    )


async def revoke_token(db: Database, pepper: bytes, token: str, app_id: str) -> None:
    """RFC 7009: the token and every token of its family (a grant is revoked whole). A token
    unknown, or another app's, changes nothing and is not told apart."""
    now = utcnow()
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                sa.select(_T.c.family_id).where(
                    _T.c.token_hash == hash_credential(token, pepper), _T.c.app_id == app_id
                )
            )
        ).first()
        if row is not None:
            await _revoke_family(conn, row.family_id, now)


async def revoke_connection(conn: AsyncConnection, key_id: str, now: datetime) -> None:
    """The consent and all its tokens, from the next request."""
    await revoke_consents(conn, _K.c.id == key_id, now)
