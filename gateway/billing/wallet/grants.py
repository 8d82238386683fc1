"""A merchant wallet's credit grants as merchants and operators see them: the list, an
operator's grant and its void, and the expiry sweep. The rules (what a grant is, the draw
order, why it is safe) are ``ledger.grants``'.

A void or an expiry takes a grant's remainder out of the wallet with one ledger entry of its
own, in the transaction that marks the grant, once the wallet is settled (``grants.settle``,
which takes its lock): so it is ordered against every debit, finds the grant as the debits so
far left it, and happens once, however many sweepers or operators race. The list settles the
wallet too, so what is left of each grant is shown drawn.
"""

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field
from sqlalchemy import String, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ...callers import Caller
from ...ledger import expiry, grants
from ...ledger import service as ledger
from ...store.engine import Database
from ...store.expressions import param
from ...store.models import CreditGrant, LedgerEntry, SandboxClock, Wallet, table_of
from ...store.types import UTCDateTime
from ...values.clock import rfc3339, rfc3339_or_none
from ...values.code_names import Code
from ...values.model import Model
from ...values.outcome import ApiError, OffsetMeta, Outcome
from ...values.timestamps import Instant
from .funding import Moved, credit_merchant

__all__ = [
    "EXPIRED",
    "GRANTED_KIND",
    "GrantCreate",
    "GrantData",
    "GrantsQuery",
    "expire_due",
    "expire_merchant",
    "expire_wallet",
    "grant",
    "list_grants",
    "void",
]

_G = table_of(CreditGrant)
_W = table_of(Wallet)
_C = table_of(SandboxClock)
_E = table_of(LedgerEntry)
# The ledger entry of a staging wallet's starting balance (``merchants.service``).
STARTING_KIND = "initial_funding"

EXPIRED = expiry.EXPIRED
GRANTED_KIND = "grant"  # the ledger entry of an operator's grant
# How many wallets one sweep expires grants of; the next sweep takes the rest.
SWEEP_BATCH = 200

Status = Literal["active", "spent", "expired", "voided"]


class GrantData(Model):
    id: str = Field(description="cg_…")
    category: grants.Category = Field(
        description="paid (bought, or given back), promotional (a code, an operator's gift, a "
        "check-in) or plan (a subscription period's credits)."
    )
    priority: int = Field(description="Drawn in ascending order: 0 first, 100 last.")
    amount_cents: int = Field(description="What the grant gave.")
    remaining_cents: int = Field(description="What is left of it to spend.")
    effective_at: str
    expires_at: str | None = Field(description="When what is left lapses; null: never.")
    status: Status = Field(
        description="active (credit left), spent, expired (what was left lapsed) or voided."
    )
    starting_balance: bool = Field(
        default=False,
        exclude_if=lambda value: not value,
        description="Present (true) on a staging wallet's starting balance: the credit the "
        "gateway gives each new merchant to try staging with, a paid grant nobody bought.",
    )


