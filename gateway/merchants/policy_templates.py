"""A merchant's policy templates: named policies its keys and consents name in their own, so a
change to one applies to all of them at once (``policies.templates.effective`` says how).

One definition for every door (the REST API and the dashboard), acting as an ``Actor`` of
``merchants.keys``: within one merchant and environment, and held to what the actor may give,
since loosening a template loosens every key under it. A template of another merchant or
environment reads as not found. Every change is recorded with who made it and the policy before
and after, in the transaction of the change; a preview answers what a change would do to each
key and consent without saving it. A template is never deleted while a key or consent that
stands names it.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..budgets import service as budgets
from ..policies.model import Policy, load
from ..policies.templates import changes, effective
from ..store.engine import Database
from ..store.models import (
    ApiKeyRow,
    Merchant,
    OAuthApp,
    PolicyTemplate,
    PolicyTemplateChange,
    table_of,
)
from ..store.paging import newest_first, split
from ..values.clock import new_id, rfc3339, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, CursorMeta, Outcome
from .keys import Actor, check_change, check_grantable, merged
from .template_schemas import (
    FieldChange,
    PreviewItem,
    ReferenceData,
    TemplateChangeData,
    TemplateCreate,
    TemplateData,
    TemplatePreview,
    TemplateUpdate,
)

__all__ = [
    "MAX_TEMPLATES",
    "create_template",
    "delete_template",
    "get_template",
    "list_changes",
    "list_references",
    "list_templates",
    "preview_template",
    "update_template",
]

# Per merchant and environment: a fleet needs a handful, and each is read by every key's lookup.
MAX_TEMPLATES = 100

_PT = table_of(PolicyTemplate)
_PC = table_of(PolicyTemplateChange)
_K = table_of(ApiKeyRow)
_A = table_of(OAuthApp)
_M = table_of(Merchant)


def _env(actor: Actor) -> str:
    if actor.env is None:  # an operator acts for a merchant in both: name one
        raise ApiError(Code.ENV_NOT_ALLOWED)
    return actor.env


def _standing(actor: Actor, template_id: str) -> Any:
    """Keys and consents of the actor's merchant (no other may name its template: each write
    checks, ``template_store``) that name the template and stand."""
    return sa.and_(
        _K.c.template_id == template_id,
        _K.c.merchant_id == actor.merchant_id,
        _K.c.revoked_at.is_(None),
    )


async def _row(conn: AsyncConnection, actor: Actor, template_id: str, *, lock: bool = False) -> Any:
    stmt = sa.select(_PT).where(
        _PT.c.id == template_id, _PT.c.merchant_id == actor.merchant_id, _PT.c.env == _env(actor)
    )
    if lock:  # a change reads the stored policy it merges with: no other change in between
        stmt = stmt.with_for_update()
    found = (await conn.execute(stmt)).first()
    if found is None:
        raise ApiError(Code.POLICY_TEMPLATE_NOT_FOUND)
    return found


async def _counts(conn: AsyncConnection, ids: list[str]) -> dict[str, tuple[int, int]]:
    """Per template, the keys and consents (not revoked) that name it."""
    if not ids:
        return {}
    consent = _K.c.app_id.is_not(None)
    rows = await conn.execute(
        sa.select(
            _K.c.template_id,
            sa.func.count().filter(sa.not_(consent)),
            sa.func.count().filter(consent),
        )
        .where(_K.c.template_id.in_(ids), _K.c.revoked_at.is_(None))
        .group_by(_K.c.template_id)
    )
    return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}


def _data(row: Any, counts: dict[str, tuple[int, int]]) -> TemplateData:
    keys, consents = counts.get(row.id, (0, 0))
    return TemplateData(
        id=row.id,
        name=row.name,
        env=row.env,
        policy=load(row.policy),
        keys=keys,
        consents=consents,
        created_at=rfc3339(row.created_at),
        updated_at=rfc3339(row.updated_at),
    )


async def _read(conn: AsyncConnection, actor: Actor, template_id: str) -> TemplateData:
    row = await _row(conn, actor, template_id)
    return _data(row, await _counts(conn, [row.id]))


def _own(policy: Policy) -> Policy:
    if policy.template is not None:
        raise ApiError(Code.POLICY_TEMPLATE_NESTED)
    return policy


async def _record(
    conn: AsyncConnection,
    actor: Actor,
    who: str,
    template_id: str,
    action: str,
    before: Any,
    after: Any,
    now: datetime,
) -> None:
    await conn.execute(
        sa.insert(_PC).values(
            template_id=template_id,
            merchant_id=actor.merchant_id,
            env=_env(actor),
            actor=who,
            action=action,
            name_before=None if before is None else before.name,
            name_after=None if after is None else after.name,
            policy_before=None if before is None else before.policy,
            policy_after=None if after is None else after.policy,
            created_at=now,
        )
    )


def _page_query(actor: Actor) -> Any:
    return sa.select(_PT).where(_PT.c.merchant_id == actor.merchant_id, _PT.c.env == _env(actor))


async def _references(conn: AsyncConnection, actor: Actor, template_id: str) -> list[Any]:
    return list(
        (
            await conn.execute(
                sa.select(_K, _A.c.name.label("app_name"))
                .outerjoin(_A, _A.c.id == _K.c.app_id)
                .where(_standing(actor, template_id))
                .order_by(_K.c.id)
            )
        ).all()
    )


def _reference(row: Any) -> dict[str, Any]:
    consent = row.app_id is not None
    return {
        "id": row.id,
        "kind": "consent" if consent else "key",
        "name": row.app_name if consent else row.name,
        "display_prefix": None if consent else row.display_prefix,
        "app_id": row.app_id,
    }


# --- Operations: each opens its own read or transaction and answers an ``Outcome``.


async def create_template(db: Database, actor: Actor, who: str, body: TemplateCreate) -> Outcome:
    """A template of the actor's environment; at most ``MAX_TEMPLATES`` of them (creates for
    one merchant take turns on its row, as keys' do)."""
    env = _env(actor)
    policy = _own(body.policy)
    check_grantable(actor, policy)
    now = utcnow()
    async with db.transaction() as conn:
        await conn.execute(sa.select(_M.c.id).where(_M.c.id == actor.merchant_id).with_for_update())
        count = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(_page_query(actor).subquery())
            )
        ).scalar_one()
        if count >= MAX_TEMPLATES:
            raise ApiError(Code.POLICY_TEMPLATE_COUNT_LIMIT_REACHED, data={"limit": MAX_TEMPLATES})
        await budgets.check_policy(conn, actor.merchant_id, env, policy)
        template_id = new_id("pt")
        values = {
            "id": template_id,
            "merchant_id": actor.merchant_id,
            "env": env,
            "name": body.name,
            "policy": policy.stored(),
            "created_at": now,
            "updated_at": now,
        }
        await conn.execute(sa.insert(_PT).values(**values))
        row = await _row(conn, actor, template_id)
        await _record(conn, actor, who, template_id, "created", None, row, now)
        made = _data(row, {})
    return Outcome(Code.CREATED, made)


