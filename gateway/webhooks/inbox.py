"""The staging test inbox: a receiver URL per staging merchant on this gateway, which keeps what
it is sent and says whether its signature verified, as a request bin would, without the merchant
running anything.

Its URL is ``<public base>/api/public/v1/webhooks/inbox/<token>``, the token 256 random bits.
The token is the only thing that lets a request in, so it is kept as its hash (looked up) and
sealed (shown back to the merchant), never in clear. Live merchants have none: a live key asking
is refused (``WEBHOOK_INBOX_STAGING_ONLY``).

A request is judged against the merchant's staging endpoints whose URL points at this inbox, by
the code ``aitopup listen`` runs (``verifying.Verifier``): verified by any one of them, with its
current secret and keys or, during a rotation's overlap, its previous ones. What is kept is
bounded: a body of at most ``MAX_BODY_BYTES`` (a larger one is refused unread), the first
``MAX_HEADERS`` headers with their values cut, the newest ``MAX_REQUESTS`` requests per merchant
(each receipt drops what is past it), each for ``KEPT`` (then the worker's retention job deletes
it). Values of the merchant's secret custom headers, and of credentials' headers, are masked
before they are kept, as the delivery log masks them.
"""

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field
from sqlalchemy import delete, select

from keys import BadSignature, Sealer

from ..callers import Caller
from ..store.engine import Database
from ..store.expressions import upsert
from ..store.models import WebhookEndpoint, WebhookInbox, WebhookInboxRequest, table_of
from ..store.rows import CoreRow
from ..values.clock import id_floor, new_id, rfc3339, utcnow
from ..values.code_names import Code
from ..values.model import Model
from ..values.outcome import ApiError, Outcome
from ..values.public_base import public_base
from ..values.settings import Settings
from . import headers as custom_headers
from . import urls
from .verifying import Verifier

__all__ = [
    "KEPT",
    "MAX_BODY_BYTES",
    "MAX_HEADERS",
    "MAX_REQUESTS",
    "InboxData",
    "InboxQuery",
    "InboxReceipt",
    "InboxRequestData",
    "owner_of",
    "prune",
    "read_inbox",
    "receive",
]

KEPT = timedelta(days=1)
MAX_REQUESTS = 100
MAX_BODY_BYTES = 64 * 1024
MAX_HEADERS = 50
_MAX_NAME = 100
_MAX_VALUE = 1000
# Kept masked whatever endpoint sent them: credentials a receiver's own proxy may add.
_ALWAYS_MASKED = frozenset({"authorization", "proxy-authorization", "cookie"})

_IN = table_of(WebhookInbox)
_R = table_of(WebhookInboxRequest)
_EP = table_of(WebhookEndpoint)

SignatureStatus = Literal["verified", "failed", "unsigned", "no_endpoint"]


class InboxQuery(Model):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=MAX_REQUESTS)


class InboxHeader(Model):
    name: str
    value: str


class InboxRequestData(Model):
    id: str
    method: str
    received_at: str
    headers: list[InboxHeader] = Field(
        description=f"In the order received, the first {MAX_HEADERS}; secret values masked."
    )
    body: str = Field(description="The raw body as UTF-8 (bytes that are not shown as U+FFFD).")
    body_bytes: int
    signature: SignatureStatus = Field(
        description="verified: by a staging endpoint pointing here (endpoint_id); failed: "
        "signed, but no such endpoint's keys verify it (signature_detail says why); unsigned: "
        "no signature header; no_endpoint: signed, and no staging endpoint points here."
    )
    endpoint_id: str | None
    signature_detail: str | None


class InboxData(Model):
    url: str = Field(description="Paste it as a staging endpoint's URL.")
    kept_hours: int
    max_requests: int
    requests: list[InboxRequestData] = Field(description="Newest first.")


class InboxReceipt(Model):
    id: str
    signature: SignatureStatus


