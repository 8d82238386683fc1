"""A merchant's keys as they are managed: made with a policy (shown once), listed, read, changed,
revoked. One definition for every door: the REST API, the admin API, the CLI and the dashboard.

Whoever acts is an ``Actor``: a key acts within its own merchant and environment, and gives only
the scopes it holds, and the code's reveal only if it reveals itself; a dashboard user acts as
their role allows (``accounts.roles.grantable_scopes``, ``reveals_codes``); an operator acts
for one merchant in both environments and gives anything.
A key that is not the actor's to see reads as not found (2006), never as forbidden, so no one
learns that another merchant's or environment's key exists. The steps (``create``, ``page``,
``get``, ``update``, ``replace_policy``, ``revoke``) never commit: each runs in its caller's
transaction (the admin API writes its audit row in the same one). The operations below them
(``create_key``, ``list_keys``, ...) open their own and answer an ``Outcome``.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import ENVS, Env

from ..budgets import service as budgets
from ..callers import Caller
from ..policies.model import CONSENT_ONLY, KEY_ONLY, SCOPES, Policy, Scope, load
from ..policies.usage import usage
from ..redis_client import Redis
from ..store.engine import Database
from ..store.models import ApiKeyRow, Merchant, OAuthToken, table_of
from ..store.paging import newest_first, split
from ..values.clock import rfc3339, rfc3339_or_none, utcnow
from ..values.code_names import Code
from ..values.envelope import validation_details
from ..values.outcome import ApiError, CursorMeta, Outcome
from . import holds, service, template_store
from .schemas import KeyCreated, KeyData, KeyUpdate
from .usage import with_usage

__all__ = [
    "Actor",
    "by_key",
    "by_operator",
    "by_role",
    "check_change",
    "check_grantable",
    "create",
    "create_key",
    "get",
    "get_key",
    "list_keys",
    "merchant_keys",
    "merchant_of",
    "merged",
    "own_limits",
    "page",
    "replace_policy",
    "revoke",
    "revoke_consents",
    "revoke_key",
    "set_policy",
    "update",
    "update_key",
]

_ENVS: dict[str | None, Env] = {env: env for env in ENVS}
_K = table_of(ApiKeyRow)
_M = table_of(Merchant)
_T = table_of(OAuthToken)


@dataclass(frozen=True, slots=True)
class Actor:
    merchant_id: str
    env: str | None  # None: an operator, who sees both environments
    scopes: frozenset[Scope]  # what it may give
    reveals: bool = True  # whether it may give a key the code's reveal (``reveal_voucher``)
    # Who is refused, in the words of the refusal: a key (``KEY_SCOPE_NOT_GRANTABLE``), or a
    # dashboard role (``ROLE_SCOPE_NOT_GRANTABLE``, this sentence its message).
    role_refusal: str | None = None
    # The actor may not see spendable codes, so the keys it makes see none either
    # (``api_keys.hides_codes``): no one gives a key more than they may do themselves.
    hides_codes: bool = False
    # A key's own policy: the keys it makes or changes get no looser limits than these
    # (``Policy.beyond``). ``None``: a dashboard role or an operator, who hold no limits.
    bound: Policy | None = None
    # The dashboard member who acts: the keys they make are given by them
    # (``api_keys.granted_by``) and end when they leave or their role could no longer give
    # them (``accounts.members.end_given``). ``None``: no person (a key, the operator, the CLI).
    giver: str | None = None


def by_key(caller: Caller) -> Actor:
    """A key: its merchant, its environment, its scopes (a legacy key holds every one), the
    code's reveal if it reveals itself, and hidden codes if it sees none (a key made by a role
    that does not reveal them, or an app's token whose consent does not)."""
    return Actor(
        caller.merchant_id,
        caller.env,
        frozenset(caller.policy.scopes),
        caller.policy.reveals_voucher(),
        hides_codes=not caller.sees_codes(upstream=False),
        bound=caller.policy,
    )


