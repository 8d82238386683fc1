"""The Webhooks pages' delivery log: the list with its filters, one delivery with its attempts,
and its replay."""

import json

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import merchant_limits
from ..operations import perform
from ..services import services
from ..values.outcome import ApiError
from ..webhooks import deliveries
from ..webhooks.schemas import EVENT_TYPES, DeliveriesQuery, DeliveryData, DeliveryDetail
from .context import Viewer, require_viewer
from .csrf import form
from .inputs import problem
from .paths import path_for
from .render import page
from .webhooks import has_more, listed_endpoints, notice, reraise_missing, with_headers

__all__ = ["routes"]

_LOG_PAGE = 20
_STATUSES = ("pending", "succeeded", "failed")


def _log_query(request: Request) -> tuple[dict[str, str], DeliveriesQuery | None, str]:
    """The filters as typed, the query they make (None if refused), and the refusal."""
    names = ("endpoint_id", "event_type", "status", "cursor")
    typed = {n: request.query_params.get(n, "")[:100] for n in names}
    try:
        query = DeliveriesQuery.model_validate(
            {"limit": _LOG_PAGE, **{n: v for n, v in typed.items() if v}}
        )
    except ValidationError as exc:
        return typed, None, problem(exc)[1]
    return typed, query, ""


async def delivery_log(request: Request) -> Response:
    viewer = await require_viewer(request)
    svc = services(request)
    typed, query, error = _log_query(request)
    items: list[DeliveryData] = []
    more = False
    if query is not None:
        listed = await perform(svc.waker, deliveries.list_deliveries(svc.db, viewer.caller, query))
        items, more = listed.many(DeliveryData), has_more(listed)
    found = await listed_endpoints(svc, viewer)
    context = {
        "items": items,
        "next_cursor": items[-1].id if more and items else None,
        "filters": typed,
        "error": error,
        "endpoints": found,
        "event_types": EVENT_TYPES,
        "statuses": _STATUSES,
    }
    return page(request, "webhooks/deliveries.html", context, status=422 if error else 200)


def _laid_out(payload: str) -> str:
    """The event body indented for reading; as stored if it is not JSON."""
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except ValueError:
        return payload


async def _delivery_page(
    request: Request, viewer: Viewer, delivery_id: str, *, status: int = 200, error: str = ""
) -> Response:
    svc = services(request)
    found = (
        await perform(svc.waker, deliveries.get_delivery(svc.db, viewer.caller, delivery_id))
    ).one(DeliveryDetail)
    context = {
        "delivery": found,
        "payload": _laid_out(found.payload),
        "error": error,
        "notice": notice(request),
    }
    return page(request, "webhooks/delivery.html", context, status=status)


async def delivery_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    return await _delivery_page(request, viewer, request.path_params["delivery_id"])


async def replay(request: Request) -> Response:
    viewer = await require_viewer(request)
    await form(request)
    delivery_id: str = request.path_params["delivery_id"]
    svc = services(request)
    # theirs, or 404
    await perform(svc.waker, deliveries.get_delivery(svc.db, viewer.caller, delivery_id))
    try:
        await merchant_limits.WEBHOOK_REPLAY.count(svc, viewer.merchant_id)
        await perform(
            svc.waker,
            deliveries.replay_delivery(svc.db, svc.settings, viewer.caller, delivery_id),
        )
    except ApiError as exc:
        reraise_missing(exc)
        status, message = problem(exc)
        response = await _delivery_page(request, viewer, delivery_id, status=status, error=message)
        return with_headers(response, exc)
    return RedirectResponse(
        path_for("delivery_page", delivery_id=delivery_id) + "?notice=replayed", 303
    )


_DLV = "/webhooks/deliveries/{delivery_id}"

routes: list[BaseRoute] = [
    Route("/webhooks/deliveries", delivery_log, methods=["GET"]),
    Route(_DLV, delivery_page, methods=["GET"]),
    Route(_DLV + "/replay", replay, methods=["POST"]),
]
