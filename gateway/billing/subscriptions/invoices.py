"""A subscription's periods as the merchant reads them (paid, or failed until their invoice is
paid), and each paid period's receipt.

A paid period is a row of ``subscription_invoices`` (written once by
``subscriptions.credit_period``, which numbers it in the environment's receipt series in the same
transaction); a failed one is a row of ``subscription_failures``
(``subscriptions.record_failure``), listed only while its invoice has no paid row. A paid period's
receipt is the same ``ReceiptData`` an order's is (``receipts.reads.receipt_fields``), drawn by the
same page and PDF: an order and a period are two sources of one receipt. A paid period's start is
not kept: it is the end of the subscription's period paid before it, or, for the first, when it was
paid (a subscription starts when its first period is paid).
"""

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, literal_column, select, union_all

from ...callers import Caller
from ...store.engine import Database
from ...store.models import (
    Merchant,
    Plan,
    Receipt,
    Subscription,
    SubscriptionFailure,
    SubscriptionInvoice,
    table_of,
)
from ...values.clock import rfc3339, rfc3339_or_none
from ...values.code_names import Code
from ...values.outcome import ApiError, OffsetMeta, Outcome
from ...values.public_base import public_base
from ...values.settings import Settings
from .. import receipts
from ..receipts.pdf import ReceiptFile
from ..receipts.reads import receipt_columns, receipt_fields, receipt_file
from ..schemas import ReceiptData
from .schemas import SubscriptionInvoiceData

__all__ = [
    "INVOICE_ID",
    "PERIOD_RECEIPT_PAGE",
    "PERIOD_RECEIPT_PDF",
    "list_invoices",
    "period_receipt",
    "period_receipt_data",
    "period_receipt_pdf",
]

_SI = table_of(SubscriptionInvoice)
_SF = table_of(SubscriptionFailure)
_S = table_of(Subscription)
_PL = table_of(Plan)
_R = table_of(Receipt)
_M = table_of(Merchant)

# A provider's invoice id as a path names it (Stripe's in_…, the sandbox's sbx_sub_…_n).
INVOICE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
PERIOD_RECEIPT_PAGE = "/dashboard/wallet/subscription/invoices/{invoice_id}/receipt"
PERIOD_RECEIPT_PDF = "/api/public/v1/subscription/invoices/{invoice_id}/receipt.pdf"
PERIOD_RECEIPT_JSON = "/api/public/v1/subscription/invoices/{invoice_id}/receipt"


def _period_start() -> ColumnElement[Any]:
    """The end of the subscription's period paid before this one; null for its first."""
    before = _SI.alias("before")
    return (
        select(func.max(before.c.period_end))
        .where(
            before.c.subscription_id == _SI.c.subscription_id,
            before.c.period_end < _SI.c.period_end,
        )
        .scalar_subquery()
        .label("period_start")
    )


def _periods(caller: Caller) -> Select[Any]:
    """The caller's paid periods in its env, with their plan, interval and start."""
    return (
        select(
            _SI,
            _S.c.interval,
            _S.c.provider,
            _PL.c.name.label("plan_name"),
            _period_start(),
        )
        .join(_S, _S.c.id == _SI.c.subscription_id)
        .outerjoin(_PL, _PL.c.id == _SI.c.plan_id)
        .where(_SI.c.merchant_id == caller.merchant_id, _SI.c.env == caller.env)
    )


def _start(row: Any) -> str:
    return rfc3339(row.period_start if row.period_start is not None else row.paid_at)


def _listed(caller: Caller) -> Any:
    """The caller's periods in its env, paid and failed (a failed invoice paid since is its
    paid row alone), as one set of columns."""
    paid = select(
        _SI.c.invoice_id,
        _SI.c.subscription_id,
        _SI.c.env,
        _SI.c.plan_id,
        _SI.c.amount_paid_cents.label("amount_cents"),
        _SI.c.currency,
        _SI.c.credit_cents,
        _period_start(),
        _SI.c.period_end,
        _SI.c.paid_at.label("at"),
        literal_column("'paid'").label("status"),
    ).where(_SI.c.merchant_id == caller.merchant_id, _SI.c.env == caller.env)
    failed = select(
        _SF.c.invoice_id,
        _SF.c.subscription_id,
        _SF.c.env,
        _SF.c.plan_id,
        _SF.c.amount_due_cents.label("amount_cents"),
        _SF.c.currency,
        literal_column("0").label("credit_cents"),
        _SF.c.period_start,
        _SF.c.period_end,
        _SF.c.failed_at.label("at"),
        literal_column("'failed'").label("status"),
    ).where(
        _SF.c.merchant_id == caller.merchant_id,
        _SF.c.env == caller.env,
        ~exists().where(_SI.c.invoice_id == _SF.c.invoice_id),
    )
    return union_all(paid, failed).subquery("periods")