def by_role(
    merchant_id: str,
    env: str,
    scopes: frozenset[Scope],
    reveals: bool,
    refusal: str,
    giver: str | None = None,
) -> Actor:
    """A dashboard user (``giver``, their user id, where they make keys): what their role may
    give in ``env`` (``accounts.roles``). A role that does not reveal codes sees none, nor do
    the keys it makes."""
    return Actor(merchant_id, env, scopes, reveals, refusal, hides_codes=not reveals, giver=giver)


def by_operator(merchant_id: str) -> Actor:
    return Actor(merchant_id, None, frozenset(SCOPES))


def data(key: service.KeyInfo) -> KeyData:
    return KeyData(
        id=key.id,
        name=key.name,
        env=key.env,
        display_prefix=key.display_prefix,
        policy=key.policy,
        legacy=key.legacy,
        created_at=rfc3339(key.created_at),
        last_used_at=rfc3339_or_none(key.last_used_at),
        revoked_at=rfc3339_or_none(key.revoked_at),
    )


def _grantable(
    actor: Actor, given: tuple[Scope, ...], reveal: bool = False, wider: tuple[str, ...] = ()
) -> None:
    """Refuse scopes the actor may not give, the code's reveal from one that does not reveal,
    and limits looser than a key's own (``wider``, the fields of ``Policy.beyond``): a key
    cannot make a stronger one (2310, 2312, 2317), a dashboard user cannot make one stronger
    than their role (2324)."""
    missing = [s for s in given if s not in actor.scopes]
    refused: dict[str, Any] | None = {"scopes": missing} if missing else None
    if refused is None and reveal and not actor.reveals:
        refused = {"reveal_voucher": True}
    if refused is None and wider:
        refused = {"fields": list(wider)}
    if refused is None:
        return
    if actor.role_refusal is not None:
        raise ApiError(Code.ROLE_SCOPE_NOT_GRANTABLE, actor.role_refusal, data=refused)
    if missing:
        raise ApiError(Code.KEY_SCOPE_NOT_GRANTABLE, data=refused)
    if "fields" in refused:
        raise ApiError(Code.KEY_LIMIT_NOT_GRANTABLE, data=refused)
    raise ApiError(Code.KEY_REVEAL_NOT_GRANTABLE, data=refused)


def _key_scopes(scopes: tuple[Scope, ...]) -> None:
    """Refuse (2310) giving a key a scope only a consent holds (``CONSENT_ONLY``), whoever
    gives it: an operator and an owner too."""
    held = [s for s in scopes if s in CONSENT_ONLY]
    if held:
        raise ApiError(
            Code.KEY_SCOPE_NOT_GRANTABLE,
            "Only an app's consent holds this scope, never a key",
            data={"scopes": held},
        )


def _consent_scopes(scopes: tuple[Scope, ...]) -> None:
    """Refuse (2310) giving an app's consent a scope only a key holds (``KEY_ONLY``: charging
    the merchant's saved card), whoever gives it: an owner too."""
    held = [s for s in scopes if s in KEY_ONLY]
    if held:
        raise ApiError(
            Code.KEY_SCOPE_NOT_GRANTABLE,
            "Only the merchant's own key holds this scope, never an app's consent",
            data={"scopes": held},
        )


def _wider(actor: Actor, policy: Policy) -> tuple[str, ...]:
    """The fields of ``policy`` looser than the acting key's own (none for a role or an
    operator)."""
    return () if actor.bound is None else policy.beyond(actor.bound)


def check_grantable(actor: Actor, policy: Policy) -> None:
    """Refuse a policy whose scopes, code's reveal or limits the actor may not give
    (``_grantable``)."""
    _grantable(actor, policy.scopes, policy.reveals_voucher(), _wider(actor, policy))


