"""Webhook endpoints as a merchant manages them: URL checks, secrets and their rotation, tests,
and disabling.

Every query is scoped to the caller's merchant and environment: staging and live never see each
other's endpoints, events or deliveries. Changes that make work for the worker return an
``Outcome`` carrying the deliveries to wake the workers for once the transaction has committed.
"""

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer, new_signing_key, new_webhook_secret, public_key_of

from .. import outbox
from ..callers import Caller
from ..store.engine import Database
from ..store.models import Merchant, WebhookDelivery, WebhookEndpoint, table_of
from ..store.paging import newest_first, split
from ..store.raw import Conn, Statement, raw
from ..store.rows import CoreRow
from ..values import payload_filters
from ..values.clock import new_id, rfc3339, rfc3339_or_none, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, CursorMeta, Outcome
from ..values.public_base import public_base
from ..values.settings import Settings
from . import batches, headers, health, throttle, urls
from .destinations import saving
from .destinations.registry import HTTP
from .event_payloads import WebhookTest
from .schemas import (
    EndpointCreate,
    EndpointData,
    EndpointSecretData,
    EndpointUpdate,
    TestData,
)
from .urls import UrlRefused

__all__ = [
    "allows_loopback",
    "check_reachable",
    "check_url",
    "create_endpoint",
    "delete_endpoint",
    "disable_endpoint",
    "get_endpoint",
    "list_endpoints",
    "own_inbox_base",
    "rotate_secret",
    "send_test",
    "update_endpoint",
]

_EP = table_of(WebhookEndpoint)
_D = table_of(WebhookDelivery)
_M = table_of(Merchant)


def allows_loopback(settings: Settings, env: str) -> bool:
    return env == "staging" and settings.allow_private_webhook_urls


def own_inbox_base(settings: Settings, env: str) -> str | None:
    """Where a staging endpoint may point at its test inbox unjudged: the gateway's own public
    base URL (``urls.is_own_inbox``). Live has no inbox."""
    return public_base(settings) if env == "staging" else None


async def check_url(settings: Settings, env: str, url: str) -> str:
    try:
        await urls.check_url(
            url,
            allow_loopback=allows_loopback(settings, env),
            own_inbox_base=own_inbox_base(settings, env),
        )
    except UrlRefused as exc:
        raise ApiError(
            Code.WEBHOOK_URL_INVALID, f"Webhook URL invalid: {exc}", data=exc.data()
        ) from None
    return url


async def _destination(
    settings: Settings,
    sealer: Sealer,
    env: str,
    endpoint_id: str,
    name: str,
    url: str | None,
    body: dict[str, Any] | None,
) -> dict[str, Any]:
    """The columns of where an endpoint's deliveries go: an http endpoint's URL, judged, or a
    broker's destination, judged, tested and sealed (``destinations.saving``)."""
    if name == HTTP:
        if body is not None:
            raise ApiError(
                Code.WEBHOOK_DESTINATION_INVALID,
                "Destination invalid: an http endpoint takes url, not destination",
                data={"field": "destination"},
            )
        if url is None:
            raise ApiError(Code.VALIDATION_FAILED, "url: an http endpoint needs its url")
        return saving.http_columns(await check_url(settings, env, url))
    if url is not None:
        raise ApiError(
            Code.WEBHOOK_DESTINATION_INVALID,
            f"Destination invalid: a {name[:40]} endpoint takes destination.url, not url",
            data={"field": "url"},
        )
    return await saving.judged(
        sealer, endpoint_id, name, body, allow_loopback=allows_loopback(settings, env)
    )


def _types_column(types: Sequence[str] | None) -> str:
    return f",{','.join(types)}," if types else ""


def _overlap(expires: datetime | None, previous: str | None, now: datetime) -> datetime | None:
    return expires if expires is not None and previous and expires > now else None


def _endpoint_data(row: CoreRow, now: datetime) -> EndpointData:
    rotation = _overlap(row.previous_secret_expires_at, row.previous_secret_sealed, now)
    signed = row.signing != "hmac"
    key_rotation = _overlap(
        row.previous_signing_key_expires_at, row.previous_signing_key_sealed, now
    )
    return EndpointData(
        id=row.id,
        env=row.env,
        url=row.url,
        description=row.description,
        event_types=[t for t in row.event_types.split(",") if t],
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        failing_since=rfc3339_or_none(row.failing_since),
        secret_rotation_ends_at=rfc3339_or_none(rotation),
        signing=row.signing,
        public_key=row.signing_public_key if signed else None,
        previous_public_key=(
            row.previous_signing_public_key if signed and key_rotation is not None else None
        ),
        signing_key_rotation_ends_at=rfc3339_or_none(key_rotation) if signed else None,
        headers=headers.header_data(row.custom_headers),
        throttle_per_second=row.throttle_per_second,
        retry_schedule=row.retry_schedule,
        ordered=row.ordered,
        batch_size=row.batch_size,
        type=row.destination_type,
        destination=saving.shown(row.destination_shown),
        filter=json.loads(row.filter) if row.filter is not None else None,
        created_at=rfc3339(row.created_at),
        updated_at=rfc3339(row.updated_at),
    )


