"""The admin routes of money in by other ways than a checkout, and of orders paid: redemption
codes, orders whose state differs at the provider, a check of one, a refund."""

from starlette.requests import Request
from starlette.responses import Response

from ...admin import redemption_codes, refunds
from ...admin.audit import Call
from ...admin.schemas import CodeBatchData, CodeBatchRequest, CodeItem, CodeQuery
from ...billing.schemas import OffsetQuery, OrderData, RefundData, RefundRequest
from ...billing.settling import reconcile
from ...operations import perform
from ...services import services
from ...values.code_names import Code
from ...values.envelope import Envelope
from ...values.parsing import read_json, read_query
from ..answer import answer
from .door import path_id, route

__all__ = ["routes"]


async def create_codes(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, CodeBatchRequest, limit=svc.settings.max_body_bytes)
    made = await perform(svc.waker, redemption_codes.create_codes(svc.db, svc.settings, call, body))
    if "text/csv" in request.headers.get("accept", ""):
        data = made.one(CodeBatchData)
        # The batch as a file, now: its codes are never shown again.
        return Response(
            redemption_codes.batch_csv(data),
            status_code=201,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{data.batch_id}.csv"'},
        )
    return Envelope.of(made)


async def void_code(request: Request, call: Call) -> Response:
    return await answer(
        request, redemption_codes.void_code(services(request).db, call, path_id(request))
    )


async def list_codes(request: Request, call: Call) -> Response:
    query = read_query(request, CodeQuery)
    return await answer(request, redemption_codes.list_codes(services(request).db, query))


async def list_mismatched(request: Request, call: Call) -> Response:
    query = read_query(request, OffsetQuery)
    operation = reconcile.mismatched(services(request).db, limit=query.limit, offset=query.offset)
    return await answer(request, operation)


async def check_order(request: Request, call: Call) -> Response:
    svc = services(request)
    operation = reconcile.check_payment(svc.db, svc.settings, path_id(request), pending_only=False)
    return await answer(request, operation)


async def refund_order(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, RefundRequest, limit=svc.settings.max_body_bytes)
    operation = refunds.refund_order(svc.db, svc.settings, call, path_id(request), body)
    return await answer(request, operation)


routes = [
    route(
        "/redemption-codes",
        create_codes,
        "POST",
        "redemption_codes.create",
        "Mint a batch of redemption codes; the codes are in this reply only (as CSV with "
        "Accept: text/csv)",
        body=CodeBatchRequest,
        response=CodeBatchData,
        success=Code.CREATED,
        secret=True,
    ),
    route(
        "/redemption-codes",
        list_codes,
        "GET",
        "redemption_codes.list",
        "List redemption codes (never the codes themselves)",
        query=CodeQuery,
        response=CodeItem,
        many=True,
    ),
    route(
        "/orders/mismatched",
        list_mismatched,
        "GET",
        "orders.mismatched",
        "Orders whose state at Stripe and here differ (Stripe paid and not credited here, or "
        "credited here and not paid there), newest first",
        query=OffsetQuery,
        response=OrderData,
        many=True,
    ),
    route(
        "/orders/{id}/check",
        check_order,
        "POST",
        "orders.check",
        "Check payment: look the order up at Stripe (settled ones too) and settle it by the "
        "answer; credited once whoever gets there first",
        success=Code.PAYMENT_CHECKED,
        errors=(
            Code.ORDER_NOT_FOUND,
            Code.PAYMENTS_NOT_CONFIGURED,
            Code.PAYMENT_CHANNEL_NOT_CONFIGURED,
            Code.PAYMENT_PROVIDER_ERROR,
            Code.PAYMENT_PROVIDER_TIMEOUT,
        ),
    ),
    route(
        "/orders/{id}/refund",
        refund_order,
        "POST",
        "orders.refund",
        "Refund a paid order through its channel, in whole (amount_cents unset) or in part "
        "where the channel refunds parts (not Creem): the wallet gives back the credits the "
        "part bought, in the same transaction; never more than was paid in all",
        body=RefundRequest,
        response=RefundData,
        errors=(
            Code.ORDER_NOT_FOUND,
            Code.ORDER_NOT_REFUNDABLE,
            Code.REFUND_NOT_SUPPORTED,
            Code.REFUND_EXCEEDS_PAID,
            Code.REFUND_BALANCE_SHORT,
            Code.REFUND_ONLY_IN_FULL,
            Code.PAYMENT_CHANNEL_NOT_CONFIGURED,
            Code.PAYMENT_PROVIDER_ERROR,
            Code.PAYMENT_PROVIDER_TIMEOUT,
        ),
    ),
    route(
        "/redemption-codes/{id}/void",
        void_code,
        "POST",
        "redemption_codes.void",
        "Void an unused redemption code: it can no longer be redeemed",
        response=CodeItem,
        errors=(
            Code.REDEMPTION_CODE_NOT_FOUND,
            Code.REDEMPTION_CODE_USED,
            Code.REDEMPTION_CODE_VOIDED,
        ),
    ),
]
