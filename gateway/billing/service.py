"""What a merchant reads about funding: the packs on offer, its funding history and its ledger."""

import asyncio
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from ..callers import Caller
from ..ledger import service as ledger
from ..mail.links import public_base
from ..store.db import Database
from ..store.models import (
    Coupon,
    FundingOrder,
    LedgerEntry,
    Merchant,
    Pack,
    Receipt,
    table_of,
)
from ..values.clock import rfc3339, rfc3339_or_none
from ..values.codes import Code
from ..values.outcome import ApiError, LedgerMeta, OffsetMeta, Outcome, PageMeta
from ..values.settings import Settings
from . import receipts
from .channels import offering
from .channels.registry import SANDBOX
from .channels.schemas import ChannelInfo
from .receipts.pdf import ReceiptFile, render_pdf
from .receipts.profile import profile_of
from .schemas import (
    HISTORY_PAGE_SIZE,
    HistoryItem,
    LedgerItem,
    OrderData,
    PackData,
    ReceiptData,
    TierData,
    TopupInfo,
)

__all__ = [
    "TOPUP_INFO_PATH",
    "WALLET_PATH",
    "get_order",
    "history",
    "ledger_item",
    "list_orders",
    "list_packs",
    "order_data",
    "orders_select",
    "payment_channels",
    "provider_names",
    "receipt",
    "receipt_columns",
    "receipt_data",
    "receipt_fields",
    "receipt_file",
    "receipt_pdf",
    "topup_info",
    "transactions",
    "wallet_url",
]

# The dashboard's wallet page: where a person funds the wallet by hand.
WALLET_PATH = "/dashboard/wallet"
TOPUP_INFO_PATH = "/api/public/v1/billing/topup-info"


_P = table_of(Pack)
_C = table_of(Coupon)
_M = table_of(Merchant)
_O = table_of(FundingOrder)
_L = table_of(LedgerEntry)
_R = table_of(Receipt)


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


def _order_fields(row: Any) -> dict[str, Any]:
    """An order row's fields that the history and the order read alike (``_OrderFields``)."""
    return {
        "id": row.id,
        "kind": row.kind,
        "provider": row.provider,
        "pack_id": row.pack_id,
        "credits": row.credits,
        "credit_cents": row.credit_cents,
        "discount_cents": row.discount_cents,
        "currency": row.currency,
        "status": row.status,
        "failure_reason": row.failure_reason,
        "expires_at": rfc3339_or_none(row.expires_at),
        "created_at": rfc3339(row.created_at),
        "completed_at": rfc3339_or_none(row.completed_at),
    }


def _history_item(row: Any) -> HistoryItem:
    """An order as the history lists it: what it charges, and what was paid, which is nothing
    until it completes."""
    return HistoryItem(
        **_order_fields(row),
        pack_name=row.pack_name,
        amount_paid_cents=row.amount_cents if row.status == "completed" else 0,
        amount_due_cents=row.amount_cents,
        channel=row.channel,
    )


def _mine(caller: Caller, status: str | None) -> list[ColumnElement[bool]]:
    found = [_O.c.merchant_id == caller.merchant_id, _O.c.env == caller.env]
    if status is not None:
        found.append(_O.c.status == status)
    return found


async def history(db: Database, caller: Caller, page: int, status: str | None = None) -> Outcome:
    """One page (20, newest first) of the caller's orders and redemptions (of one status, when
    named); ``meta`` is the ``PageMeta`` with the total."""
    mine = _mine(caller, status)
    async with db.read() as conn:
        total = int((await conn.execute(select(func.count()).where(*mine))).scalar_one())
        rows = await conn.execute(
            select(_O)
            .where(*mine)
            .order_by(_O.c.id.desc())
            .limit(HISTORY_PAGE_SIZE)
            .offset((page - 1) * HISTORY_PAGE_SIZE)
        )
        items = [_history_item(r) for r in rows]
    meta = PageMeta(current_page=page, per_page=HISTORY_PAGE_SIZE, total=total)
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())


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


def orders_select() -> Select[Any]:
    """Orders with their coupon's code: what ``order_data`` reads."""
    return select(_O, _C.c.code.label("coupon_code")).outerjoin(_C, _C.c.id == _O.c.coupon_id)


def order_data(row: Any) -> OrderData:
    return OrderData(
        **_order_fields(row),
        env=row.env,
        channel=row.channel,
        provider_reference=row.provider_session_id,
        provider_payment_id=row.provider_payment_id,
        provider_status=row.provider_status,
        name=row.pack_name,
        price_cents=row.price_cents,
        tier_percent=row.tier_percent,
        tier_discount_cents=row.tier_discount_cents,
        coupon=row.coupon_code,
        amount_cents=row.amount_cents,
        updated_at=rfc3339(row.updated_at),
        checked_at=rfc3339_or_none(row.checked_at),
        invoice_url=row.checkout_url if row.kind == "invoice" else None,
        charge_minor=row.charge_minor,
        charge_currency=row.charge_currency,
        charge_rate=row.charge_rate,
    )