def _filter_columns(value: dict[str, Any] | None) -> dict[str, str | None]:
    """The filter as the row keeps it (judged: refused before anything is written), or none."""
    saved = payload_filters.check_filter(value)
    if saved is None:
        return {"filter": None, "filter_path": None}
    return {"filter": saved.text, "filter_path": saved.path}


def _keypair(sealer: Sealer, endpoint_id: str) -> dict[str, str]:
    """A fresh ed25519 keypair as the row keeps it: the private key sealed, the public in clear."""
    private = new_signing_key()
    return {
        "signing_key_sealed": sealer.seal(private, context=_key_context(endpoint_id)),
        "signing_public_key": public_key_of(private),
    }


def _key_context(endpoint_id: str) -> str:
    return f"{endpoint_id}:whsk"


def _mine(caller: Caller) -> tuple[Any, ...]:
    return (
        _EP.c.merchant_id == caller.merchant_id,
        _EP.c.env == caller.env,
        _EP.c.deleted_at.is_(None),
    )


async def create_endpoint(
    db: Database, sealer: Sealer, settings: Settings, caller: Caller, body: EndpointCreate
) -> Outcome:
    """At most ``max_endpoints_per_merchant_env`` endpoints (not deleted) per merchant and
    environment: every event fans out to each, so the cap bounds what one send can make the
    worker do. Creates for one merchant take turns on its row, so concurrent creates cannot
    both see room for one more."""
    endpoint_id = new_id("we")
    where = await _destination(
        settings, sealer, caller.env, endpoint_id, body.type, body.url, body.destination
    )
    now = utcnow()
    secret = new_webhook_secret()
    cap = settings.max_endpoints_per_merchant_env
    custom = headers.check_headers(body.headers or [], sealer, endpoint_id, None)
    keypair = _keypair(sealer, endpoint_id) if body.signing != "hmac" else {}
    rate = throttle.check_throttle(body.throttle_per_second)
    batch_size = 1 if body.batch_size is None else batches.check_batch_size(body.batch_size)
    batches.check_batch(body.ordered, batch_size)
    kept = _filter_columns(body.filter)
    async with db.transaction() as conn:
        await conn.execute(select(_M.c.id).where(_M.c.id == caller.merchant_id).with_for_update())
        count = (
            await conn.execute(select(func.count()).select_from(_EP).where(*_mine(caller)))
        ).scalar_one()
        if count >= cap:
            raise ApiError(Code.WEBHOOK_ENDPOINT_LIMIT_REACHED, data={"limit": cap})
        row = (
            await conn.execute(
                insert(_EP)
                .values(
                    id=endpoint_id,
                    env=caller.env,
                    merchant_id=caller.merchant_id,
                    **where,
                    description=body.description,
                    event_types=_types_column(body.event_types),
                    enabled=True,
                    secret_sealed=sealer.seal(secret, context=endpoint_id),
                    signing=body.signing,
                    custom_headers=custom,
                    throttle_per_second=rate,
                    retry_schedule=body.retry_schedule,
                    ordered=body.ordered,
                    batch_size=batch_size,
                    **kept,
                    **keypair,
                    created_at=now,
                    updated_at=now,
                )
                .returning(_EP)
            )
        ).one()
    made = EndpointSecretData(**_endpoint_data(row, now).model_dump(), secret=secret)
    return Outcome(Code.CREATED, made)


async def list_endpoints(
    db: Database, caller: Caller, *, limit: int, cursor: str | None
) -> Outcome:
    """Newest first, by cursor: ``meta`` is the ``CursorMeta``."""
    stmt = newest_first(select(_EP).where(*_mine(caller)), _EP.c.id, limit=limit, cursor=cursor)
    async with db.read() as conn:
        rows, more = split((await conn.execute(stmt)).all(), limit)
    now = utcnow()
    items = [_endpoint_data(r, now) for r in rows]
    meta = CursorMeta.of(items, limit, more)
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())


async def endpoint_row(conn: AsyncConnection, caller: Caller, endpoint_id: str) -> Any:
    row = (await conn.execute(select(_EP).where(_EP.c.id == endpoint_id, *_mine(caller)))).first()
    if row is None:
        raise ApiError(Code.WEBHOOK_ENDPOINT_NOT_FOUND)
    return row


