"""The one upstream key a recipient of a merchant holds per environment (OpenRouter's), sealed,
and what the recipient's page reads of them.

The key's ``limit`` is always the absolute total sent to that recipient through the upstream
(``total_cents``: delivered, or debited and still being fulfilled), never an increment, so a
retry sets what it set before and concurrent sends converge: each sets the total it read, and
reads again after, until what it set is still the total.

Making the key is claimed first (``claim_creation``): of two first sends to one recipient
exactly one creates it upstream; the other waits for it (``KeyBeingMade``).
"""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import BigInteger, String, and_, func, or_, select, update

from keys import Sealer

from ..store.engine import Database
from ..store.expressions import param, upsert
from ..store.models import Fulfilment, Topup, UpstreamKey, table_of
from ..store.raw import Conn, Raw, Statement, raw
from ..store.types import UTCDateTime
from ..values import statuses
from ..values.clock import new_id
from .schemas import UpstreamKeyData
from .work import DUE

__all__ = [
    "CLAIM_SECONDS",
    "NEVER_CLAIMED",
    "TRIED",
    "KeyBeingMade",
    "claim_creation",
    "key_row",
    "recipient_keys",
    "release",
    "save_key",
    "set_limit",
    "total_cents",
]

_K = table_of(UpstreamKey)
_T = table_of(Topup)
_W = table_of(Fulfilment)


# How long a claim to make a recipient's key holds before another try may take it over.
CLAIM_SECONDS = 60.0
# ``updated_at`` of a key row no try has claimed yet; ``TRIED``: a try claimed it and failed,
# so the upstream may hold keys of this name that nobody can spend (their secret was lost):
# the next maker disables them first.
NEVER_CLAIMED = datetime(2000, 1, 1, tzinfo=UTC)
TRIED = datetime(2000, 1, 2, tzinfo=UTC)


class KeyBeingMade(Exception):
    """Another try is making this recipient's key right now: try again shortly."""


def _context(row: Any) -> str:
    return f"upstream-key:{row.id}"


_KEY_ROW = Statement.of(
    select(_K).where(
        _K.c.merchant_id == param("merchant_id", String),
        _K.c.env == param("env", String),
        _K.c.provider == param("provider", String),
        _K.c.recipient_email == param("email", String),
    )
)


