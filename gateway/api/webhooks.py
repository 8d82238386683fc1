"""Routes of the webhooks domain: endpoints, the delivery log, replays and test events."""

import re

from starlette.requests import Request
from starlette.responses import Response

from .. import merchant_limits
from ..auth import require_caller
from ..ops.routing import BODY_ERRORS, CURSOR_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.code_names import Code
from ..values.envelope import Envelope
from ..values.outcome import ApiError
from ..values.parsing import check_cursor, read_json, read_query
from ..webhooks import deliveries, endpoints, event_docs, replays, stats
from ..webhooks.schemas import (
    DeliveriesQuery,
    DeliveryData,
    DeliveryDetail,
    EndpointCreate,
    EndpointData,
    EndpointSecretData,
    EndpointsQuery,
    EndpointStatsData,
    EndpointUpdate,
    ReplayFailedData,
    ReplayFailedRequest,
    ReplayJobCreate,
    ReplayJobData,
    RotateRequest,
    StatsQuery,
    TestData,
)
from .answer import answer

__all__ = ["routes"]

_ENDPOINT_ID = re.compile(r"we_[0-9A-Za-z]{24}")
_DELIVERY_ID = re.compile(r"dlv_[0-9A-Za-z]{24}we_[0-9A-Za-z]{24}")
_JOB_ID = re.compile(r"wrj_[0-9A-Za-z]{24}")
_AUTH = KEY_ERRORS
_BODY = BODY_ERRORS


def _endpoint_id(request: Request) -> str:
    endpoint_id: str = request.path_params["endpoint_id"]
    if not _ENDPOINT_ID.fullmatch(endpoint_id):
        raise ApiError(Code.WEBHOOK_ENDPOINT_NOT_FOUND)
    return endpoint_id


def _delivery_id(request: Request) -> str:
    delivery_id: str = request.path_params["delivery_id"]
    if not _DELIVERY_ID.fullmatch(delivery_id):
        raise ApiError(Code.WEBHOOK_DELIVERY_NOT_FOUND)
    return delivery_id


async def _optional_body(request: Request, model: type[RotateRequest]) -> RotateRequest:
    """A body that may be left out entirely: no bytes and no Content-Type means the defaults."""
    if "content-type" not in request.headers and request.headers.get("content-length") in (
        None,
        "0",
    ):
        return model()
    body, _ = await read_json(request, model, limit=services(request).settings.max_body_bytes)
    return body


async def list_event_types(request: Request) -> Response:
    require_caller(request, "webhooks")
    entries = event_docs.event_type_entries()
    return Envelope(Code.SUCCESS, [e.model_dump(by_alias=True) for e in entries])


