"""OAuth apps a merchant registers (and, by RFC 7591, that clients register themselves).

An app is its ``client_id`` (the row's id), its exact redirect URIs and the scopes it may ask
for. A confidential app's secret is shown once and kept as its peppered HMAC; a rotation keeps
the previous one working for ``SECRET_OVERLAP``, so a deployment can roll without an outage.
A deleted app's consents are revoked with it, and its tokens with them.
"""

import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import hash_credential, mint_credential

from ..merchants.keys import revoke_consents
from ..store.engine import Database
from ..store.models import ApiKeyRow, Merchant, OAuthApp, table_of
from ..store.rows import CoreRow
from ..values.clock import new_id, rfc3339, rfc3339_or_none, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from .schemas import AppCreate, AppCreated, AppData, AppSecret, AppUpdate

__all__ = [
    "APP_ID",
    "SECRET_OVERLAP",
    "App",
    "data",
    "delete_app",
    "find_app",
    "get_app",
    "list_apps",
    "load",
    "register",
    "register_app",
    "register_client",
    "rotate_secret",
    "secret_matches",
    "update_app",
]


# A merchant's app (``app_…``), a client known by its metadata document (``cimd_…``, from the
# URL: ``apps.documents``), or a client that registered itself (RFC 7591: the id the `mcp`
# SDK's registration handler gives it, a UUID).
APP_ID = re.compile(
    r"app_[0-9a-z]{24}|cimd_[0-9a-f]{24}"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
SECRET_OVERLAP = timedelta(hours=24)
_A = table_of(OAuthApp)
_K = table_of(ApiKeyRow)
_M = table_of(Merchant)


@dataclass(frozen=True, slots=True)
class App:
    id: str
    merchant_id: str | None
    name: str
    homepage_url: str | None
    logo_url: str | None
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    confidential: bool
    verified: bool
    registered_by: str
    created_at: datetime
    secret_hash: str | None
    previous_secret_hash: str | None
    previous_secret_expires_at: datetime | None
    # A client known by its metadata document: the document's URL, its ``client_id``.
    client_id_url: str | None = None

    @property
    def client_id(self) -> str:
        """The id the client presents: its metadata document's URL, or the row's id."""
        return self.client_id_url or self.id


def _app(row: CoreRow) -> App:
    return App(
        row.id,
        row.merchant_id,
        row.name,
        row.homepage_url,
        row.logo_url,
        tuple(row.redirect_uris),
        tuple(row.scopes),
        row.confidential,
        row.verified,
        row.registered_by,
        row.created_at,
        row.secret_hash,
        row.previous_secret_hash,
        row.previous_secret_expires_at,
        row.client_id_url,
    )


def data(app: App, now: datetime | None = None) -> AppData:
    until = app.previous_secret_expires_at
    live_overlap = until is not None and until > (now or utcnow())
    return AppData(
        id=app.id,
        name=app.name,
        homepage_url=app.homepage_url,
        logo_url=app.logo_url,
        redirect_uris=list(app.redirect_uris),
        scopes=list(app.scopes),
        confidential=app.confidential,
        verified=app.verified,
        registered_by=app.registered_by,
        created_at=rfc3339(app.created_at),
        secret_rotated_until=rfc3339_or_none(until) if live_overlap else None,
    )


def secret_matches(app: App, presented: str, pepper: bytes, now: datetime) -> bool:
    """Whether ``presented`` is the app's secret, or its previous one within the overlap.
    Compared as HMACs, in constant time, both always (no timing tells which matched)."""
    given = hash_credential(presented, pepper)
    current = app.secret_hash is not None and hmac.compare_digest(given, app.secret_hash)
    previous = app.previous_secret_hash is not None and hmac.compare_digest(
        given, app.previous_secret_hash
    )
    overlap = app.previous_secret_expires_at is not None and app.previous_secret_expires_at > now
    return current or (previous and overlap)


async def load(conn: AsyncConnection, app_id: str) -> App | None:
    """The app of ``app_id``, if it exists and is not deleted."""
    if not APP_ID.fullmatch(app_id):
        return None
    row = (
        await conn.execute(sa.select(_A).where(_A.c.id == app_id, _A.c.deleted_at.is_(None)))
    ).first()
    return None if row is None else _app(row)


async def find_app(db: Database, app_id: str) -> App | None:
    """The app of ``app_id`` (a client id), if it exists and is not deleted."""
    async with db.read() as conn:
        return await load(conn, app_id)


async def _own(conn: AsyncConnection, merchant_id: str, app_id: str, *, lock: bool = False) -> App:
    """The merchant's own app, or ``APP_NOT_FOUND`` (another merchant's reads as unknown)."""
    stmt = sa.select(_A).where(
        _A.c.id == app_id, _A.c.merchant_id == merchant_id, _A.c.deleted_at.is_(None)
    )
    if lock:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first() if APP_ID.fullmatch(app_id) else None
    if row is None:
        raise ApiError(Code.APP_NOT_FOUND)
    return _app(row)


async def register(
    conn: AsyncConnection,
    merchant_id: str | None,
    body: AppCreate,
    *,
    pepper: bytes,
    now: datetime,
    cap: int,
    registered_by: str = "merchant",
) -> tuple[App, str | None]:
    """A new app and its secret (``None`` for a public app). At most ``cap`` apps a merchant:
    registrations for one merchant take turns on its row."""
    if merchant_id is not None:
        await conn.execute(sa.select(_M.c.id).where(_M.c.id == merchant_id).with_for_update())
        count = sa.select(sa.func.count()).where(
            _A.c.merchant_id == merchant_id, _A.c.deleted_at.is_(None)
        )
        if (await conn.execute(count)).scalar_one() >= cap:
            raise ApiError(Code.APP_COUNT_LIMIT_REACHED, data={"limit": cap})
    secret = mint_credential("ocs") if body.confidential else None
    app_id = new_id("app")
    await conn.execute(
        sa.insert(_A).values(
            id=app_id,
            merchant_id=merchant_id,
            name=body.name,
            homepage_url=body.homepage_url,
            logo_url=body.logo_url,
            redirect_uris=list(body.redirect_uris),
            scopes=list(body.scopes),
            confidential=body.confidential,
            secret_hash=None if secret is None else hash_credential(secret, pepper),
            registered_by=registered_by,
            # An app a merchant registers is that merchant's: the consent page names them.
            # One a client registered itself names no one, and says so.
            verified=registered_by == "merchant",
            created_at=now,
        )
    )
    found = await load(conn, app_id)
    assert found is not None
    return found, secret


async def register_client(
    db: Database,
    *,
    client_id: str,
    name: str,
    redirect_uris: tuple[str, ...],
    scopes: tuple[str, ...],
    secret: str | None,
    pepper: bytes,
) -> None:
    """A client that registered itself (RFC 7591): no merchant owns it, so it is unverified on
    the consent page and can charge no one; its redirect URIs keep the rule of every app's."""
    async with db.transaction() as conn:
        await conn.execute(
            sa.insert(_A).values(
                id=client_id,
                merchant_id=None,
                name=name,
                homepage_url=None,
                logo_url=None,
                redirect_uris=list(redirect_uris),
                scopes=list(scopes),
                confidential=secret is not None,
                secret_hash=None if secret is None else hash_credential(secret, pepper),
                registered_by="dynamic",
                verified=False,
                created_at=utcnow(),
            )
        )


# --- Operations: each opens its own transaction and answers an ``Outcome`` every door renders.


async def register_app(
    db: Database, merchant_id: str, body: AppCreate, *, pepper: bytes, cap: int
) -> Outcome:
    now = utcnow()
    async with db.transaction() as conn:
        app, secret = await register(conn, merchant_id, body, pepper=pepper, now=now, cap=cap)
    return Outcome(Code.CREATED, AppCreated(**data(app, now).model_dump(), client_secret=secret))


async def list_apps(db: Database, merchant_id: str) -> Outcome:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(_A)
            .where(_A.c.merchant_id == merchant_id, _A.c.deleted_at.is_(None))
            .order_by(_A.c.id.desc())
        )
        apps = [data(_app(row)) for row in rows]
    return Outcome(Code.SUCCESS, apps)