async def list_templates(db: Database, actor: Actor, *, limit: int, cursor: str | None) -> Outcome:
    """Newest first."""
    stmt = newest_first(_page_query(actor), _PT.c.id, limit=limit, cursor=cursor)
    async with db.read() as conn:
        rows, more = split((await conn.execute(stmt)).all(), limit)
        counts = await _counts(conn, [r.id for r in rows])
    items = [_data(r, counts) for r in rows]
    meta = CursorMeta.of(items, limit, more)
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())


async def get_template(db: Database, actor: Actor, template_id: str) -> Outcome:
    async with db.read() as conn:
        found = await _read(conn, actor, template_id)
    return Outcome(Code.SUCCESS, found)


def _proposed(held: Policy, body: TemplateUpdate) -> Policy:
    if body.policy is None:
        return held
    return _own(merged(held, body.policy.model_dump(mode="json", exclude_unset=True)))


async def update_template(
    db: Database, actor: Actor, who: str, template_id: str, body: TemplateUpdate
) -> Outcome:
    """The fields present replace the stored ones; every key and consent naming the template
    acts under the new policy from its next request, on every process (each request reads its
    key's template with the key)."""
    async with db.transaction() as conn:
        row = await _row(conn, actor, template_id, lock=True)
        held = load(row.policy)
        policy = _proposed(held, body)
        check_change(actor, held, policy)
        await budgets.check_policy(conn, actor.merchant_id, str(row.env), policy)
        name = row.name if body.name is None else body.name
        if policy != held or name != row.name:
            now = utcnow()
            await conn.execute(
                sa.update(_PT)
                .where(_PT.c.id == template_id)
                .values(name=name, policy=policy.stored(), updated_at=now)
            )
            after = await _row(conn, actor, template_id)
            await _record(conn, actor, who, template_id, "updated", row, after, now)
        found = await _read(conn, actor, template_id)
    return Outcome(Code.SUCCESS, found)


