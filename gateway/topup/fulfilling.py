"""One try of a top-up's upstream work, and its result recorded as a lifecycle change.

Money first, network after: the send has debited and held the amount (a ``pending`` top-up
with its work due, ``upstreams.work``); here the upstream is called outside any transaction,
then ``lifecycle.move`` records what it answered (pending → delivered, or pending → failed and
refunded) together with the work's end, in one transaction. A transient failure (5xx, timeout,
a connection that failed) with tries left makes the work due again after the next delay of
``AITOPUP_FULFILMENT_RETRY_SCHEDULE``; a 4xx or refused credentials fail at once.

Every try is safe to repeat, and how is its provider's own rule: each provider is a module of
``upstreams.providers``, reached through its registry, which makes the credit, takes back what
tries left after a failure, and checks the credentials. This module names none of them.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import String, select

from keys import Sealer

from ..ledger import service as ledger
from ..mail import caps
from ..merchants import service as merchants
from ..store.engine import Database
from ..store.expressions import param
from ..store.models import Fulfilment, Topup, table_of
from ..store.raw import Raw, Statement
from ..upstreams import config, providers, work
from ..upstreams import keys as upstream_keys
from ..upstreams.clients import PROVIDER_UNSET, UpstreamError
from ..upstreams.upstream import Upstream
from ..values import statuses
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.outcome import Outcome
from ..values.settings import Settings
from . import lifecycle

__all__ = ["Attempted", "HttpFor", "Settle", "attempt"]

log = logging.getLogger(__name__)

_T = table_of(Topup)
_W = table_of(Fulfilment)

HttpFor = Callable[[str], httpx.AsyncClient]  # an environment's outbound client
# Run in the transaction that records a try's result (on the driver: statements only), with
# the outcome it reached: the send's inline try records it for the send's idempotency key, so
# a replay answers what it answered.
Settle = Callable[[Raw, Outcome], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Attempted:
    """``outcome``: the top-up as it now stands, when this try finished it (delivered or
    failed), with the deliveries of its event; ``None`` when it is still pending."""

    outcome: Outcome | None


async def attempt(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    http_for: HttpFor,
    topup_id: str,
    number: int,
    *,
    reveal: bool = False,
    within: float | None = None,
    now: Callable[[], datetime] = utcnow,
    settle: Settle | None = None,
    gates: caps.Gates | None = None,
) -> Attempted:
    """Try number ``number`` of ``topup_id``'s upstream work (the caller holds it: the send's
    own first try, or a claim). ``reveal``: the outcome's ``voucher_code`` is the code.
    ``within``: the upstream's part may take this long (the send's inline try), after which the
    work is left as it is, due when the send made it due; recording a result is never cut.
    ``settle``: run with the outcome in the transaction that records it. ``gates``: the caps
    on voucher mails a delivery counts in (``mail.caps``; the caller settles them)."""
    found = await db.run(lambda tx: _read(tx, sealer, topup_id), read_only=True)
    if found is None:
        return Attempted(None)
    row, job, upstream = found
    try:
        async with asyncio.timeout(within):
            result = await _call(db, sealer, settings, http_for, upstream, row, job, number, now)
    except TimeoutError:
        return Attempted(None)
    except upstream_keys.KeyBeingMade:
        # Not the upstream's failure: the same try again shortly, not counted.
        await work.reschedule(
            db, topup_id, number, now() + timedelta(seconds=0.2), "key being made", now(),
            count=False,
        )  # fmt: skip
        return Attempted(None)
    except UpstreamError as error:
        log.info(
            "upstream try failed: %s (%s)",
            error.outcome,
            error.detail,
            extra={"transaction_id": topup_id},
        )
        at = work.next_try_at(settings, number, now()) if error.transient else None
        if at is not None:
            await work.reschedule(db, topup_id, number, at, error.reason, now())
            return Attempted(None)
        failed = await _fail(db, row, job, error.reason, now(), settle)
        if failed is not None:
            await _undo(db, sealer, settings, http_for, upstream, row, job, number, now)
        return Attempted(failed)
    gate = None
    if gates is not None:
        on = bool(row.notify_recipient)
        if on:
            async with db.read() as conn:
                on = await merchants.notify_recipients(conn, row.merchant_id)
        gate = await gates.take(row.merchant_id, row.env, row.recipient_email, on=on)
    return Attempted(await _deliver(db, sealer, row, job, result, reveal, now(), settle, gate))


_TOPUP = Statement.of(select(_T).where(_T.c.id == param("topup_id", String)))
_WORK = Statement.of(select(_W).where(_W.c.topup_id == param("topup_id", String)))
_JSON = ("metadata", "spend_buckets")
_TIMES = ("approval_expires_at", "created_at", "updated_at", "next_attempt_at")


def _row(tx: Raw, found: dict[str, Any]) -> SimpleNamespace:
    """A row read on the driver as Core reads it: JSON decoded, timestamps aware, booleans."""
    values = dict(found)
    for name in _JSON:
        if isinstance(values.get(name), str):
            values[name] = json.loads(values[name])
    for name in _TIMES:
        if name in values:
            values[name] = tx.timestamp(values[name])
    if "notify_recipient" in values:
        values["notify_recipient"] = bool(values["notify_recipient"])
    return SimpleNamespace(**values)


async def _read(
    tx: Raw, sealer: Sealer, topup_id: str
) -> tuple[SimpleNamespace, SimpleNamespace, Upstream | None] | None:
    """The top-up, its work and its upstream, if the work is still due: by key, on the
    driver (on SQLite the reader, which never waits for the writer)."""
    found = await tx.fetchrow(_TOPUP, {"topup_id": topup_id})
    job = await tx.fetchrow(_WORK, {"topup_id": topup_id})
    if found is None or job is None:
        return None
    if job["status"] != work.DUE or found["status"] != statuses.PENDING:
        return None
    row = _row(tx, found)
    upstream = await config.load(tx, sealer, row.merchant_id, row.env, row.platform)
    return row, _row(tx, job), upstream


async def _call(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    http_for: HttpFor,
    upstream: Upstream | None,
    row: Any,
    job: Any,
    number: int,
    now: Callable[[], datetime],
) -> providers.Made:
    """The upstream's part of a try, by its provider's module: nothing here holds a
    transaction."""
    if upstream is None or upstream.provider != job.provider:
        raise UpstreamError(job.provider, PROVIDER_UNSET, transient=False)
    return await providers.provider_for(upstream.provider).make(
        _try(db, sealer, settings, http_for, upstream, row, job, number, now)
    )


def _try(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    http_for: HttpFor,
    upstream: Upstream,
    row: Any,
    job: Any,
    number: int,
    now: Callable[[], datetime],
) -> providers.Try:
    return providers.Try(
        db, sealer, settings, upstream, http_for(row.env), row, job.reference, number, now
    )


async def _undo(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    http_for: HttpFor,
    upstream: Upstream | None,
    row: Any,
    job: Any,
    number: int,
    now: Callable[[], datetime],
) -> None:
    """After the top-up failed for good: its provider takes back what tries left upstream."""
    if upstream is None or upstream.provider != job.provider:
        return
    provider = providers.provider_for(upstream.provider)
    await provider.undo(_try(db, sealer, settings, http_for, upstream, row, job, number, now))


async def _wallet_id(tx: Raw, row: Any) -> str:
    wallet = await ledger.balance(tx, row.env, ledger.merchant_owner(row.merchant_id))
    assert wallet is not None
    return wallet.wallet_id


async def _wallet_balance(tx: Raw, row: Any) -> int:
    """The merchant wallet's balance as this answer leaves it (after a failure's refund)."""
    wallet = await ledger.balance(tx, row.env, ledger.merchant_owner(row.merchant_id))
    assert wallet is not None
    return wallet.balance_cents


async def _deliver(
    db: Database,
    sealer: Sealer,
    row: Any,
    job: Any,
    result: providers.Made,
    reveal: bool,
    at: datetime,
    settle: Settle | None,
    gate: caps.Gate | None = None,
) -> Outcome | None:
    """The answer recorded in one transaction on the driver (``Database.run``: on SQLite one
    trip to the writer, which holds the write lock for no trip to the event loop)."""
    ref = work.fulfilment_ref(job.provider, result.reference)
    sealed = sealer.seal(result.voucher, context=row.id)

    async def record(tx: Raw) -> Outcome | None:
        asked = lifecycle.ChangeRequest(
            row,
            statuses.DELIVERED,
            wallet_id=await _wallet_id(tx, row),
            now=at,
            voucher_sealed=sealed,
            event_extra={"fulfilment": ref},
            mail_gate=gate,
        )
        changed = await lifecycle.change(tx, asked)
        if changed is None:
            return None
        await work.finish(tx, row.id, work.DONE, None, at)
        recipient = changed.applied.one("recipient")
        assert recipient is not None
        data = {
            "voucher_code": result.voucher if reveal else None,
            "platform": row.platform,
            "amount_cents": row.amount_cents,
            "new_balance_cents": int(recipient["balance_cents"]),
            "wallet_balance_cents": await _wallet_balance(tx, row),
            "fulfilment": ref,
        }
        if gate is not None:
            data["mail"] = gate.word(row.env)
        outcome = Outcome(
            Code.TOPUP_DELIVERED,
            data,
            transaction_id=row.id,
            status=statuses.DELIVERED,
            deliveries=changed.work,
        )
        if settle is not None:
            await settle(tx, outcome)
        return outcome

    return await db.run(record)


async def _fail(
    db: Database, row: Any, job: Any, reason: str, at: datetime, settle: Settle | None = None
) -> Outcome | None:
    why = f"failed upstream: {reason}"[:200]
    ref = work.fulfilment_ref(job.provider, job.reference)

    async def record(tx: Raw) -> Outcome | None:
        asked = lifecycle.ChangeRequest(
            row,
            statuses.FAILED,
            wallet_id=await _wallet_id(tx, row),
            now=at,
            failure_reason=why,
            event_extra={"fulfilment": ref},
        )
        changed = await lifecycle.change(tx, asked)
        if changed is None:
            return None
        await work.finish(tx, row.id, work.FAILED, reason[:500], at)
        data = {
            "voucher_code": None,
            "platform": row.platform,
            "amount_cents": row.amount_cents,
            "new_balance_cents": None,
            "wallet_balance_cents": await _wallet_balance(tx, row),
            "fulfilment": ref,
        }
        outcome = Outcome(
            Code.TOPUP_FAILED,
            data,
            transaction_id=row.id,
            status=statuses.FAILED,
            message=f"Top-up failed upstream; funds refunded: {reason}"[:300],
            deliveries=changed.work,
        )
        if settle is not None:
            await settle(tx, outcome)
        return outcome

    return await db.run(record)
