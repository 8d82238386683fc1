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
client unknown, and is not read again for ``FAILURE_SECONDS``.

Anyone may name a document (a request to ``/oauth/authorize`` needs no credential), so the
reads are bounded apart from every merchant's calls (``Reader``): a pool of their own, one read
of a URL at a time, a few of an origin at once and a minute.
"""

import hashlib
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from ..store.engine import Database
from ..store.expressions import upsert
from ..store.models import OAuthApp, table_of
from ..values import outside_json
from ..values.settings import Settings
from ..values.text import holds_nul, one_line
from ..values.urls import split_url
from ..webhooks.bodies import BodyTooLarge, read_capped
from ..webhooks.bounded_reads import BoundedReads, Read
from ..webhooks.transport import WebhookTransport
from .registry import App, load
from .schemas import APP_SCOPES, MINIMAL_SCOPES, redirect_uri

__all__ = [
    "DOCUMENT_TTL",
    "FAILURE_SECONDS",
    "FETCH_SECONDS",
    "MAX_DOCUMENT_BYTES",
    "READS_IN_FLIGHT",
    "READS_PER_ORIGIN",
    "READS_PER_ORIGIN_PER_MINUTE",
    "Reader",
    "client_by_document",
    "document_url",
    "internal_id",
    "open_reader",
]

DOCUMENT_TTL = timedelta(hours=1)
FETCH_SECONDS = 5.0
MAX_DOCUMENT_BYTES = 5 * 1024
# A document that could not be read, or was wrong, is not asked for again for this long.
FAILURE_SECONDS = 60.0
# Reads one process makes at once, every origin together: the size of its own pool.
READS_IN_FLIGHT = 16
# Reads of one origin (scheme, host, port) at once, and a minute, per process.
READS_PER_ORIGIN = 2
READS_PER_ORIGIN_PER_MINUTE = 30
USER_AGENT = "aiTopUp-oauth/1"
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
    try:
        parts = split_url(client_id)
    except ValueError:  # no URL at all (a bracket, the host or the port), so no document
        return None
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
        found = outside_json.loads(body)
    except (httpx.HTTPError, httpx.InvalidURL, BodyTooLarge, ValueError) as exc:
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
        "scopes": [s for s in APP_SCOPES if s in asked] or list(MINIMAL_SCOPES),
    }


class Reader:
    """One process's reads of metadata documents, for whoever names one in a request.

    They go out on a client of their own (``open_reader``, ``READS_IN_FLIGHT`` connections), so
    a flood of them never holds a connection a merchant's calls would use. Reads of one URL
    made at once are one read; a read that failed is remembered ``FAILURE_SECONDS``; an origin
    is read at most ``READS_PER_ORIGIN`` at once and ``READS_PER_ORIGIN_PER_MINUTE`` a minute.
    A read past a bound is not made (the client is unknown for now) and not remembered as a
    failure: the document is not at fault. ``clock`` is monotonic seconds."""

    def __init__(
        self, http: httpx.AsyncClient, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._http = http
        self._reads: BoundedReads[str, dict[str, Any]] = BoundedReads(
            at_once=READS_IN_FLIGHT,
            each=READS_PER_ORIGIN,
            each_a_minute=READS_PER_ORIGIN_PER_MINUTE,
            clock=clock,
        )

    @property
    def in_flight(self) -> int:
        return self._reads.in_flight

    async def aclose(self) -> None:
        await self._http.aclose()

    async def described(self, url: str) -> dict[str, Any] | None:
        """What the app row keeps of document ``url`` (``_described``), or ``None``."""
        return await self._reads.once(url, lambda: self._read(url))

    async def _read(self, url: str) -> Read[dict[str, Any]]:
        """One read of ``url`` within the bounds: the answer is kept by the app row, not
        here; a failure ``FAILURE_SECONDS``; a read not made not at all."""
        origin = self._reads.start(url)
        if origin is None:
            return None, 0
        try:
            return _described(url, await _fetch(self._http, url)), 0
        except _Refused:
            return None, FAILURE_SECONDS
        finally:
            self._reads.end(origin)


def open_reader(settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> Reader:
    """The reader for ``settings``: its own pool over the checked transport, which reaches
    loopback only where ``AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS`` allows it."""
    limits = httpx.Limits(
        max_connections=READS_IN_FLIGHT, max_keepalive_connections=0, keepalive_expiry=0
    )
    transport = WebhookTransport(
        allow_loopback=settings.allow_private_webhook_urls, limits=limits, resend=False
    )
    http = httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(FETCH_SECONDS),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )
    return Reader(http, clock=clock)


async def client_by_document(db: Database, reader: Reader, url: str, now: datetime) -> App | None:
    """The client of document ``url``: as kept, while fresh; else read again and kept."""
    app_id = internal_id(url)
    async with db.read() as conn:
        kept = await load(conn, app_id)
        row = (await conn.execute(sa.select(_A.c.fetched_at).where(_A.c.id == app_id))).first()
    if kept is not None and row is not None and row.fetched_at + DOCUMENT_TTL > now:
        return kept
    described = await reader.described(url)
    if described is None:
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