def _invoice_data(base: str, row: Any, number: int | None) -> SubscriptionInvoiceData:
    paid = row.status == "paid"
    start = row.period_start if row.period_start is not None else row.at
    return SubscriptionInvoiceData(
        id=row.invoice_id,
        subscription_id=row.subscription_id,
        plan_id=row.plan_id,
        plan=row.plan_name,
        interval=row.interval,
        period_start=rfc3339(start),
        period_end=rfc3339_or_none(row.period_end),
        amount_cents=row.amount_cents,
        currency=row.currency,
        credit_cents=row.credit_cents,
        status="paid" if paid else "failed",
        receipt_number=None if number is None else receipts.number_text(row.env, number),
        paid_at=rfc3339(row.at) if paid else None,
        failed_at=None if paid else rfc3339(row.at),
        receipt_url=base + PERIOD_RECEIPT_JSON.format(invoice_id=row.invoice_id) if paid else None,
        receipt_pdf_url=(
            base + PERIOD_RECEIPT_PDF.format(invoice_id=row.invoice_id) if paid else None
        ),
    )


async def list_invoices(
    db: Database, settings: Settings, caller: Caller, *, limit: int, offset: int
) -> Outcome:
    """The caller's periods in its env, paid and failed, newest first; ``meta`` is the
    ``OffsetMeta``."""
    periods = _listed(caller)
    async with db.read() as conn:
        total = int((await conn.execute(select(func.count()).select_from(periods))).scalar_one())
        rows = (
            await conn.execute(
                select(periods, _S.c.interval, _PL.c.name.label("plan_name"))
                .join(_S, _S.c.id == periods.c.subscription_id)
                .outerjoin(_PL, _PL.c.id == periods.c.plan_id)
                .order_by(periods.c.at.desc(), periods.c.invoice_id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
        # The paid ones' receipts by reference: an id past the reference's width is kept by
        # digest.
        references = {
            receipts.reference_of(r.invoice_id): r.invoice_id for r in rows if r.status == "paid"
        }
        numbers = {
            references[found.reference]: int(found.number)
            for found in await conn.execute(
                select(_R.c.reference, _R.c.number).where(
                    _R.c.reference.in_(list(references)), _R.c.env == caller.env
                )
            )
        }
    base = public_base(settings)
    items = [_invoice_data(base, r, numbers.get(r.invoice_id)) for r in rows]
    meta = OffsetMeta.of(limit, offset, len(items), total)
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())


async def period_receipt_data(
    db: Database, settings: Settings, caller: Caller, invoice_id: str
) -> ReceiptData:
    """The receipt of one of the caller's paid periods, in its env (another merchant's, or the
    other env's, is not found): its number and the billing profile as they were taken when it
    was paid; one paid before periods were numbered keeps its invoice id as its number."""
    reference = receipts.reference_of(invoice_id)
    async with db.read() as conn:
        row = (
            await conn.execute(
                _periods(caller)
                .add_columns(*receipt_columns())
                .join(_M, _M.c.id == _SI.c.merchant_id)
                .outerjoin(_R, (_R.c.reference == reference) & (_R.c.env == _SI.c.env))
                .where(_SI.c.invoice_id == invoice_id)
            )
        ).first()
    if row is None:
        raise ApiError(Code.SUBSCRIPTION_INVOICE_NOT_FOUND)
    common = receipt_fields(
        settings,
        row,
        unnumbered=row.invoice_id,
        page=PERIOD_RECEIPT_PAGE.format(invoice_id=row.invoice_id),
        pdf=PERIOD_RECEIPT_PDF.format(invoice_id=row.invoice_id),
    )
    plan = row.plan_name or row.plan_id
    return ReceiptData(
        **common,
        source="subscription_period",
        order_id=None,
        subscription_id=row.subscription_id,
        invoice_id=row.invoice_id,
        period_start=_start(row),
        period_end=rfc3339_or_none(row.period_end),
        item=f"{plan} plan, billed {row.interval}ly",
        credits=row.credit_cents * 10,
        credit_cents=row.credit_cents,
        price_cents=row.amount_paid_cents,
        tier_percent=0,
        tier_discount_cents=0,
        coupon=None,
        coupon_discount_cents=0,
        amount_paid_cents=row.amount_paid_cents,
        currency=row.currency,
        provider=row.provider,
        payment_reference=row.invoice_id,
        paid_at=rfc3339(row.paid_at),
    )


async def period_receipt(
    db: Database, settings: Settings, caller: Caller, invoice_id: str
) -> Outcome:
    """``period_receipt_data`` as the envelope's data."""
    found = await period_receipt_data(db, settings, caller, invoice_id)
    return Outcome(Code.SUCCESS, found, status="paid")


async def period_receipt_pdf(
    db: Database, settings: Settings, caller: Caller, invoice_id: str
) -> ReceiptFile:
    """A period's receipt as a PDF, drawn as an order's is (``service.receipt_file``)."""
    found = await period_receipt_data(db, settings, caller, invoice_id)
    return await receipt_file(settings, found)
