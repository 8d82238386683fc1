"""Redeeming the built-in voucher: the merchant that sent it takes it back from its recipient,
once, when the recipient presents it to the merchant's own product.

The voucher stays sealed; its digest (``Sealer.lookup`` of its one form, ``canonical_voucher``)
finds it, among the calling key's merchant's top-ups in the key's environment only, so a code of
another merchant or environment is not found, as an unknown one is (one answer for all three).

The redemption is one plan (``_PLAN``), rendered for each store like every write of money: the
claim first, one conditional write of the top-up (still ``delivered``, not yet redeemed: of any
number of concurrent redemptions exactly one finds it so), then the recipient's wallet debited
by the voucher's amount (never below zero), its ``voucher_redeemed`` entry, and the
``voucher.redeemed`` event with its deliveries. The read before it only finds the top-up and
says why a refused one is refused; it decides nothing. A redeemed voucher's top-up has left
every refund: no transition leaves ``delivered`` (``lifecycle.TRANSITIONS``).

A New API code is redeemed upstream, by the recipient: when the recipient's page learns New
API has it used (``spent_upstream``), the same plan runs, so one rule takes a redeemed code off
the recipient's balance whatever the provider.

No idempotency key: a repeat answers ``4241`` with the first redemption's data (its top-up,
amount and time), which is all a retry needs to know.
"""

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import String, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer, canonical_voucher

from .. import outbox
from ..callers import Caller
from ..ledger import service as ledger
from ..store.compose import Plan, Refs, Step, steps
from ..store.engine import Database
from ..store.expressions import const, param
from ..store.models import Topup, table_of
from ..store.raw import Construct, raw
from ..store.rows import CoreRow
from ..store.types import UTCDateTime
from ..values import statuses
from ..values.clock import rfc3339, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from . import lifecycle
from .schemas import RedeemedData

__all__ = ["EVENT", "REDEEM", "redeem", "spent_upstream"]

log = logging.getLogger(__name__)

_T = table_of(Topup)

REDEEM = "vouchers.redeem"  # the operation's name
EVENT = "voucher.redeemed"


def _claim(refs: Refs) -> Construct:
    """The one conditional write that decides: the top-up still delivered and not redeemed."""
    now = param("now", UTCDateTime())
    return (
        update(_T)
        .where(
            _T.c.id == param("txn_id", String),
            _T.c.merchant_id == param("merchant_id", String),
            _T.c.env == param("env", String),
            _T.c.status == const(statuses.DELIVERED),
            _T.c.redeemed_at.is_(None),
        )
        .values(redeemed_at=now, updated_at=now)
        .returning(_T.c.id, _T.c.recipient_wallet_id)
    )


def _entries(refs: Refs) -> Construct:
    line = ledger.Line(refs.col("debit", "id"), -ledger.amount(), const("voucher_redeemed"))
    return ledger.entries(
        ledger.numbered(refs.col("debit", ledger.COUNT), line), after=refs.after("debit")
    )


_PLAN = Plan(
    steps(
        Step("claim", _claim, required=True),
        Step(
            "debit",
            lambda refs: ledger.recipient_debit(refs.col("claim", "recipient_wallet_id")),
            required=True,
        ),
        Step("entries", _entries),
        outbox.event_steps(
            "event",
            after=lambda refs: refs.after("debit"),
            balance_after=lambda refs: refs.col("debit", "balance_cents"),
        ),
    ),
    given=(
        "txn_id",
        "merchant_id",
        "env",
        "now",
        "amount",
        "reference",
        "memo",
        "event_id",
        "event_type",
        "event_payload",
        "event_prefix",
        "event_trigger",
    ),
)


class _Lost(Exception):
    """The claim or the debit found nothing: the transaction is undone."""


def _data(
    row: CoreRow, code: str, redeemed_at: datetime, balance: int | None = None
) -> RedeemedData:
    return RedeemedData(
        code=code,
        transaction_id=row.id,
        platform=row.platform,
        amount_cents=row.amount_cents,
        recipient_email=row.recipient_email,
        redeemed_at=rfc3339(redeemed_at),
        recipient_balance_cents=balance,
    )


