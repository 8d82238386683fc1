"""The outbox of upstream work (``fulfilments``): one row per top-up an upstream fulfils.

The send writes it in its own plan (``work_step``), so the debit and the work to finish it commit
together: a killed process loses nothing, since the rows are the queue (``QUEUE``, leased by the
worker's runner like every kind of work: of two takers exactly one gets it) and a lapsed lease
makes the row due again. The lease counts the try (``attempts`` is the lease's token). The first
try is the send's own (``attempts`` 1), inline, with the row not due until the inline deadline
and a margin have passed. A try's result is recorded by ``topup.fulfilling`` with a lifecycle
change, or ``reschedule`` for a later try.
"""

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import String, insert, literal_column, null, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store.compose import Refs
from ..store.engine import Database
from ..store.expressions import const, from_rows, param
from ..store.models import Fulfilment, FulfilmentSetting, table_of
from ..store.queue import Queue, next_try, settle
from ..store.raw import Conn, Construct, Raw, Statement, raw
from ..store.types import UTCDateTime
from ..values.settings import Settings

__all__ = [
    "DONE",
    "DUE",
    "FAILED",
    "LEASE_MARGIN_SECONDS",
    "QUEUE",
    "finish",
    "fulfilled_by_upstream",
    "fulfilling",
    "fulfilment_of",
    "fulfilment_ref",
    "next_try_at",
    "provider_in",
    "provider_of",
    "reference",
    "reschedule",
    "work_step",
]

_W = table_of(Fulfilment)
_F = table_of(FulfilmentSetting)

DUE = "due"
DONE = "done"
FAILED = "failed"
# Past a try's own time bound: a try still running is not taken by another.
LEASE_MARGIN_SECONDS = 5.0
QUEUE = Queue(_W, due=DUE, done=DONE, failed=FAILED, key="topup_id", stamp="attempts")


def next_try_at(settings: Settings, number: int, finished: datetime) -> datetime | None:
    """When try ``number + 1`` is due after try ``number`` failed for a transient reason;
    ``None`` past the schedule. The first try is the send's own, at once; the schedule
    (``AITOPUP_FULFILMENT_RETRY_SCHEDULE``) gives the delays before each later one."""
    return next_try([0.0, *settings.fulfilment_retry_delays], number, finished)


def reference(txn_id: str) -> str:
    """Ours, sent upstream (New API's code ``name``, at most 20 characters): the top-up's id
    without its prefix and its last four random characters, so it names the top-up at a glance
    and sorts as it does."""
    return txn_id.removeprefix("txn_")[:20]


def fulfilment_ref(provider: str, reference: str) -> dict[str, str]:
    """A top-up's ``data.fulfilment`` (``topup.schemas.SendData``) wherever a reply carries it:
    the upstream that fulfils it and our reference there. Made here alone."""
    return {"provider": provider, "reference": reference}


def work_step(refs: Refs, *, after: str) -> Construct:
    """The send's upstream work, due at ``:fulfil_due_at``, once step ``after`` returned."""
    now = param("now", UTCDateTime())
    row = {
        "topup_id": param("txn_id", String),
        "merchant_id": param("merchant_id", String),
        "env": param("env", String),
        "provider": param("fulfil_provider", String),
        "reference": param("fulfil_reference", String),
        "status": const(DUE),
        "attempts": literal_column("1"),  # the send's own try
        "next_attempt_at": param("fulfil_due_at", UTCDateTime()),
        "last_error": null(),
        "created_at": now,
        "updated_at": now,
    }
    return from_rows(insert(_W), [row], where=refs.after(after))


_PROVIDER = Statement.of(
    select(_F.c.provider).where(
        _F.c.merchant_id == param("merchant_id", String),
        _F.c.env == param("env", String),
        _F.c.platform == param("platform", String),
    )
)


async def provider_of(db: Database, merchant_id: str, env: str, platform: str) -> str | None:
    """The upstream provider of ``platform`` in ``env``, or ``None`` for the voucher."""

    async def read(tx: Raw) -> Any:
        return await tx.fetchrow(
            _PROVIDER, {"merchant_id": merchant_id, "env": env, "platform": platform}
        )

    row = await db.run(read, read_only=True)
    return None if row is None else str(row["provider"])


async def provider_in(
    conn: AsyncConnection, merchant_id: str, env: str, platform: str
) -> str | None:
    """``provider_of``, read in the caller's transaction (an approval's)."""
    found = await (await raw(conn)).fetchrow(
        _PROVIDER, {"merchant_id": merchant_id, "env": env, "platform": platform}
    )
    return None if found is None else str(found["provider"])


async def reschedule(
    db: Database,
    topup_id: str,
    attempt: int,
    at: datetime,
    error: str,
    now: datetime,
    *,
    count: bool = True,
) -> None:
    """A transient failure with tries left: due again at ``at``, unless another try has
    taken it since (its ``attempts`` moved on). ``count=False``: the try did not reach the
    upstream, and is not counted against the schedule."""
    held = SimpleNamespace(topup_id=topup_id, attempts=attempt)
    async with db.transaction() as conn:
        await settle(conn, QUEUE, held, error=error[:500], at=at, now=now, counted=count)


async def fulfilling(conn: AsyncConnection, topup_id: str) -> bool:
    """Whether ``topup_id`` has upstream work still due."""
    found = await conn.execute(
        select(_W.c.topup_id).where(_W.c.topup_id == topup_id, _W.c.status == DUE)
    )
    return found.first() is not None


async def fulfilled_by_upstream(conn: AsyncConnection, ids: list[str]) -> set[str]:
    """Of ``ids``, the top-ups an upstream fulfils (or fulfilled)."""
    found = await conn.execute(select(_W.c.topup_id).where(_W.c.topup_id.in_(ids)))
    return {r.topup_id for r in found}


async def fulfilment_of(conn: AsyncConnection, topup_id: str) -> dict[str, str] | None:
    """The upstream that fulfils (or fulfilled) ``topup_id`` and our reference there, as a
    send's ``fulfilment`` says them; ``None`` for a top-up no upstream fulfils."""
    found = (
        await conn.execute(select(_W.c.provider, _W.c.reference).where(_W.c.topup_id == topup_id))
    ).first()
    return None if found is None else fulfilment_ref(found.provider, found.reference)


_FINISH = Statement.of(
    update(_W)
    .where(_W.c.topup_id == param("topup_id", String))
    .values(
        status=param("status", String),
        next_attempt_at=null(),
        last_error=param("error", String),
        updated_at=param("now", UTCDateTime()),
    )
)


async def finish(conn: Conn, topup_id: str, status: str, error: str | None, now: datetime) -> None:
    """Done or failed for good, in the caller's transaction (with the top-up's change)."""
    params = {"topup_id": topup_id, "status": status, "error": error, "now": now}
    await (await raw(conn)).fetch(_FINISH, params)