async def create_endpoint(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    svc = services(request)
    body, _ = await read_json(request, EndpointCreate, limit=svc.settings.max_body_bytes)
    return await answer(
        request, endpoints.create_endpoint(svc.db, svc.sealer, svc.settings, caller, body)
    )


async def list_endpoints(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    query = read_query(request, EndpointsQuery)
    check_cursor(query.cursor, _ENDPOINT_ID)
    operation = endpoints.list_endpoints(
        services(request).db, caller, limit=query.limit, cursor=query.cursor
    )
    return await answer(request, operation)


async def get_endpoint(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    endpoint_id = _endpoint_id(request)
    return await answer(request, endpoints.get_endpoint(services(request).db, caller, endpoint_id))


async def endpoint_stats(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    endpoint_id = _endpoint_id(request)
    query = read_query(request, StatsQuery)
    operation = stats.endpoint_stats(
        services(request).db, caller, endpoint_id, query.since, query.until
    )
    return await answer(request, operation)


async def update_endpoint(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    svc = services(request)
    endpoint_id = _endpoint_id(request)
    body, _ = await read_json(request, EndpointUpdate, limit=svc.settings.max_body_bytes)
    operation = endpoints.update_endpoint(
        svc.db, svc.sealer, svc.settings, caller, endpoint_id, body
    )
    return await answer(request, operation)


async def delete_endpoint(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    endpoint_id = _endpoint_id(request)
    operation = endpoints.delete_endpoint(services(request).db, caller, endpoint_id)
    return await answer(request, operation)


async def rotate_secret(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    svc = services(request)
    endpoint_id = _endpoint_id(request)
    body = await _optional_body(request, RotateRequest)
    operation = endpoints.rotate_secret(
        svc.db, svc.sealer, caller, endpoint_id, body.overlap_seconds
    )
    return await answer(request, operation)


async def test_endpoint(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    svc = services(request)
    endpoint_id = _endpoint_id(request)
    decision = await merchant_limits.WEBHOOK_TEST.count(svc, caller.merchant_id)
    operation = endpoints.send_test(svc.db, svc.settings, caller, endpoint_id)
    return await answer(request, operation, headers=decision.headers())


async def replay_failed(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    svc = services(request)
    endpoint_id = _endpoint_id(request)
    body, _ = await read_json(request, ReplayFailedRequest, limit=svc.settings.max_body_bytes)
    decision = await merchant_limits.WEBHOOK_RECOVER.count(svc, caller.merchant_id)
    operation = replays.replay_failed(
        svc.db, svc.settings, caller, endpoint_id, body.since, body.until
    )
    return await answer(request, operation, headers=decision.headers())


async def create_replay_job(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    svc = services(request)
    body, _ = await read_json(request, ReplayJobCreate, limit=svc.settings.max_body_bytes)
    # A job is a recovery as far as the merchant's budget of them goes.
    decision = await merchant_limits.WEBHOOK_RECOVER.count(svc, caller.merchant_id)
    operation = replays.create_job(svc.db, svc.settings, caller, body)
    return await answer(request, operation, headers=decision.headers())


async def get_replay_job(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    job_id: str = request.path_params["job_id"]
    if not _JOB_ID.fullmatch(job_id):
        raise ApiError(Code.WEBHOOK_REPLAY_JOB_NOT_FOUND)
    return await answer(request, replays.get_job(services(request).db, caller, job_id))


async def list_deliveries(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    query = read_query(request, DeliveriesQuery)
    check_cursor(query.cursor, _DELIVERY_ID)
    return await answer(request, deliveries.list_deliveries(services(request).db, caller, query))


async def get_delivery(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    delivery_id = _delivery_id(request)
    operation = deliveries.get_delivery(services(request).db, caller, delivery_id)
    return await answer(request, operation)


async def replay_delivery(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    svc = services(request)
    delivery_id = _delivery_id(request)
    decision = await merchant_limits.WEBHOOK_REPLAY.count(svc, caller.merchant_id)
    operation = deliveries.replay_delivery(svc.db, svc.settings, caller, delivery_id)
    return await answer(request, operation, headers=decision.headers())


_NOT_FOUND = (*_AUTH, Code.WEBHOOK_ENDPOINT_NOT_FOUND)
_ENDPOINTS = "/webhooks/endpoints"
_HEADERS = (
    Code.WEBHOOK_HEADERS_TOO_MANY,
    Code.WEBHOOK_HEADER_NAME_INVALID,
    Code.WEBHOOK_HEADER_VALUE_INVALID,
    Code.WEBHOOK_HEADER_DUPLICATE,
    Code.WEBHOOK_HEADER_RESERVED_HTTP,
    Code.WEBHOOK_HEADER_RESERVED_SIGNATURE,
    Code.WEBHOOK_HEADER_RESERVED_GATEWAY,
)
_DESTINATIONS = (
    Code.WEBHOOK_DESTINATION_TYPE_UNKNOWN,
    Code.WEBHOOK_DESTINATION_INVALID,
    Code.WEBHOOK_DESTINATION_ADDRESS_REFUSED,
    Code.WEBHOOK_DESTINATION_UNREACHABLE,
)
_FILTERS = (
    Code.WEBHOOK_FILTER_INVALID,
    Code.WEBHOOK_FILTER_OPERATOR_UNKNOWN,
    Code.WEBHOOK_FILTER_TOO_DEEP,
    Code.WEBHOOK_FILTER_TOO_LARGE,
)

routes = [
    ApiRoute(
        "/webhooks/event-types",
        list_event_types,
        methods=["GET"],
        doc=RouteDoc(
            "Every event type the gateway sends: its description, JSON Schema, example and "
            "the version it appeared in",
            "webhooks",
            response=event_docs.EventTypeData,
            many=True,
            errors=_AUTH,
        ),
    ),
    ApiRoute(
        _ENDPOINTS,
        create_endpoint,
        methods=["POST"],
        doc=RouteDoc(
            "Register a webhook endpoint; the reply carries its signing secret, once",
            "webhooks",
            body=EndpointCreate,
            response=EndpointSecretData,
            success=Code.CREATED,
            errors=(
                *_AUTH,
                *_BODY,
                Code.WEBHOOK_URL_INVALID,
                Code.WEBHOOK_ENDPOINT_LIMIT_REACHED,
                *_HEADERS,
                Code.WEBHOOK_THROTTLE_INVALID,
                *_DESTINATIONS,
                *_FILTERS,
            ),
            secret=True,
        ),
    ),
    ApiRoute(
        _ENDPOINTS,
        list_endpoints,
        methods=["GET"],
        doc=RouteDoc(
            "List webhook endpoints, newest first",
            "webhooks",
            query=EndpointsQuery,
            response=EndpointData,
            many=True,
            errors=(*_AUTH, *CURSOR_ERRORS),
        ),
    ),
    ApiRoute(
        _ENDPOINTS + "/{endpoint_id}",
        get_endpoint,
        methods=["GET"],
        doc=RouteDoc(
            "Get a webhook endpoint", "webhooks", response=EndpointData, errors=_NOT_FOUND
        ),
    ),
    ApiRoute(
        _ENDPOINTS + "/{endpoint_id}",
        update_endpoint,
        methods=["PATCH"],
        doc=RouteDoc(
            "Change a webhook endpoint's URL, event types, description, enabled state, signing "
            "scheme, custom headers or throttle",
            "webhooks",
            body=EndpointUpdate,
            response=EndpointData,
            errors=(
                *_NOT_FOUND,
                *_BODY,
                Code.WEBHOOK_URL_INVALID,
                *_HEADERS,
                Code.WEBHOOK_THROTTLE_INVALID,
                *_DESTINATIONS,
                *_FILTERS,
            ),
        ),
    ),
    ApiRoute(
        _ENDPOINTS + "/{endpoint_id}",
        delete_endpoint,
        methods=["DELETE"],
        doc=RouteDoc(
            "Delete a webhook endpoint; its pending deliveries end as failed",
            "webhooks",
            response=EndpointData,
            success=Code.DELETED,
            errors=_NOT_FOUND,
        ),
    ),
    ApiRoute(
        _ENDPOINTS + "/{endpoint_id}/stats",
        endpoint_stats,
        methods=["GET"],
        doc=RouteDoc(
            "An endpoint's health over a time range (at most 28 days; by default the last day): "
            "its deliveries by state and its attempts' latency percentiles",
            "webhooks",
            query=StatsQuery,
            response=EndpointStatsData,
            errors=(
                *_NOT_FOUND,
                Code.INVALID_QUERY,
                Code.WEBHOOK_RANGE_INVALID,
                Code.WEBHOOK_STATS_SPAN_TOO_LONG,
            ),
        ),
    ),
    ApiRoute(
        _ENDPOINTS + "/{endpoint_id}/rotate-secret",
        rotate_secret,
        methods=["POST"],
        doc=RouteDoc(
            "Rotate the signing secret; the previous one keeps signing for the overlap",
            "webhooks",
            body=RotateRequest,
            response=EndpointSecretData,
            errors=(*_NOT_FOUND, *_BODY),
            secret=True,
        ),
    ),
    ApiRoute(
        _ENDPOINTS + "/{endpoint_id}/test",
        test_endpoint,
        methods=["POST"],
        doc=RouteDoc(
            "Send a webhook.test event to this endpoint",
            "webhooks",
            response=TestData,
            errors=(
                *_NOT_FOUND,
                Code.WEBHOOK_ENDPOINT_DISABLED,
                Code.WEBHOOK_TEST_RATE_LIMITED,
                Code.WEBHOOK_DESTINATION_ADDRESS_REFUSED,
                Code.SERVICE_UNAVAILABLE,
            ),
        ),
    ),
    ApiRoute(
        _ENDPOINTS + "/{endpoint_id}/replay-failed",
        replay_failed,
        methods=["POST"],
        doc=RouteDoc(
            "Replay every failed delivery of this endpoint created since a time (and before "
            "another): a replay job of its own, at most 10,000 deliveries, the first 500 at once",
            "webhooks",
            body=ReplayFailedRequest,
            response=ReplayFailedData,
            errors=(
                *_NOT_FOUND,
                *_BODY,
                Code.WEBHOOK_RANGE_INVALID,
                Code.WEBHOOK_ENDPOINT_DISABLED,
                Code.WEBHOOK_REPLAY_TOO_MANY,
                Code.WEBHOOK_DESTINATION_ADDRESS_REFUSED,
                Code.WEBHOOK_REPLAY_JOBS_BUSY,
                Code.WEBHOOK_RECOVER_RATE_LIMITED,
                Code.SERVICE_UNAVAILABLE,
            ),
        ),
    ),
    ApiRoute(
        "/webhooks/replays",
        create_replay_job,
        methods=["POST"],
        doc=RouteDoc(
            "Replay the deliveries a filter matches (endpoint, event types, status, time range) "
            "as one job, run by the worker in batches; the reply carries its count",
            "webhooks",
            body=ReplayJobCreate,
            response=ReplayJobData,
            success=Code.CREATED,
            errors=(
                *_NOT_FOUND,
                *_BODY,
                Code.WEBHOOK_ENDPOINT_DISABLED,
                Code.WEBHOOK_URL_INVALID,
                Code.WEBHOOK_RANGE_INVALID,
                Code.WEBHOOK_DESTINATION_ADDRESS_REFUSED,
                Code.WEBHOOK_REPLAY_SPAN_TOO_LONG,
                Code.WEBHOOK_REPLAY_TOO_MANY,
                Code.WEBHOOK_REPLAY_JOBS_BUSY,
                Code.WEBHOOK_RECOVER_RATE_LIMITED,
                Code.SERVICE_UNAVAILABLE,
            ),
        ),
    ),
    ApiRoute(
        "/webhooks/replays/{job_id}",
        get_replay_job,
        methods=["GET"],
        doc=RouteDoc(
            "Get a replay job: its filter, count and progress",
            "webhooks",
            response=ReplayJobData,
            errors=(*_AUTH, Code.WEBHOOK_REPLAY_JOB_NOT_FOUND),
        ),
    ),
    ApiRoute(
        "/webhooks/deliveries",
        list_deliveries,
        methods=["GET"],
        doc=RouteDoc(
            "List deliveries, newest first, by endpoint, event type, status and time",
            "webhooks",
            query=DeliveriesQuery,
            response=DeliveryData,
            many=True,
            errors=(*_AUTH, *CURSOR_ERRORS),
        ),
    ),
    ApiRoute(
        "/webhooks/deliveries/{delivery_id}",
        get_delivery,
        methods=["GET"],
        doc=RouteDoc(
            "Get a delivery with every attempt",
            "webhooks",
            response=DeliveryDetail,
            errors=(*_AUTH, Code.WEBHOOK_DELIVERY_NOT_FOUND),
        ),
    ),
    ApiRoute(
        "/webhooks/deliveries/{delivery_id}/replay",
        replay_delivery,
        methods=["POST"],
        doc=RouteDoc(
            "Send a finished delivery once more, with the same webhook-id",
            "webhooks",
            response=DeliveryData,
            errors=(
                *_AUTH,
                Code.WEBHOOK_DELIVERY_NOT_FOUND,
                Code.WEBHOOK_DELIVERY_PENDING,
                Code.WEBHOOK_ENDPOINT_DISABLED,
                Code.WEBHOOK_DESTINATION_ADDRESS_REFUSED,
                Code.WEBHOOK_PAST_RETENTION,
                Code.WEBHOOK_REPLAY_RATE_LIMITED,
                Code.SERVICE_UNAVAILABLE,
            ),
        ),
    ),
]