def _hash(token: str) -> str:
    # 256 random bits: a plain digest is as good as a peppered one for a lookup.
    return hashlib.sha256(token.encode()).hexdigest()


async def _token(db: Database, sealer: Sealer, merchant_id: str) -> str:
    """The merchant's inbox token, made on first use (concurrent first uses agree on one)."""
    async with db.read() as conn:
        sealed = (
            await conn.execute(select(_IN.c.token_sealed).where(_IN.c.merchant_id == merchant_id))
        ).scalar_one_or_none()
    if sealed is None:
        token = secrets.token_urlsafe(32)
        async with db.transaction() as conn:
            await conn.execute(
                upsert(_IN)
                .values(
                    merchant_id=merchant_id,
                    token_hash=_hash(token),
                    token_sealed=sealer.seal(token, context=f"{merchant_id}:inbox"),
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=[_IN.c.merchant_id])
            )
            sealed = (
                await conn.execute(
                    select(_IN.c.token_sealed).where(_IN.c.merchant_id == merchant_id)
                )
            ).scalar_one()
    return sealer.open(sealed, context=f"{merchant_id}:inbox")


def _request_data(row: CoreRow) -> InboxRequestData:
    return InboxRequestData(
        id=row.id,
        method=row.method,
        received_at=rfc3339(row.received_at),
        headers=[InboxHeader(name=n, value=v) for n, v in row.headers["headers"]],
        body=row.body,
        body_bytes=row.body_bytes,
        signature=row.signature,
        endpoint_id=row.endpoint_id,
        signature_detail=row.signature_detail,
    )


