"""Routes of funding orders: the list, one order, and "check payment" (a look at Stripe)."""

import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from .. import merchant_limits
from ..auth import require_caller
from ..billing import orders
from ..billing.receipts import reads as receipts
from ..billing.receipts.pdf import ReceiptFile
from ..billing.schemas import OrderData, OrdersQuery, ReceiptData
from ..billing.settling import reconcile
from ..callers import Caller
from ..ops.routing import KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.code_names import Code
from ..values.outcome import ApiError
from ..values.parsing import read_query
from .answer import answer

__all__ = ["ORDER_ID", "order_id_of", "receipt_pdf_reply", "routes"]

ORDER_ID = re.compile(r"ord_[0-9a-z]{24}")


def order_id_of(request: Request) -> str:
    """The path's order id, refused as not found unless it has an order id's shape."""
    order_id: str = request.path_params["order_id"]
    if not ORDER_ID.fullmatch(order_id):
        raise ApiError(Code.ORDER_NOT_FOUND)
    return order_id


async def list_orders(request: Request) -> Response:
    caller = require_caller(request, "billing")
    query = read_query(request, OrdersQuery)
    operation = orders.list_orders(
        services(request).db, caller, limit=query.limit, offset=query.offset, status=query.status
    )
    return await answer(request, operation)


async def get_order(request: Request) -> Response:
    caller = require_caller(request, "billing")
    order_id = order_id_of(request)
    return await answer(request, orders.get_order(services(request).db, caller, order_id))


async def check_order(request: Request) -> Response:
    caller = require_caller(request, "billing")
    svc = services(request)
    order_id = order_id_of(request)
    # Every check counts, whatever it finds: each may be a look-up at Stripe.
    decision = await merchant_limits.PAYMENT_CALLS.count(svc, caller.merchant_id, caller.env)
    operation = reconcile.check_payment(
        svc.db, svc.settings, order_id, merchant_id=caller.merchant_id, env=caller.env
    )
    return await answer(request, operation, headers=decision.headers())


async def order_receipt(request: Request) -> Response:
    caller = require_caller(request, "billing")
    order_id = order_id_of(request)
    svc = services(request)
    return await answer(request, receipts.receipt(svc.db, svc.settings, caller, order_id))


async def receipt_pdf_reply(
    request: Request, caller: Caller, draw: Callable[[], Awaitable[ReceiptFile]]
) -> Response:
    """A receipt's PDF, an order's or a period's: counted first, so a refused one draws
    nothing, within one limit for both."""
    svc = services(request)
    counted = await merchant_limits.RECEIPT_PDFS.count(svc, caller.merchant_id, caller.env)
    found = await draw()
    headers = {**found.headers(), **counted.headers()}
    return Response(found.content, media_type=found.media_type, headers=headers)


async def order_receipt_pdf(request: Request) -> Response:
    caller = require_caller(request, "billing")
    order_id = order_id_of(request)
    svc = services(request)
    return await receipt_pdf_reply(
        request, caller, lambda: receipts.receipt_pdf(svc.db, svc.settings, caller, order_id)
    )


_ORDER_ERRORS = (*KEY_ERRORS, Code.ORDER_NOT_FOUND)

routes = [
    ApiRoute(
        "/orders",
        list_orders,
        methods=["GET"],
        doc=RouteDoc(
            "Funding orders (checkouts, invoices, redemptions), newest first; ?status= filters",
            "billing",
            query=OrdersQuery,
            response=OrderData,
            many=True,
            errors=(*KEY_ERRORS, Code.INVALID_QUERY),
        ),
    ),
    ApiRoute(
        "/orders/{order_id}",
        get_order,
        methods=["GET"],
        doc=RouteDoc(
            "One funding order: pack or amount, price, discounts, coupon, provider and its "
            "reference, status and its times",
            "billing",
            response=OrderData,
            errors=_ORDER_ERRORS,
        ),
    ),
    ApiRoute(
        "/orders/{order_id}/check",
        check_order,
        methods=["POST"],
        doc=RouteDoc(
            "Check payment: a pending Stripe order is looked up at Stripe and settled by its "
            "answer (credited once, whoever gets there first); data.order is the order after",
            "billing",
            success=Code.PAYMENT_CHECKED,
            errors=(
                *_ORDER_ERRORS,
                Code.PAYMENTS_NOT_CONFIGURED,
                Code.PAYMENT_CHANNEL_NOT_CONFIGURED,
                Code.PAYMENT_CHANNEL_NOT_CONFIGURED,
                Code.PAYMENT_PROVIDER_ERROR,
                Code.PAYMENT_PROVIDER_TIMEOUT,
                Code.PAYMENT_CALLS_RATE_LIMITED,
            ),
        ),
    ),
    ApiRoute(
        "/orders/{order_id}/receipt",
        order_receipt,
        methods=["GET"],
        doc=RouteDoc(
            "The receipt of a paid order: its number in the environment's gap-free series, "
            "the billing profile as it was when paid, item, price, tier and coupon discounts, "
            "amount paid, payment reference, links to its page and PDF; 409 while the order "
            "is not paid",
            "billing",
            response=ReceiptData,
            errors=(*_ORDER_ERRORS, Code.RECEIPT_NOT_AVAILABLE),
        ),
    ),
    ApiRoute(
        "/orders/{order_id}/receipt.pdf",
        order_receipt_pdf,
        methods=["GET"],
        doc=RouteDoc(
            "The receipt of a paid order as a PDF (application/pdf): what GET "
            "/orders/{id}/receipt says, on one A4 page; 409 while the order is not paid; at "
            "most AITOPUP_RECEIPT_PDFS_PER_MINUTE (30) a merchant and environment",
            "billing",
            errors=(*_ORDER_ERRORS, Code.RECEIPT_NOT_AVAILABLE, Code.RECEIPT_PDFS_RATE_LIMITED),
        ),
    ),
]