async def delete_template(db: Database, actor: Actor, who: str, template_id: str) -> Outcome:
    """Refused (2381) while a key or consent that stands names it."""
    async with db.transaction() as conn:
        row = await _row(conn, actor, template_id, lock=True)
        found = _data(row, await _counts(conn, [template_id]))
        if found.keys or found.consents:
            raise ApiError(
                Code.POLICY_TEMPLATE_IN_USE,
                data={"keys": found.keys, "consents": found.consents},
            )
        await conn.execute(sa.delete(_PT).where(_PT.c.id == template_id))
        await _record(conn, actor, who, template_id, "deleted", row, None, utcnow())
    return Outcome(Code.DELETED, found)


async def list_references(db: Database, actor: Actor, template_id: str) -> Outcome:
    """The keys and consents (not revoked) that name the template, oldest first."""
    async with db.read() as conn:
        await _row(conn, actor, template_id)
        rows = await _references(conn, actor, template_id)
    return Outcome(Code.SUCCESS, [ReferenceData(**_reference(r)) for r in rows])


async def preview_template(
    db: Database, actor: Actor, template_id: str, body: TemplateUpdate
) -> Outcome:
    """What ``body`` would do to every key and consent naming the template, field by field,
    without saving it: each one's effective policy now and under the change."""
    async with db.read() as conn:
        row = await _row(conn, actor, template_id)
        held = load(row.policy)
        policy = _proposed(held, body)
        rows = await _references(conn, actor, template_id)
    changed: list[PreviewItem] = []
    for r in rows:
        own = load(r.policy)
        moved = changes(effective(own, held), effective(own, policy))
        if moved:
            fields = [
                FieldChange(field=c.field, before=c.before, after=c.after, effect=c.effect)
                for c in moved
            ]
            changed.append(PreviewItem(**_reference(r), changes=fields))
    preview = TemplatePreview(
        template_id=template_id, policy=policy, changed=changed, unchanged=len(rows) - len(changed)
    )
    return Outcome(Code.SUCCESS, preview)


async def list_changes(db: Database, actor: Actor, template_id: str) -> Outcome:
    """Every change to the template, newest first: kept after it is deleted, so a deleted
    template's record is still read by its id."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(_PC)
                .where(
                    _PC.c.template_id == template_id,
                    _PC.c.merchant_id == actor.merchant_id,
                    _PC.c.env == _env(actor),
                )
                .order_by(_PC.c.id.desc())
                .limit(200)
            )
        ).all()
    if not rows:
        raise ApiError(Code.POLICY_TEMPLATE_NOT_FOUND)
    found = [
        TemplateChangeData(
            action=r.action,
            actor=r.actor,
            name_before=r.name_before,
            name_after=r.name_after,
            policy_before=None if r.policy_before is None else load(r.policy_before),
            policy_after=None if r.policy_after is None else load(r.policy_after),
            created_at=rfc3339(r.created_at),
        )
        for r in rows
    ]
    return Outcome(Code.SUCCESS, found)