async def _find(conn: AsyncConnection, caller: Caller, digest: str) -> Any:
    """The caller's top-up whose voucher has this digest, in the caller's environment."""
    stmt = select(_T).where(
        _T.c.voucher_hash == digest,
        _T.c.merchant_id == caller.merchant_id,
        _T.c.env == caller.env,
    )
    return (await conn.execute(stmt)).first()


def _refusal(row: CoreRow, code: str) -> ApiError | None:
    """Why ``row``'s voucher cannot be redeemed now, or ``None`` if it can."""
    if row is None:
        return ApiError(Code.VOUCHER_NOT_FOUND)
    if row.redeemed_at is not None:
        data = _data(row, code, row.redeemed_at).model_dump()
        return ApiError(Code.VOUCHER_ALREADY_REDEEMED, data=data, transaction_id=row.id)
    if row.status != statuses.DELIVERED:
        data = {"transaction_id": row.id, "status": row.status}
        return ApiError(Code.VOUCHER_NOT_REDEEMABLE, data=data, transaction_id=row.id)
    return None


async def _apply(conn: AsyncConnection, row: Any, now: datetime) -> Any:
    """The redemption's one plan for ``row`` (a top-up), in ``conn``'s transaction: what it
    applied, or ``None`` when another got there first (or the wallet was short)."""
    data = {
        **lifecycle.event_data(
            row.id, row.status, row.platform, row.amount_cents, row.recipient_email, row.metadata
        ),
        "redeemed_at": rfc3339(now),
        "recipient_balance_cents": outbox.BALANCE_MARK,
    }
    given = {
        "txn_id": row.id,
        "merchant_id": row.merchant_id,
        "env": row.env,
        "now": now,
        "amount": row.amount_cents,
        "reference": row.id,
        "memo": None,
        **outbox.event_params(EVENT, now, row.env, data),
    }
    return await _PLAN.run(await raw(conn), given)


async def spent_upstream(db: Database, merchant_id: str, env: str, topup_id: str) -> bool:
    """Record that ``topup_id``'s code was redeemed at its upstream (New API says it is used):
    the same write as a voucher's redemption, so the amount leaves the recipient's balance
    once whoever learns it. ``True`` if this call made it."""
    now = utcnow()
    try:
        async with db.transaction() as conn:
            stmt = select(_T).where(
                _T.c.id == topup_id, _T.c.merchant_id == merchant_id, _T.c.env == env
            )
            row = (await conn.execute(stmt)).first()
            if row is None or _refusal(row, "") is not None:
                return False
            if await _apply(conn, row, now) is None:
                raise _Lost
    except _Lost:
        return False
    return True


async def redeem(db: Database, sealer: Sealer, caller: Caller, presented: str) -> Outcome:
    """Redeem the voucher ``presented`` (as typed) for the calling key's merchant, in its
    environment: ``1008`` with the redemption, or refused with nothing changed."""
    code = canonical_voucher(presented)
    if code is None:
        raise ApiError(Code.VOUCHER_CODE_INVALID)
    digest = sealer.lookup(code)
    now = utcnow()
    try:
        async with db.transaction() as conn:
            row = await _find(conn, caller, digest)
            refused = _refusal(row, code)
            if refused is not None:
                raise refused
            applied = await _apply(conn, row, now)
            if applied is None:
                raise _Lost
    except _Lost:
        pass
    else:
        debited = applied.one("debit")
        assert debited is not None
        done = _data(row, code, now, int(debited["balance_cents"]))
        return Outcome(
            Code.VOUCHER_REDEEMED,
            done.model_dump(),
            transaction_id=row.id,
            status=row.status,
            deliveries=applied.ids("event_deliveries"),
        )
    # Another redemption got there first (or the wallet was short: the claim is undone).
    async with db.read() as conn:
        row = await _find(conn, caller, digest)
    refused = _refusal(row, code)
    if refused is not None:
        raise refused
    log.error("voucher of %s not redeemed: its recipient's wallet is short", row.id)
    data = {"transaction_id": row.id, "status": row.status}
    raise ApiError(Code.VOUCHER_NOT_REDEEMABLE, data=data, transaction_id=row.id)