async def read_inbox(
    db: Database, sealer: Sealer, settings: Settings, caller: Caller, *, limit: int
) -> Outcome:
    """The inbox's URL and its newest ``limit`` requests; staging only."""
    if caller.env != "staging":
        raise ApiError(Code.WEBHOOK_INBOX_STAGING_ONLY)
    token = await _token(db, sealer, caller.merchant_id)
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(_R)
                .where(_R.c.merchant_id == caller.merchant_id)
                .order_by(_R.c.id.desc())
                .limit(limit)
            )
        ).all()
    data = InboxData(
        url=urls.inbox_url(public_base(settings), token),
        kept_hours=int(KEPT.total_seconds() // 3600),
        max_requests=MAX_REQUESTS,
        requests=[_request_data(r) for r in rows],
    )
    return Outcome(Code.SUCCESS, data)


async def owner_of(db: Database, token: str) -> Outcome:
    """The merchant whose inbox ``token`` opens (its id as ``data``), for the door to count the
    request against before it reads the body; ``WEBHOOK_INBOX_NOT_FOUND`` otherwise."""
    if not urls.INBOX_TOKEN.fullmatch(token):
        raise ApiError(Code.WEBHOOK_INBOX_NOT_FOUND)
    async with db.read() as conn:
        found = (
            await conn.execute(select(_IN.c.merchant_id).where(_IN.c.token_hash == _hash(token)))
        ).scalar_one_or_none()
    if found is None:
        raise ApiError(Code.WEBHOOK_INBOX_NOT_FOUND)
    return Outcome(Code.SUCCESS, str(found))


def _verifiers(sealer: Sealer, row: CoreRow, now: datetime) -> list[Verifier]:
    """What verifies a request sent to ``row`` (an endpoint): its current secret and keys by its
    scheme, then its previous ones while their overlap lasts."""
    hmac = row.signing in ("hmac", "both")
    ed25519 = row.signing in ("ed25519", "both")
    current: list[str] = []
    previous: list[str] = []
    if hmac:
        current.append(sealer.open(row.secret_sealed, context=row.id))
        expires = row.previous_secret_expires_at
        if row.previous_secret_sealed and expires is not None and expires > now:
            previous.append(sealer.open(row.previous_secret_sealed, context=row.id))
    if ed25519 and row.signing_public_key:
        current.append(row.signing_public_key)
        expires = row.previous_signing_key_expires_at
        if row.previous_signing_public_key and expires is not None and expires > now:
            previous.append(row.previous_signing_public_key)
    return [Verifier.of(given) for given in (current, previous) if given]


def _judge(
    sealer: Sealer, endpoints: Sequence[Any], seen: dict[str, str], body: bytes, now: datetime
) -> tuple[SignatureStatus, str | None, str | None]:
    """The signature's status, the endpoint that verified it, and why not."""
    if "webhook-signature" not in seen and "x-aitopup-signature" not in seen:
        return "unsigned", None, None
    if not endpoints:
        return "no_endpoint", None, "no staging endpoint points at this inbox"
    why = "no signature matches"
    for row in endpoints:
        for verifier in _verifiers(sealer, row, now):
            try:
                verifier.check(seen, body, now=now.timestamp())
            except BadSignature as exc:
                why = str(exc)
                continue
            return "verified", row.id, None
    return "failed", None, why


def _kept_headers(raw: Sequence[tuple[str, str]], masked: frozenset[str]) -> list[tuple[str, str]]:
    return [
        (
            name[:_MAX_NAME],
            custom_headers.MASK if name.lower() in masked else value[:_MAX_VALUE],
        )
        for name, value in raw[:MAX_HEADERS]
    ]


async def receive(
    db: Database,
    sealer: Sealer,
    merchant_id: str,
    token: str,
    method: str,
    raw_headers: Sequence[tuple[str, str]],
    body: bytes,
) -> Outcome:
    """Keep one request to the inbox (``owner_of`` found its merchant), judged; the oldest past
    ``MAX_REQUESTS`` goes in the same transaction."""
    now = utcnow()
    async with db.read() as conn:
        staging = (
            await conn.execute(
                select(_EP).where(
                    _EP.c.merchant_id == merchant_id,
                    _EP.c.env == "staging",
                    _EP.c.deleted_at.is_(None),
                )
            )
        ).all()
    pointing = [row for row in staging if urls.inbox_token_of(row.url) == token]
    seen: dict[str, str] = {}
    for name, value in raw_headers:
        seen.setdefault(name.lower(), value)
    status, endpoint_id, detail = _judge(sealer, pointing, seen, body, now)
    masked = _ALWAYS_MASKED.union(
        *(
            {name.lower() for name in custom_headers.secret_names(row.custom_headers)}
            for row in staging
        )
    )
    request_id = new_id("wir")
    async with db.transaction() as conn:
        await conn.execute(
            _R.insert().values(
                id=request_id,
                merchant_id=merchant_id,
                method=method[:10],
                received_at=now,
                headers={"headers": _kept_headers(raw_headers, masked)},
                body=body.decode("utf-8", errors="replace"),
                body_bytes=len(body),
                signature=status,
                endpoint_id=endpoint_id,
                signature_detail=detail[:200] if detail else None,
            )
        )
        oldest_kept = (
            select(_R.c.id)
            .where(_R.c.merchant_id == merchant_id)
            .order_by(_R.c.id.desc())
            .offset(MAX_REQUESTS - 1)
            .limit(1)
            .scalar_subquery()
        )
        await conn.execute(delete(_R).where(_R.c.merchant_id == merchant_id, _R.c.id < oldest_kept))
    return Outcome(Code.SUCCESS, InboxReceipt(id=request_id, signature=status))


async def prune(db: Database, *, now: datetime, batch: int) -> int:
    """At most ``batch`` requests older than ``KEPT`` deleted, in one short transaction; how
    many. Ids sort by time, so the age is a range of the primary key."""
    old = select(_R.c.id).where(_R.c.id < id_floor("wir", now - KEPT)).limit(batch)
    async with db.transaction() as conn:
        gone = await conn.execute(delete(_R).where(_R.c.id.in_(old.scalar_subquery())))
    return int(gone.rowcount)