def check_change(
    actor: Actor,
    held: Policy,
    policy: Policy,
    was: Policy | None = None,
    will: Policy | None = None,
) -> None:
    """Refuse a change from ``held`` to ``policy`` that gives what the actor may not: scopes
    added, the code's reveal, and limits changed to looser than the acting key's own (judged
    on ``was`` and ``will``, the policies as they act, where they differ from the stored ones).
    What the policy keeps stays, even where the actor lacks it."""
    was, will = was or held, will or policy
    _grantable(
        actor,
        tuple(s for s in policy.scopes if s not in held.scopes),
        policy.reveals_voucher() and not held.reveals_voucher(),
        tuple(f for f in _wider(actor, will) if getattr(will, f) != getattr(was, f)),
    )


def _visible(actor: Actor) -> list[Any]:
    """The actor's keys. A consent given to an app (``gateway.apps``) is none of them: no one
    holds its key, and only ``apps.connections`` changes it, within what the app asked for."""
    where = [_K.c.merchant_id == actor.merchant_id, _K.c.app_id.is_(None)]
    if actor.env is not None:
        where.append(_K.c.env == actor.env)
    return where


async def _merchant_name(conn: AsyncConnection, merchant_id: str) -> str:
    name: str = (await conn.execute(select(_M.c.name).where(_M.c.id == merchant_id))).scalar_one()
    return name


async def _row(conn: AsyncConnection, actor: Actor, key_id: str, *, lock: bool = False) -> Any:
    stmt = select(_K).where(_K.c.id == key_id, *_visible(actor))
    if lock:  # a change reads the stored policy it merges with: no other change in between
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    if row is None:
        raise ApiError(Code.API_KEY_NOT_FOUND)
    return row


async def _info(conn: AsyncConnection, actor: Actor, key_id: str) -> service.KeyInfo:
    return service.key_info(
        await _row(conn, actor, key_id), await _merchant_name(conn, actor.merchant_id)
    )


async def merchant_of(conn: AsyncConnection, key_id: str) -> str:
    """The merchant a key belongs to, for an operator who names a key alone (the CLI)."""
    found = (await conn.execute(select(_K.c.merchant_id).where(_K.c.id == key_id))).first()
    if found is None:
        raise ApiError(Code.API_KEY_NOT_FOUND)
    return str(found.merchant_id)


async def create(
    conn: AsyncConnection,
    actor: Actor,
    *,
    name: str | None,
    policy: Policy,
    pepper: bytes,
    now: datetime,
    cap: int,
    env: Env | None = None,
    consent: bool = False,
) -> KeyCreated:
    """A new key with ``policy``, of the actor's environment for a key (a staging key never
    makes a live one), of ``env`` for an operator; the raw key is in the reply alone. At most
    ``cap`` keys (not revoked) per merchant and environment: creates for one merchant take
    turns on its row, so concurrent creates cannot both see room for one more. A ``consent``
    (the key an app's tokens act as, ``apps.grants``) counts against ``cap`` among consents
    alone, and a key among keys alone: members connecting apps never use up the keys the
    merchant's own code needs, nor the other way round."""
    made_in = _ENVS.get(actor.env or env)
    if made_in is None or (actor.env is not None and env not in (None, actor.env)):
        raise ApiError(Code.ENV_NOT_ALLOWED)
    if consent:
        _consent_scopes(policy.scopes)
    else:
        _key_scopes(policy.scopes)
    _grantable(
        actor,
        policy.scopes,
        policy.reveals_voucher(),
        _wider(actor, await template_store.bounded(conn, actor.merchant_id, made_in, policy)),
    )
    await budgets.check_policy(conn, actor.merchant_id, made_in, policy)
    await conn.execute(select(_M.c.id).where(_M.c.id == actor.merchant_id).with_for_update())
    kind = _K.c.app_id.is_not(None) if consent else _K.c.app_id.is_(None)
    standing = select(sa.func.count()).where(
        _K.c.merchant_id == actor.merchant_id,
        _K.c.env == made_in,
        _K.c.revoked_at.is_(None),
        kind,
    )
    if (await conn.execute(standing)).scalar_one() >= cap:
        refused = Code.CONSENT_COUNT_LIMIT_REACHED if consent else Code.KEY_COUNT_LIMIT_REACHED
        raise ApiError(refused, data={"limit": cap})
    key_id, key = await service.create_key(
        conn,
        actor.merchant_id,
        made_in,
        pepper,
        now,
        name=name,
        policy=policy,
        hides_codes=actor.hides_codes,
    )
    if actor.giver is not None:
        await conn.execute(sa.update(_K).where(_K.c.id == key_id).values(granted_by=actor.giver))
    made = data(await _info(conn, actor, key_id))
    return KeyCreated(**made.model_dump(), key=key.raw)