class GrantsQuery(Model):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class GrantCreate(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    env: Literal["staging", "live"]
    amount_cents: int = Field(ge=1, le=100_000_000)
    category: grants.Category
    priority: int = Field(
        default=grants.DEFAULT_PRIORITY,
        ge=0,
        le=grants.MAX_PRIORITY,
        description="0 is drawn first, 100 last; 50 by default.",
    )
    expires_at: Instant | None = Field(
        default=None, strict=False, description="When what is left lapses; absent: never."
    )


def _status(row: Any) -> Status:
    if row.voided_at is not None:
        return "voided"
    if row.expired_at is not None:
        return "expired"
    return "active" if row.remaining_cents > 0 else "spent"


def _data(row: Any, starting: str | None = None) -> GrantData:
    return GrantData(
        id=row.id,
        category=row.category,
        priority=int(row.priority),
        amount_cents=int(row.amount_cents),
        remaining_cents=int(row.remaining_cents),
        effective_at=rfc3339(row.effective_at),
        expires_at=rfc3339_or_none(row.expires_at),
        status=_status(row),
        starting_balance=row.id == starting,
    )


async def _starting(conn: AsyncConnection, wallet_id: str) -> str | None:
    """The grant of ``wallet_id``'s starting balance, if it has one: a staging wallet's first
    entry (``merchants.service.create_merchant``), read by the wallet's index of its entries."""
    first = await conn.execute(
        select(_E.c.kind, _E.c.number).where(_E.c.wallet_id == wallet_id).order_by(_E.c.id).limit(1)
    )
    found = first.first()
    if found is None or found.kind != STARTING_KIND:
        return None
    return f"cg_{wallet_id[4:]}_{found.number}"


async def list_grants(db: Database, caller: Caller, *, limit: int, offset: int = 0) -> Outcome:
    """The caller's wallet's grants in its env, newest first, with its undrawn debits drawn;
    ``meta`` is the ``OffsetMeta``."""
    mine = _G.c.wallet_id == caller.wallet_id
    async with db.transaction() as conn:
        await grants.settle(conn, caller.wallet_id)
        total = int((await conn.execute(select(func.count()).where(mine))).scalar_one())
        rows = await conn.execute(
            select(_G)
            .where(mine)
            .order_by(_G.c.created_at.desc(), _G.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        starting = await _starting(conn, caller.wallet_id) if caller.env == "staging" else None
        items = [_data(r, starting) for r in rows]
    meta = OffsetMeta.of(limit, offset, len(items), total)
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())


async def grant(
    conn: AsyncConnection, merchant_id: str, body: GrantCreate, reference: str, now: datetime
) -> tuple[GrantData, Moved]:
    """An operator's grant of ``body`` to the merchant's wallet in ``body.env``, with its
    ``grant`` entry and ``wallet.credited``, in the caller's transaction."""
    made = grants.Grant(body.category, body.priority, body.expires_at)
    moved = await credit_merchant(
        conn,
        env=body.env,
        merchant_id=merchant_id,
        amount=body.amount_cents,
        source=GRANTED_KIND,
        reference=reference,
        memo=f"{body.category} credit",
        now=now,
        grant=made,
    )
    wallet = await ledger.balance(conn, body.env, ledger.merchant_owner(merchant_id))
    assert wallet is not None
    # The credit holds the wallet's lock: its count is still the one its grant is named by.
    made_id = f"cg_{wallet.wallet_id[4:]}_{wallet.entry_count}"
    row = (await conn.execute(select(_G).where(_G.c.id == made_id))).one()
    return _data(row), moved


_RETURNED = (
    _G.c.id,
    _G.c.category,
    _G.c.amount_cents,
    _G.c.remaining_cents,
    _G.c.removed_cents,
    _G.c.priority,
    _G.c.effective_at,
    _G.c.expires_at,
    _G.c.voided_at,
    _G.c.expired_at,
)
_VOID = (
    update(_G)
    .where(
        _G.c.id == param("grant_id", String),
        _G.c.wallet_id == param("wallet", String),
        _G.c.voided_at.is_(None),
        _G.c.expired_at.is_(None),
    )
    .values(
        removed_cents=_G.c.remaining_cents, remaining_cents=0, voided_at=param("now", UTCDateTime())
    )
    .returning(*_RETURNED)
)


async def void(
    conn: AsyncConnection, merchant_id: str, grant_id: str, now: datetime
) -> tuple[GrantData, int | None]:
    """Void the merchant's grant ``grant_id``: what is left of it leaves the wallet with a
    ``grant_voided`` entry; the grant and the balance after (none if nothing was left). A
    grant voided already is refused, and so is another merchant's."""
    owned = (
        await conn.execute(
            select(_G.c.wallet_id)
            .select_from(_G.join(_W, _W.c.id == _G.c.wallet_id))
            .where(_G.c.id == grant_id, _W.c.owner == ledger.merchant_owner(merchant_id))
        )
    ).first()
    if owned is None:
        raise ApiError(Code.CREDIT_GRANT_NOT_FOUND)
    wallet = await grants.settle(conn, owned.wallet_id)
    assert wallet is not None
    params = {"grant_id": grant_id, "wallet": wallet["id"], "now": now}
    marked = (await conn.execute(_VOID, params)).first()
    if marked is None:
        raise ApiError(Code.CREDIT_GRANT_VOIDED)
    balance = None
    if marked.removed_cents > 0:
        balance = await ledger.withdraw(conn, wallet["id"], marked.removed_cents, now)
        entry = ledger.Entry(
            wallet["id"], wallet["env"], -marked.removed_cents, grants.VOIDED_KIND, marked.id
        )
        await ledger.append(conn, [entry], now)
    return _data(marked), balance


async def _due_wallets(db: Database, real: datetime) -> list[tuple[str, datetime]]:
    """Wallets with a live grant past its expiry by their merchant's clock (a staging test
    clock's, else the wall's), each with that clock's now."""
    offset = func.coalesce(_C.c.offset_seconds, 0)
    stmt = (
        select(_G.c.wallet_id, _G.c.expires_at, _W.c.env, offset.label("offset"))
        .select_from(
            _G.join(_W, _W.c.id == _G.c.wallet_id).outerjoin(
                _C, (_C.c.merchant_id == _W.c.merchant_id) & (_W.c.env == "staging")
            )
        )
        .where(_G.c.remaining_cents > 0, _G.c.expires_at.is_not(None))
        .order_by(_G.c.expires_at)
    )
    due: dict[str, datetime] = {}
    async with db.read() as conn:
        # A clock runs ahead of the wall at most by its bound: what is due by none of them
        # is not read.
        horizon = real + timedelta(seconds=_MAX_OFFSET)
        for row in await conn.execute(stmt.where(_G.c.expires_at <= horizon)):
            now = real + timedelta(seconds=int(row.offset))
            if row.expires_at <= now and row.wallet_id not in due:
                due[row.wallet_id] = now
            if len(due) >= SWEEP_BATCH:
                break
    return list(due.items())


_MAX_OFFSET = 10 * 365 * 86_400  # ``sandbox_clock.MAX_OFFSET_SECONDS``


async def expire_wallet(db: Database, wallet_id: str, now: datetime) -> Outcome:
    """Expire the wallet's grants past their expiry at ``now`` (its merchant's clock): each
    remainder leaves with a ``grant_expired`` entry and a ``credit.expired`` event, in one
    transaction once the wallet is settled (``expiry.empty_dead``); a grant another sweep
    expired first is not found. ``data {expired}``: how many."""
    async with db.transaction() as conn:
        wallet = await grants.settle(conn, wallet_id)
        if wallet is None:
            return Outcome(Code.SUCCESS, {"expired": 0})
        expired, deliveries = await expiry.empty_dead(conn, wallet, now)
    return Outcome(Code.SUCCESS, {"expired": expired}, deliveries=deliveries)


async def expire_due(db: Database, real: datetime) -> Outcome:
    """Every wallet's grants past their expiry by its merchant's clock at ``real`` (the wall's
    time): the worker's sweep. Each wallet in a transaction of its own; ``data {expired}``."""
    expired = 0
    deliveries: list[str] = []
    for wallet_id, now in await _due_wallets(db, real):
        one = await expire_wallet(db, wallet_id, now)
        expired += int(one.data["expired"])
        deliveries += one.deliveries
    return Outcome(Code.SUCCESS, {"expired": expired}, deliveries=deliveries)


async def expire_merchant(db: Database, merchant_id: str, env: str, now: datetime) -> Outcome:
    """The merchant's wallet of ``env``: its grants past their expiry at ``now`` (its clock),
    expired at once: a staging test clock moved forward passes them in the same request, as
    it renews the periods it passes, rather than at the worker's next sweep. ``data
    {expired}``."""
    async with db.read() as conn:
        wallet = await ledger.balance(conn, env, ledger.merchant_owner(merchant_id))
    if wallet is None:
        return Outcome(Code.SUCCESS, {"expired": 0})
    return await expire_wallet(db, wallet.wallet_id, now)