async def get_endpoint(db: Database, caller: Caller, endpoint_id: str) -> Outcome:
    async with db.read() as conn:
        row = await endpoint_row(conn, caller, endpoint_id)
    return Outcome(Code.SUCCESS, _endpoint_data(row, utcnow()))


async def update_endpoint(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    caller: Caller,
    endpoint_id: str,
    body: EndpointUpdate,
) -> Outcome:
    """``headers`` replaces the list (a secret one given without a value keeps its value);
    ``signing`` moving to ed25519 or both makes the endpoint's keypair if it has none yet, and
    back to hmac keeps it, so the public key stays the same across a change of mind."""
    changes: dict[str, Any] = {}
    fields = body.model_fields_set
    if "signing" in fields and body.signing is None:
        raise ApiError(Code.VALIDATION_FAILED, "signing must be hmac, ed25519 or both")
    if "type" in fields and body.type is None:
        raise ApiError(Code.VALIDATION_FAILED, "type must be one of the destination types")
    if "url" in fields and body.url is None:
        raise ApiError(Code.WEBHOOK_URL_INVALID, "Webhook URL invalid: url cannot be null")
    if fields & {"url", "type", "destination"}:
        # Where deliveries go is judged whole, as on a create: the type kept unless given.
        async with db.read() as conn:
            before = await endpoint_row(conn, caller, endpoint_id)
        name = body.type or before.destination_type
        url = body.url if "url" in fields else None
        if name == HTTP and url is None and "destination" not in fields:
            if before.destination_type != HTTP:
                raise ApiError(Code.WEBHOOK_URL_INVALID, "Webhook URL invalid: url is required")
            url = before.url
        # A broker's masked address sent back as it was read changes nothing; a destination
        # of the same type keeps the secrets it leaves masked while its address stays
        # (``saving.edited``), and one that comes to the saved one is not judged again.
        given = body.destination
        unchanged = (
            name == before.destination_type != HTTP
            and "destination" not in fields
            and url == before.url
        )
        sealed = before.destination_sealed
        if name == before.destination_type != HTTP and "destination" in fields and sealed:
            given = saving.edited(sealer, endpoint_id, name, sealed, body.destination)
            unchanged = given is None and url is None
        if not unchanged:
            changes.update(
                await _destination(settings, sealer, caller.env, endpoint_id, name, url, given)
            )
    if "event_types" in fields:
        changes["event_types"] = _types_column(body.event_types)
    if "description" in fields:
        changes["description"] = body.description
    if "throttle_per_second" in fields:
        changes["throttle_per_second"] = throttle.check_throttle(body.throttle_per_second)
    if "retry_schedule" in fields:
        if body.retry_schedule is None:
            raise ApiError(Code.VALIDATION_FAILED, "retry_schedule must be standard or long")
        changes["retry_schedule"] = body.retry_schedule
    if "ordered" in fields:
        if body.ordered is None:
            raise ApiError(Code.VALIDATION_FAILED, "ordered must be true or false")
        changes["ordered"] = body.ordered
    if "batch_size" in fields:
        changes["batch_size"] = batches.check_batch_size(body.batch_size)
    if "filter" in fields:
        changes.update(_filter_columns(body.filter))
    if "enabled" in fields:
        if body.enabled is None:
            raise ApiError(Code.VALIDATION_FAILED, "enabled must be true or false")
        changes["enabled"] = body.enabled
        if body.enabled:
            # Re-enabling starts the failure clock afresh.
            changes.update(disabled_reason=None, failing_since=None, failing_warned_at=None)
        else:
            changes["disabled_reason"] = "disabled by the merchant"
    now = utcnow()
    async with db.transaction() as conn:
        current = await endpoint_row(conn, caller, endpoint_id)
        if "ordered" in changes or "batch_size" in changes:
            batches.check_batch(
                changes.get("ordered", current.ordered),
                changes.get("batch_size", current.batch_size),
            )
        if body.signing is not None:
            changes["signing"] = body.signing
            if body.signing != "hmac" and current.signing_key_sealed is None:
                changes.update(_keypair(sealer, endpoint_id))
        if "headers" in fields:
            changes["custom_headers"] = headers.check_headers(
                body.headers or [], sealer, endpoint_id, current.custom_headers
            )
        row = (
            await conn.execute(
                update(_EP)
                .where(_EP.c.id == endpoint_id, *_mine(caller))
                .values(**changes, updated_at=now)
                .returning(_EP)
            )
        ).one()
    return Outcome(Code.SUCCESS, _endpoint_data(row, now))