async def page(
    conn: AsyncConnection, actor: Actor, *, env: str | None, limit: int, cursor: str | None
) -> tuple[list[KeyData], bool]:
    """Keys of one environment (``env``, or the actor's), newest first, revoked ones too;
    ``cursor`` is the last id seen."""
    mine = select(_K).where(*_visible(actor), _K.c.env == (actor.env or env))
    stmt = newest_first(mine, _K.c.id, limit=limit, cursor=cursor)
    rows, more = split((await conn.execute(stmt)).all(), limit)
    name = await _merchant_name(conn, actor.merchant_id)
    return [data(service.key_info(r, name)) for r in rows], more


async def get(conn: AsyncConnection, actor: Actor, key_id: str) -> KeyData:
    return data(await _info(conn, actor, key_id))


def merged(stored: Policy, patch: dict[str, Any]) -> Policy:
    """The stored policy with the fields of ``patch`` in place, checked again as a whole."""
    try:
        return Policy.model_validate_json(json.dumps({**stored.stored(), **patch}))
    except ValidationError as exc:
        errors = [{**e, "loc": ["policy", *e["loc"]]} for e in validation_details(exc)]
        raise ApiError(Code.VALIDATION_FAILED, data={"errors": errors}) from None


async def replace_policy(
    conn: AsyncConnection, actor: Actor, key_id: str, policy: Policy
) -> KeyData:
    """Store ``policy`` as the key's whole policy. Scopes the key did not have, the code's
    reveal, and a field changed to looser than the acting key's own, must be the actor's to
    give; what it keeps stays, even where the actor lacks it. A key changing itself is held
    to what it holds: it may tighten, never loosen. Limits are judged as the key will act,
    under the template it names (``template_store.bounded``)."""
    row = await _row(conn, actor, key_id, lock=True)
    held = load(row.policy)
    _key_scopes(tuple(s for s in policy.scopes if s not in held.scopes))
    try:
        was = await template_store.bounded(conn, row.merchant_id, row.env, held)
    except ApiError:  # a revoked key's template may be gone
        was = held
    will = await template_store.bounded(conn, row.merchant_id, row.env, policy)
    check_change(actor, held, policy, was, will)
    await budgets.check_policy(conn, actor.merchant_id, str(row.env), policy)
    await conn.execute(
        sa.update(_K).where(_K.c.id == key_id).values(**template_store.columns(policy))
    )
    return await get(conn, actor, key_id)


async def update(conn: AsyncConnection, actor: Actor, key_id: str, body: KeyUpdate) -> KeyData:
    """PATCH: the fields present replace the stored ones. A legacy key's policy starts from
    ``UNRESTRICTED``, what it held, and is stored from then on."""
    row = await _row(conn, actor, key_id, lock=True)
    if "name" in body.model_fields_set:
        await conn.execute(sa.update(_K).where(_K.c.id == key_id).values(name=body.name))
    if body.policy is not None:
        stored = load(row.policy)
        changed = merged(stored, body.policy.model_dump(mode="json", exclude_unset=True))
        if changed != stored or row.policy is None:
            return await replace_policy(conn, actor, key_id, changed)
    return await get(conn, actor, key_id)


async def revoke(conn: AsyncConnection, actor: Actor, key_id: str, now: datetime) -> KeyData:
    """Refused from its next request on. Revoking a revoked key changes nothing and answers
    the key as it is, revoked at the first time."""
    await _row(conn, actor, key_id)
    await service.revoke_key(conn, key_id, now)
    return await get(conn, actor, key_id)


