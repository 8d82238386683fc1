"""Routes of a subscription's paid periods: the list, and each period's receipt (JSON and PDF),
the same receipt an order has."""

from starlette.requests import Request
from starlette.responses import Response

from ..auth import require_caller
from ..billing.schemas import ReceiptData
from ..billing.subscriptions import invoices as subscription_invoices
from ..billing.subscriptions.schemas import SubscriptionInvoiceData, SubscriptionInvoicesQuery
from ..ops.routing import KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.code_names import Code
from ..values.outcome import ApiError
from ..values.parsing import read_query
from .answer import answer
from .orders import receipt_pdf_reply

__all__ = ["routes"]


def _invoice_id(request: Request) -> str:
    """The path's invoice id, refused as not found unless it has an invoice id's shape."""
    invoice_id: str = request.path_params["invoice_id"]
    if not subscription_invoices.INVOICE_ID.fullmatch(invoice_id):
        raise ApiError(Code.SUBSCRIPTION_INVOICE_NOT_FOUND)
    return invoice_id


async def list_invoices(request: Request) -> Response:
    caller = require_caller(request, "billing")
    query = read_query(request, SubscriptionInvoicesQuery)
    svc = services(request)
    operation = subscription_invoices.list_invoices(
        svc.db, svc.settings, caller, limit=query.limit, offset=query.offset
    )
    return await answer(request, operation)


async def invoice_receipt(request: Request) -> Response:
    caller = require_caller(request, "billing")
    invoice_id = _invoice_id(request)
    svc = services(request)
    operation = subscription_invoices.period_receipt(svc.db, svc.settings, caller, invoice_id)
    return await answer(request, operation)


async def invoice_receipt_pdf(request: Request) -> Response:
    caller = require_caller(request, "billing")
    invoice_id = _invoice_id(request)
    svc = services(request)
    return await receipt_pdf_reply(
        request,
        caller,
        lambda: subscription_invoices.period_receipt_pdf(svc.db, svc.settings, caller, invoice_id),
    )


_INVOICE_ERRORS = (*KEY_ERRORS, Code.SUBSCRIPTION_INVOICE_NOT_FOUND)

routes = [
    ApiRoute(
        "/subscription/invoices",
        list_invoices,
        methods=["GET"],
        doc=RouteDoc(
            "The periods of the merchant's subscriptions in the key's environment, newest "
            "first, paid or failed (until the same invoice is paid): the invoice, plan, "
            "interval, period, amount, credit, status and receipt number",
            "billing",
            query=SubscriptionInvoicesQuery,
            response=SubscriptionInvoiceData,
            many=True,
            errors=(*KEY_ERRORS, Code.INVALID_QUERY),
        ),
    ),
    ApiRoute(
        "/subscription/invoices/{invoice_id}/receipt",
        invoice_receipt,
        methods=["GET"],
        doc=RouteDoc(
            "The receipt of a paid period (source subscription_period): its number in the "
            "environment's gap-free series, the billing profile as it was when paid, the plan "
            "and period, amount paid, credit, links to its page and PDF; the same shape as an "
            "order's receipt",
            "billing",
            response=ReceiptData,
            errors=_INVOICE_ERRORS,
        ),
    ),
    ApiRoute(
        "/subscription/invoices/{invoice_id}/receipt.pdf",
        invoice_receipt_pdf,
        methods=["GET"],
        doc=RouteDoc(
            "The receipt of a paid period as a PDF (application/pdf), drawn as an order's: "
            "what GET /subscription/invoices/{id}/receipt says, on one A4 page; at most "
            "AITOPUP_RECEIPT_PDFS_PER_MINUTE (30) receipt PDFs a merchant and environment, "
            "orders' and periods' together",
            "billing",
            errors=(*_INVOICE_ERRORS, Code.RECEIPT_PDFS_RATE_LIMITED),
        ),
    ),
]
