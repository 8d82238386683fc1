"""What a merchant reads about funding: the packs on offer and its ledger. Its orders' reads, the
funding history among them, are the orders' (``orders.reads``); its receipts' the receipts'
(``receipts.reads``)."""

from typing import Any

from sqlalchemy import select

from ..callers import Caller
from ..ledger import service as ledger
from ..store.engine import Database
from ..store.models import LedgerEntry, Pack, table_of
from ..values.clock import rfc3339
from ..values.code_names import Code
from ..values.outcome import LedgerMeta, Outcome
from ..values.public_base import public_base
from ..values.settings import Settings
from .channels import offering
from .channels.registry import SANDBOX
from .channels.schemas import ChannelInfo
from .schemas import LedgerItem, PackData, TierData, TopupInfo

__all__ = [
    "TOPUP_INFO_PATH",
    "WALLET_PATH",
    "ledger_item",
    "list_packs",
    "payment_channels",
    "provider_names",
    "topup_info",
    "transactions",
    "wallet_url",
]

# The dashboard's wallet page: where a person funds the wallet by hand.
WALLET_PATH = "/dashboard/wallet"
TOPUP_INFO_PATH = "/api/public/v1/billing/topup-info"


_P = table_of(Pack)
_L = table_of(LedgerEntry)


def _pack_data(row: Any) -> PackData:
    return PackData.model_validate(row)


async def _active_packs(db: Database) -> list[PackData]:
    stmt = select(_P).where(_P.c.active.is_(True)).order_by(_P.c.sort_order, _P.c.id)
    async with db.read() as conn:
        return [_pack_data(r) for r in await conn.execute(stmt)]


async def list_packs(db: Database) -> Outcome:
    """The packs on sale, in their order."""
    return Outcome(Code.SUCCESS, await _active_packs(db))


async def payment_channels(db: Database, settings: Settings, env: str) -> list[ChannelInfo]:
    """The channels ``env`` pays through: in staging those enabled for it, each through the
    sandbox (never a live provider, whichever is named); in live each the operator enabled with
    credentials (Stripe's from its settings, unless a row says otherwise). A channel with no
    page to open (MPP: agents pay a 402's challenge) is not one a merchant picks."""
    found = await offering.offered(db, settings, env)
    return [offering.info(p, env) for p in found if p.kinds or p.subscriptions]


def provider_names(env: str, offered: list[ChannelInfo]) -> list[str]:
    """``topup-info``'s ``providers``: the sandbox in staging; in live each channel, and
    ``<channel>_invoice`` for one that sends invoices."""
    if env == "staging":
        return [SANDBOX]
    names = []
    for channel in offered:
        names.append(channel.channel)
        if "invoice" in channel.kinds:
            names.append(f"{channel.channel}_invoice")
    return names


def wallet_url(settings: Settings) -> str:
    return public_base(settings) + WALLET_PATH


async def topup_info(db: Database, settings: Settings, caller: Caller) -> Outcome:
    """How the caller's environment is funded: packs, amounts, tiers, channels."""
    offered = await payment_channels(db, settings, caller.env)
    info = TopupInfo(
        env=caller.env,
        currency="USD",
        packs=await _active_packs(db),
        custom_amounts=settings.funding_custom_amounts,
        min_cents=settings.funding_min_cents,
        max_cents=settings.funding_max_cents,
        step_cents=settings.funding_step_cents,
        amount_options=list(settings.funding_options),
        discount_tiers=[TierData(from_cents=a, percent_off=p) for a, p in settings.funding_tiers],
        providers=provider_names(caller.env, offered),
        channels=offered,
        redemption=True,
        wallet_url=wallet_url(settings),
    )
    return Outcome(Code.SUCCESS, info)


def ledger_item(row: Any) -> LedgerItem:
    return LedgerItem(
        id=row.id,
        number=row.number,
        env=row.env,
        type=row.kind,
        amount_cents=row.amount_cents,
        reference=row.reference,
        description=row.memo,
        created_at=rfc3339(row.created_at),
    )


async def transactions(
    db: Database, caller: Caller, *, limit: int, offset: int = 0, cursor: int | None = None
) -> Outcome:
    """The caller's wallet ledger in its env, newest first: the page at ``offset``, or the page
    after the entry ``cursor`` (the ``next_cursor`` of the page before). ``meta`` is the
    ``LedgerMeta``: ``total`` is the wallet's count of entries, kept with it, never counted."""
    items: list[LedgerItem] = []
    total = 0
    more = False
    async with db.read() as conn:
        wallet = await ledger.balance(conn, caller.env, ledger.merchant_owner(caller.merchant_id))
        if wallet is not None:
            total = wallet.entry_count
            mine = _L.c.wallet_id == wallet.wallet_id
            newest = _L.c.id.desc()
            if cursor is not None:
                # By key: the page is read from the wallet's index at the cursor, whatever the
                # depth, and the page after is one more row past it.
                stmt = select(_L).where(mine, _L.c.id < cursor).order_by(newest).limit(limit + 1)
            else:
                # The page's ids first, from the wallet's own index alone: skipping ``offset``
                # entries there reads no row, where skipping them in the table read every one
                # (and PostgreSQL had walked the primary key, past every other wallet's too).
                page = select(_L.c.id).where(mine).order_by(newest).offset(offset)
                ids = page.limit(limit + 1).scalar_subquery()
                stmt = select(_L).where(_L.c.id.in_(ids)).order_by(newest)
            rows = (await conn.execute(stmt)).all()
            more = len(rows) > limit
            items = [ledger_item(r) for r in rows[:limit]]
    meta = LedgerMeta(
        limit=limit,
        offset=None if cursor is not None else offset,
        total=total,
        has_more=more,
        next_cursor=str(items[-1].id) if more else None,
    )
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())