async def list_orders(
    db: Database, caller: Caller, *, limit: int, offset: int, status: str | None
) -> Outcome:
    """The caller's orders in its env (of one status, when named), newest first; ``meta`` is
    the ``OffsetMeta`` with how many."""
    mine = _mine(caller, status)
    async with db.read() as conn:
        total = int((await conn.execute(select(func.count()).where(*mine))).scalar_one())
        rows = await conn.execute(
            orders_select().where(*mine).order_by(_O.c.id.desc()).limit(limit).offset(offset)
        )
        items = [order_data(r) for r in rows]
    meta = OffsetMeta.of(limit, offset, len(items), total)
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())


async def get_order(db: Database, caller: Caller, order_id: str) -> Outcome:
    """One of the caller's orders in its env; another merchant's, or the other env's, is not
    found."""
    async with db.read() as conn:
        row = (
            await conn.execute(orders_select().where(_O.c.id == order_id, *_mine(caller, None)))
        ).first()
    if row is None:
        raise ApiError(Code.ORDER_NOT_FOUND)
    return Outcome(Code.SUCCESS, order_data(row), status=row.status)


RECEIPT_PAGE = "/dashboard/wallet/orders/{order_id}/receipt"
RECEIPT_PDF = "/api/public/v1/orders/{order_id}/receipt.pdf"


def receipt_fields(
    settings: Settings, row: Any, *, unnumbered: str, page: str, pdf: str
) -> dict[str, Any]:
    """What every receipt takes alike, whatever was paid, from ``row``: its ``env``,
    ``merchant_id``, ``merchant_name``, and its receipt's ``receipt_seq`` and profile columns
    (all null when it has none, and then its number is ``unnumbered``); ``page`` and ``pdf``:
    the paths of its page and its PDF."""
    numbered = row.receipt_seq is not None
    base = public_base(settings)
    return {
        "receipt_number": (
            receipts.number_text(row.env, row.receipt_seq) if numbered else unnumbered
        ),
        "numbered": numbered,
        "env": row.env,
        "merchant_id": row.merchant_id,
        "merchant_name": row.merchant_name,
        "billed_to": profile_of(row) if numbered else None,
        "html_url": base + page,
        "pdf_url": base + pdf,
    }


def receipt_columns() -> list[ColumnElement[Any]]:
    """The columns ``receipt_fields`` reads of a receipt (``_R``, outer-joined) and its
    merchant (``_M``)."""
    return [
        _M.c.name.label("merchant_name"),
        _R.c.number.label("receipt_seq"),
        *(_R.c[column] for column in receipts.PROFILE_COLUMNS),
    ]


async def receipt_data(
    db: Database, settings: Settings, caller: Caller, order_id: str
) -> ReceiptData:
    """The receipt of one of the caller's paid orders; a pending, failed or expired one has
    none (``RECEIPT_NOT_AVAILABLE``); another merchant's, or the other env's, is not found.
    Its number and billing profile are the ones taken when it was paid (``receipts``); an
    order paid before numbering began, or a redemption, keeps its order id as its number."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                orders_select()
                .add_columns(*receipt_columns())
                .join(_M, _M.c.id == _O.c.merchant_id)
                .outerjoin(_R, _R.c.reference == _O.c.id)
                .where(_O.c.id == order_id, *_mine(caller, None))
            )
        ).first()
    if row is None:
        raise ApiError(Code.ORDER_NOT_FOUND)
    if row.status != "completed" or row.completed_at is None:
        raise ApiError(Code.RECEIPT_NOT_AVAILABLE, status=row.status)
    common = receipt_fields(
        settings,
        row,
        unnumbered=row.id,
        page=RECEIPT_PAGE.format(order_id=row.id),
        pdf=RECEIPT_PDF.format(order_id=row.id),
    )
    return ReceiptData(
        **common,
        source="order",
        order_id=row.id,
        subscription_id=None,
        invoice_id=None,
        period_start=None,
        period_end=None,
        item=row.pack_name or "Redemption code",
        credits=row.credits,
        credit_cents=row.credit_cents,
        price_cents=row.price_cents,
        tier_percent=row.tier_percent,
        tier_discount_cents=row.tier_discount_cents,
        coupon=row.coupon_code,
        coupon_discount_cents=row.discount_cents,
        amount_paid_cents=row.amount_cents,
        currency=row.currency,
        provider=row.provider,
        payment_reference=row.provider_payment_id or row.provider_session_id,
        paid_at=rfc3339(row.completed_at),
    )


async def receipt(db: Database, settings: Settings, caller: Caller, order_id: str) -> Outcome:
    """``receipt_data`` as the envelope's data."""
    found = await receipt_data(db, settings, caller, order_id)
    return Outcome(Code.SUCCESS, found, status="completed")


async def receipt_file(settings: Settings, found: ReceiptData) -> ReceiptFile:
    """Any receipt as a PDF (``receipt_pdf.render_pdf``), drawn off the event loop."""
    pdf = await asyncio.to_thread(render_pdf, found, public_base(settings))
    return ReceiptFile(f"receipt-{found.receipt_number}.pdf", pdf)


async def receipt_pdf(
    db: Database, settings: Settings, caller: Caller, order_id: str
) -> ReceiptFile:
    """An order's receipt as a PDF."""
    return await receipt_file(settings, await receipt_data(db, settings, caller, order_id))