async def revoke_consents(conn: AsyncConnection, where: Any, now: datetime) -> None:
    """Revoke the consents (keys an app's tokens act as, ``gateway.apps``) matching ``where``
    and every token acting as one of them, and the key each one's app made (``managed_by``,
    ``apps.managed``): refused from the next request. Here, below both the apps and the
    accounts, as each ends consents (an app deleted, a member gone)."""
    consents = sa.select(_K.c.id).where(where, _K.c.app_id.is_not(None))
    ending = sa.select(_K.c.id).where(_K.c.id.in_(consents) | _K.c.managed_by.in_(consents))
    await holds.close(conn, ending, now)  # what the consents and their keys hold for approval
    await conn.execute(
        sa.update(_K)
        .where(_K.c.managed_by.in_(consents), _K.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await conn.execute(
        sa.update(_T)
        .where(_T.c.key_id.in_(consents), _T.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await conn.execute(
        sa.update(_K)
        .where(where, _K.c.app_id.is_not(None), _K.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


# --- Operations: each opens its own read or transaction and answers an ``Outcome`` that every
# door renders (REST's envelope, the dashboard's pages).


async def create_key(
    db: Database,
    actor: Actor,
    *,
    name: str | None,
    policy: Policy,
    pepper: bytes,
    cap: int,
) -> Outcome:
    """A key of the actor's environment (``create``); the raw key is in this answer alone."""
    async with db.transaction() as conn:
        made = await create(
            conn, actor, name=name, policy=policy, pepper=pepper, now=utcnow(), cap=cap
        )
    return Outcome(Code.CREATED, made)


async def list_keys(
    db: Database, redis: Redis, actor: Actor, *, limit: int, cursor: str | None
) -> Outcome:
    """One page of the actor's environment's keys (``page``), each with its usage."""
    async with db.read() as conn:
        items, has_more = await page(conn, actor, env=actor.env, limit=limit, cursor=cursor)
    meta = CursorMeta.of(items, limit, has_more)
    return Outcome(Code.SUCCESS, await with_usage(db, redis, items), meta=meta.model_dump())


async def get_key(db: Database, redis: Redis, actor: Actor, key_id: str) -> Outcome:
    async with db.read() as conn:
        found = await get(conn, actor, key_id)
    (found,) = await with_usage(db, redis, [found])
    return Outcome(Code.SUCCESS, found)


async def update_key(db: Database, actor: Actor, key_id: str, body: KeyUpdate) -> Outcome:
    async with db.transaction() as conn:
        updated = await update(conn, actor, key_id, body)
    return Outcome(Code.SUCCESS, updated)


async def set_policy(
    db: Database, actor: Actor, key_id: str, name: str | None, policy: Policy
) -> Outcome:
    """The key's whole policy and its name at once, as the dashboard's form gives them."""
    async with db.transaction() as conn:
        await replace_policy(conn, actor, key_id, policy)
        changed = await update(conn, actor, key_id, KeyUpdate(name=name))
    return Outcome(Code.SUCCESS, changed)


async def revoke_key(db: Database, actor: Actor, key_id: str) -> Outcome:
    async with db.transaction() as conn:
        revoked = await revoke(conn, actor, key_id, utcnow())
    return Outcome(Code.DELETED, revoked)


async def own_limits(db: Database, caller: Caller) -> Outcome:
    """The calling key's policy and, per limit, its spend, what remains and when it resets."""
    policy = caller.policy
    drawn = await budgets.drawn(db, caller.merchant_id, caller.env, policy.budgets)
    found = await usage(db, caller, budgets=drawn)
    return Outcome(Code.SUCCESS, found)


async def merchant_keys(db: Database, merchant_id: str) -> Outcome:
    """Every key of a merchant, both environments, revoked ones too, oldest first."""
    async with db.read() as conn:
        found = [data(k) for k in await service.list_keys(conn, merchant_id)]
    return Outcome(Code.SUCCESS, found)