async def get_app(db: Database, merchant_id: str, app_id: str) -> Outcome:
    async with db.read() as conn:
        return Outcome(Code.SUCCESS, data(await _own(conn, merchant_id, app_id)))


async def update_app(db: Database, merchant_id: str, app_id: str, body: AppUpdate) -> Outcome:
    """The fields present replace the stored ones. Narrowing the scopes an app may ask for
    leaves the consents already given as they are; the merchant revokes those it wants."""
    changes: dict[str, Any] = {
        field: list(value) if isinstance(value, tuple) else value
        for field, value in body.model_dump(exclude_unset=True).items()
    }
    for field in ("name", "redirect_uris", "scopes"):
        if field in changes and changes[field] is None:
            raise ApiError(
                Code.VALIDATION_FAILED,
                data={"errors": [{"loc": [field], "msg": "cannot be null", "type": "null"}]},
            )
    async with db.transaction() as conn:
        await _own(conn, merchant_id, app_id, lock=True)
        if changes:
            await conn.execute(sa.update(_A).where(_A.c.id == app_id).values(**changes))
        return Outcome(Code.SUCCESS, data(await _own(conn, merchant_id, app_id)))


async def delete_app(db: Database, merchant_id: str, app_id: str) -> Outcome:
    now = utcnow()
    async with db.transaction() as conn:
        app = await _own(conn, merchant_id, app_id, lock=True)
        await conn.execute(sa.update(_A).where(_A.c.id == app_id).values(deleted_at=now))
        await revoke_consents(conn, _K.c.app_id == app_id, now)
    return Outcome(Code.DELETED, data(app, now))


async def rotate_secret(db: Database, merchant_id: str, app_id: str, *, pepper: bytes) -> Outcome:
    """A new secret, shown once; the current one becomes the previous, working for
    ``SECRET_OVERLAP`` (a secret rotated within it is dropped at once: two at most)."""
    now = utcnow()
    async with db.transaction() as conn:
        app = await _own(conn, merchant_id, app_id, lock=True)
        if not app.confidential:
            raise ApiError(Code.APP_NOT_CONFIDENTIAL)
        secret = mint_credential("ocs")
        until = now + SECRET_OVERLAP
        await conn.execute(
            sa.update(_A)
            .where(_A.c.id == app_id)
            .values(
                secret_hash=hash_credential(secret, pepper),
                previous_secret_hash=app.secret_hash,
                previous_secret_expires_at=until,
            )
        )
    return Outcome(
        Code.SUCCESS,
        AppSecret(id=app_id, client_secret=secret, previous_secret_expires_at=rfc3339(until)),
    )