async def delete_endpoint(db: Database, caller: Caller, endpoint_id: str) -> Outcome:
    """Soft delete: the delivery log keeps pointing at it; pending deliveries end as failed."""
    now = utcnow()
    async with db.transaction() as conn:
        await endpoint_row(conn, caller, endpoint_id)
        row = (
            await conn.execute(
                update(_EP)
                .where(_EP.c.id == endpoint_id)
                .values(enabled=False, deleted_at=now, updated_at=now)
                .returning(_EP)
            )
        ).one()
    return Outcome(Code.DELETED, _endpoint_data(row, now))


async def rotate_secret(
    db: Database, sealer: Sealer, caller: Caller, endpoint_id: str, overlap_seconds: int
) -> Outcome:
    """A new secret signs from now on, and a new ed25519 key too when the endpoint signs with
    one; each current one keeps signing beside its successor for the overlap, so receivers can
    switch without dropping a single event."""
    now = utcnow()
    secret = new_webhook_secret()
    until = now + timedelta(seconds=overlap_seconds) if overlap_seconds else None
    async with db.transaction() as conn:
        current = await endpoint_row(conn, caller, endpoint_id)
        changes: dict[str, Any] = {
            "secret_sealed": sealer.seal(secret, context=endpoint_id),
            "previous_secret_sealed": current.secret_sealed if overlap_seconds else None,
            "previous_secret_expires_at": until,
        }
        if current.signing != "hmac":
            changes.update(_keypair(sealer, endpoint_id))
            changes.update(
                previous_signing_key_sealed=(
                    current.signing_key_sealed if overlap_seconds else None
                ),
                previous_signing_public_key=(
                    current.signing_public_key if overlap_seconds else None
                ),
                previous_signing_key_expires_at=until,
            )
        row = (
            await conn.execute(
                update(_EP)
                .where(_EP.c.id == endpoint_id)
                .values(**changes, updated_at=now)
                .returning(_EP)
            )
        ).one()
    rotated = EndpointSecretData(**_endpoint_data(row, now).model_dump(), secret=secret)
    return Outcome(Code.SUCCESS, rotated)


async def check_reachable(
    db: Database, settings: Settings, caller: Caller, endpoint_id: str
) -> None:
    """Before a test or a replay makes work for the worker: the endpoint exists, is enabled, and
    its URL still passes the one address check (a name may have turned private since it was
    saved). Read and resolved outside any transaction: DNS may take its time. The worker checks
    again at connect time."""
    async with db.read() as conn:
        row = await endpoint_row(conn, caller, endpoint_id)
    if not row.enabled:
        raise ApiError(Code.WEBHOOK_ENDPOINT_DISABLED)
    if row.destination_type == HTTP:
        await check_url(settings, caller.env, row.url)
    else:
        await saving.recheck(
            row.destination_type,
            row.destination_shown,
            allow_loopback=allows_loopback(settings, caller.env),
        )


async def send_test(db: Database, settings: Settings, caller: Caller, endpoint_id: str) -> Outcome:
    await check_reachable(db, settings, caller, endpoint_id)
    now = utcnow()
    async with db.transaction() as conn:
        row = await endpoint_row(conn, caller, endpoint_id)
        if not row.enabled:
            raise ApiError(Code.WEBHOOK_ENDPOINT_DISABLED)
        ids = await outbox.emit(
            conn,
            env=caller.env,
            merchant_id=caller.merchant_id,
            type_="webhook.test",
            data=WebhookTest(endpoint_id=endpoint_id, message="This is a test event.").model_dump(),
            now=now,
            endpoint_ids=[endpoint_id],
            trigger="test",
        )
        event_id = (await conn.execute(select(_D.c.event_id).where(_D.c.id == ids[0]))).scalar_one()
    data = TestData(event_id=event_id, delivery_id=ids[0])
    return Outcome(Code.SUCCESS, data.model_dump(), deliveries=[ids[0]])


_DISABLE = Statement(
    """UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = :reason, updated_at = :now
    WHERE id = :id AND enabled
    RETURNING env, merchant_id, url, failing_since""",
    ("env", "merchant_id", "url", "failing_since"),
)


async def disable_endpoint(
    conn: Conn, endpoint_id: str, reason: str, now: datetime, *, trigger: str, per_hour: int
) -> tuple[list[str], health.Alert | None]:
    """Disable an enabled endpoint (``trigger``: ``gone`` for a 410, ``failing`` for the whole
    window) and tell the merchant's other endpoints (``health.disabled``): the deliveries to
    wake for, and the alert to mail its owners. Conditional, so two workers seeing the same
    failure disable and notify once. Driver statements: the worker runs this inside its batched
    step."""
    db = await raw(conn)
    row = await db.fetchrow(_DISABLE, {"id": endpoint_id, "reason": reason, "now": now})
    if row is None:
        return [], None
    return await health.disabled(
        db, row, endpoint_id=endpoint_id, trigger=trigger, reason=reason, now=now, per_hour=per_hour
    )
