"""Clients known by a metadata document (OAuth Client ID Metadata Documents, as the MCP
authorization profile uses them): the ``client_id`` is the URL of a JSON document that says who
the client is and where it may be sent back.

The document is read through the checked transport the webhooks' and upstreams' calls use, so
its host is judged by the address connected to, and never a private one (``http`` on loopback
only where ``AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS`` allows loopback, for development); at most
``MAX_DOCUMENT_BYTES`` of it are read, within ``FETCH_SECONDS``. Its ``client_id`` must be its
own URL; its redirect URIs keep every app's rule; such a client is public (PKCE alone),
unverified, and owned by no merchant. What it said is kept on an app row (``cimd_…``, from the
URL) and read again after ``DOCUMENT_TTL``; a document that cannot be read or is wrong leaves the
client unknown.
"""

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from ..store.compose import upsert
from ..store.db import Database
from ..store.models import OAuthApp, table_of
from ..values.text import holds_nul, one_line
from ..webhooks.bodies import BodyTooLarge, read_capped
from .registry import App, load
from .schemas import APP_SCOPES, redirect_uri

__all__ = [
    "DOCUMENT_TTL",
    "FETCH_SECONDS",
    "MAX_DOCUMENT_BYTES",
    "client_by_document",
    "document_url",
    "internal_id",
]

DOCUMENT_TTL = timedelta(hours=1)
FETCH_SECONDS = 5.0
MAX_DOCUMENT_BYTES = 5 * 1024
_MOST_REDIRECTS = 10
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_A = table_of(OAuthApp)


class _Refused(Exception):
    """The document cannot be read, or does not describe a client we take."""


def document_url(client_id: str, *, loopback_http: bool) -> str | None:
    """``client_id`` if it is a metadata document's URL: ``https`` with a path beyond ``/``, no
    fragment, query or credentials; ``http`` only on loopback, and only with ``loopback_http``."""
    if len(client_id) > 2048:
        return None
    parts = urlsplit(client_id)
    secure = parts.scheme == "https" or (
        loopback_http and parts.scheme == "http" and parts.hostname in _LOOPBACK
    )
    plain = not (parts.fragment or parts.query or parts.username or parts.password)
    if not secure or not plain or not parts.hostname or parts.path in ("", "/"):
        return None
    return client_id


def internal_id(url: str) -> str:
    """The app row of the client of document ``url``."""
    return "cimd_" + hashlib.sha256(url.encode()).hexdigest()[:24]


async def _fetch(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    request = http.build_request(
        "GET",
        url,
        headers={"Accept": "application/json"},
        timeout=httpx.Timeout(FETCH_SECONDS),
    )
    try:
        response = await http.send(request, stream=True)
        try:
            if response.status_code != 200:
                raise _Refused(f"the document answered {response.status_code}")
            body = await read_capped(response, MAX_DOCUMENT_BYTES, whole=True)
        finally:
            await response.aclose()
        found = json.loads(body)
    except (httpx.HTTPError, BodyTooLarge, ValueError) as exc:
        raise _Refused(f"the document could not be read: {type(exc).__name__}") from None
    if not isinstance(found, dict):
        raise _Refused("the document is not a JSON object")
    if holds_nul(found):  # an outsider's text, kept in the app row as a request's would be
        raise _Refused("the document contains a NUL character")
    return found


def _described(url: str, found: dict[str, Any]) -> dict[str, Any]:
    """What the app row keeps of a document that describes a client we take."""
    if found.get("client_id") != url:
        raise _Refused("the document's client_id is not its own URL")
    if found.get("token_endpoint_auth_method", "none") != "none":
        raise _Refused("a client known by its document authenticates by PKCE alone")
    uris = found.get("redirect_uris")
    if not isinstance(uris, list) or not 1 <= len(uris) <= _MOST_REDIRECTS:
        raise _Refused("redirect_uris: between 1 and 10")
    try:
        checked = [redirect_uri(u) for u in uris if isinstance(u, str)]
    except ValueError as exc:
        raise _Refused(str(exc)) from None
    if len(checked) != len(uris):
        raise _Refused("redirect_uris: strings only")
    name = found.get("client_name")
    if isinstance(name, str):
        try:
            one_line(name)
        except ValueError as exc:
            raise _Refused(f"client_name: {exc}") from None
    scope = found.get("scope")
    asked = scope.split() if isinstance(scope, str) else []
    return {
        "name": (name if isinstance(name, str) and name.strip() else urlsplit(url).netloc)[:100],
        "redirect_uris": checked,
        "scopes": [s for s in APP_SCOPES if s in asked] or ["topup:read"],
    }


async def client_by_document(
    db: Database, http: httpx.AsyncClient, url: str, now: datetime
) -> App | None:
    """The client of document ``url``: as kept, while fresh; else read again and kept."""
    app_id = internal_id(url)
    async with db.read() as conn:
        kept = await load(conn, app_id)
        row = (await conn.execute(sa.select(_A.c.fetched_at).where(_A.c.id == app_id))).first()
    if kept is not None and row is not None and row.fetched_at + DOCUMENT_TTL > now:
        return kept
    try:
        described = _described(url, await _fetch(http, url))
    except _Refused:
        return None
    values = {**described, "fetched_at": now}
    async with db.transaction() as conn:
        changed = await conn.execute(
            sa.update(_A).where(_A.c.id == app_id, _A.c.deleted_at.is_(None)).values(values)
        )
        if changed.rowcount == 0:  # new; or deleted, which stays so (nothing is inserted)
            await conn.execute(
                upsert(_A)
                .values(
                    id=app_id,
                    merchant_id=None,
                    homepage_url=None,
                    logo_url=None,
                    confidential=False,
                    registered_by="metadata",
                    verified=False,
                    created_at=now,
                    client_id_url=url,
                    **values,
                )
                .on_conflict_do_nothing(index_elements=[_A.c.id])
            )
        return await load(conn, app_id)