def _key_row(tx: Raw, found: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(
        **{
            **found,
            "created_at": tx.timestamp(found["created_at"]),
            "updated_at": tx.timestamp(found["updated_at"]),
            "expires_at": tx.timestamp(found["expires_at"]),
        }
    )


async def key_row(
    db: Database, merchant_id: str, env: str, provider: str, email: str, now: datetime
) -> Any:
    """The recipient's key row, made (without a key yet) if it was not there. Read by key on
    the driver first: every send after a recipient's first finds it there, without a write."""
    key = {"merchant_id": merchant_id, "env": env, "provider": provider, "email": email}

    async def read(tx: Raw) -> SimpleNamespace | None:
        found = await tx.fetchrow(_KEY_ROW, key)
        return None if found is None else _key_row(tx, found)

    existing = await db.run(read, read_only=True)
    if existing is not None:
        return existing
    values = {
        "id": new_id("upk"),
        "merchant_id": merchant_id,
        "env": env,
        "provider": provider,
        "recipient_email": email,
        "label": "",
        "created_at": now,
        # Far in the past: the first claim of the creation takes it at once.
        "updated_at": NEVER_CLAIMED,
    }
    values["label"] = f"aitopup {values['id']}"[:100]
    where = (
        _K.c.merchant_id == merchant_id,
        _K.c.env == env,
        _K.c.provider == provider,
        _K.c.recipient_email == email,
    )
    async with db.transaction() as conn:
        await conn.execute(
            upsert(_K)
            .values(values)
            .on_conflict_do_nothing(
                index_elements=["merchant_id", "env", "provider", "recipient_email"]
            )
        )
        return (await conn.execute(select(_K).where(*where))).one()


async def claim_creation(db: Database, row_id: str, now: datetime, lease_seconds: float) -> bool:
    """Whether this try makes the key: the row has none, and no other try claimed it within
    ``lease_seconds`` (a try that died mid-way is taken over once its lease passed)."""
    async with db.transaction() as conn:
        taken = await conn.execute(
            update(_K)
            .where(
                _K.c.id == row_id,
                _K.c.key_hash.is_(None),
                _K.c.updated_at <= now - timedelta(seconds=lease_seconds),
            )
            .values(updated_at=now)
        )
        return taken.rowcount == 1


async def release(db: Database, row_id: str) -> None:
    """A claimed making that failed: the next try may make it at once (disabling first what
    this one may have made upstream)."""
    async with db.transaction() as conn:
        await conn.execute(
            update(_K).where(_K.c.id == row_id, _K.c.key_hash.is_(None)).values(updated_at=TRIED)
        )


async def save_key(
    db: Database,
    sealer: Sealer,
    row: Any,
    key_hash: str,
    key: str,
    limit: int,
    now: datetime,
    *,
    expires_at: datetime | None = None,
) -> None:
    """The key made for ``row``'s recipient, sealed, with the limit it was made with and when
    the upstream stops taking it (``None``: never)."""
    async with db.transaction() as conn:
        await conn.execute(
            update(_K)
            .where(_K.c.id == row.id)
            .values(
                key_hash=key_hash,
                key_sealed=sealer.seal(key, context=_context(row)),
                limit_cents=limit,
                expires_at=expires_at,
                updated_at=now,
            )
        )


_SET_LIMIT = Statement.of(
    update(_K)
    .where(_K.c.id == param("row_id", String))
    .values(limit_cents=param("limit", BigInteger), updated_at=param("now", UTCDateTime()))
)


async def set_limit(db: Database, row_id: str, limit: int, now: datetime) -> None:
    params = {"row_id": row_id, "limit": limit, "now": now}
    await db.run(lambda tx: tx.fetch(_SET_LIMIT, params))


_TOTAL = Statement.of(
    select(func.coalesce(func.sum(_T.c.amount_cents), 0).label("total"))
    .select_from(_T.join(_W, _W.c.topup_id == _T.c.id))
    .where(
        _T.c.merchant_id == param("merchant_id", String),
        _T.c.env == param("env", String),
        _T.c.recipient_email == param("email", String),
        _W.c.provider == param("provider", String),
        or_(
            _T.c.status == statuses.DELIVERED,
            and_(_T.c.status == statuses.PENDING, _W.c.status == DUE),
        ),
    )
)


async def total_cents(conn: Conn, merchant_id: str, env: str, email: str, provider: str) -> int:
    """What has been sent to this recipient through ``provider`` (one that keeps a key per
    recipient): delivered, or debited and still being fulfilled (a failure is refunded and
    leaves the total). On the driver: a try reads it with ``Database.run``'s read, which on
    SQLite never waits for the writer."""
    params = {"merchant_id": merchant_id, "env": env, "email": email, "provider": provider}
    found = await (await raw(conn)).fetchrow(_TOTAL, params)
    assert found is not None
    return int(found["total"])


async def recipient_keys(
    db: Database, sealer: Sealer, merchant_id: str, env: str, email: str
) -> list[UpstreamKeyData]:
    """For the recipient's page: their upstream keys at this merchant in ``env``, in clear
    (the page shows them to the recipient alone). New API's codes are their top-ups' vouchers
    (``voucher_sealed``), as the built-in voucher is."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(_K).where(
                    _K.c.merchant_id == merchant_id,
                    _K.c.env == env,
                    _K.c.recipient_email == email.lower(),
                    _K.c.key_sealed.is_not(None),
                )
            )
        ).all()
    return [
        UpstreamKeyData(
            provider=r.provider,
            label=r.label,
            value=sealer.open(r.key_sealed, context=_context(r)),
        )
        for r in rows
    ]
