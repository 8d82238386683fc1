"""A receipt's reads: an order's receipt as its page and its PDF show it (``receipt``,
``receipt_pdf``), and what every receipt takes alike, whatever was paid (``receipt_fields``,
``receipt_columns``, ``receipt_file``), which a subscription's period's receipt shares."""

import asyncio
from typing import Any

from sqlalchemy import ColumnElement

from ...callers import Caller
from ...store.engine import Database
from ...store.models import FundingOrder, Merchant, Receipt, table_of
from ...values.clock import rfc3339
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from ...values.public_base import public_base
from ...values.settings import Settings
from .. import receipts
from ..orders.reads import mine, orders_select
from ..schemas import ReceiptData
from .pdf import ReceiptFile, render_pdf
from .profile import profile_of

__all__ = [
    "RECEIPT_PAGE",
    "RECEIPT_PDF",
    "receipt",
    "receipt_columns",
    "receipt_data",
    "receipt_fields",
    "receipt_file",
    "receipt_pdf",
]

_M = table_of(Merchant)
_O = table_of(FundingOrder)
_R = table_of(Receipt)


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
                .where(_O.c.id == order_id, *mine(caller, None))
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
