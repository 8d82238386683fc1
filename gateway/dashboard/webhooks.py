"""The dashboard's webhook pages: endpoints (create, edit, enable or disable, rotate the secret,
send a test event, recover failed deliveries, delete), each through the services the API calls
(``gateway.webhooks``); their forms are ``webhook_form``, the delivery log with every attempt
and replay ``webhook_deliveries``.

Every lookup goes through the services' own scoping (the viewer's merchant and environment), so
another merchant's endpoint or delivery id answers 404 and shows nothing. A signing secret is
shown once, on the page that answers its create or rotate, which no cache may keep. Test events,
replays and recoveries count against the API's per-merchant limits, in the same buckets.
"""

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import merchant_limits
from ..operations import perform
from ..services import Services, services
from ..values.code_names import Code
from ..values.codes import CATALOGUE
from ..values.marking import marked
from ..values.outcome import ApiError, Outcome
from ..webhooks import deliveries, endpoints, event_docs, replays, stats
from ..webhooks.destinations.registry import HTTP
from ..webhooks.schemas import (
    EVENT_TYPES,
    SIGNING_SCHEMES,
    DeliveriesQuery,
    DeliveryData,
    EndpointCreate,
    EndpointData,
    EndpointSecretData,
    EndpointStatsData,
    EndpointUpdate,
    ReplayFailedRequest,
    RotateRequest,
)
from . import reveal, webhook_inbox
from .context import Viewer, require_viewer
from .csrf import form
from .destination_form import destination_forms, destination_labels, form_of, typed_destination
from .inputs import field, problem
from .paths import path_for
from .render import page
from .webhook_form import (
    ENDPOINT_LABELS,
    checked,
    edit_values,
    previewed,
    refused_field,
    shown_again,
    tried_filter,
    typed_endpoint,
)

__all__ = [
    "ROTATION_OVERLAPS",
    "has_more",
    "listed_endpoints",
    "notice",
    "reraise_missing",
    "routes",
    "with_headers",
]

_ENDPOINTS_SHOWN = 100  # above the per-environment cap: the list is always whole
_ENDPOINT_LOG = 10
# (seconds, label): how long the previous secret keeps signing after a rotation.
ROTATION_OVERLAPS = (
    (0, marked("no overlap")),
    (3600, marked("1 hour")),
    (86400, marked("24 hours")),
    (604800, marked("7 days")),
)
_DEFAULT_OVERLAP = 86400
_BLANK_HEADER_ROWS = 2  # empty rows the forms offer for new headers
# Set only by our own redirects; the query names which fixed sentence to show.
_NOTICES = {
    "deleted": marked("Endpoint deleted. Its deliveries stay in the log."),
    "saved": marked("Endpoint saved."),
    "enabled": marked("Endpoint enabled."),
    "disabled": marked("Endpoint disabled: nothing is sent to it until it is enabled again."),
    "test": marked("Test event sent: its delivery is below."),
    "replayed": marked("Replay queued, with the same webhook-id."),
    "shown": marked(
        "That signing secret was shown once and is not kept in clear: rotate the endpoint's"
        " secret for a new one."
    ),
}


def _endpoint_url(endpoint_id: str) -> str:
    return path_for("endpoint_page", endpoint_id=endpoint_id)


def notice(request: Request) -> str | None:
    return _NOTICES.get(request.query_params.get("notice", ""))


def reraise_missing(exc: ApiError | ValidationError) -> None:
    """A 404 is never a form message: it is the page's answer (and says nothing more)."""
    if isinstance(exc, ApiError) and CATALOGUE[exc.code].http_status == 404:
        raise exc


def with_headers(response: Response, exc: ApiError | ValidationError) -> Response:
    if isinstance(exc, ApiError) and exc.headers:
        response.headers.update(exc.headers)
    return response


# --- the endpoints list, and creating one ---


async def listed_endpoints(svc: Services, viewer: Viewer) -> list[EndpointData]:
    """Every endpoint of the viewer's environment: the list is always whole."""
    listed = endpoints.list_endpoints(svc.db, viewer.caller, limit=_ENDPOINTS_SHOWN, cursor=None)
    return (await perform(svc.waker, listed)).many(EndpointData)


def has_more(listed: Outcome) -> bool:
    return bool(listed.meta and listed.meta["has_more"])


@dataclass(frozen=True, slots=True)
class _Contract:
    """An event type as the Webhooks page shows it, in the card below "Add an endpoint"."""

    type: str
    description: str
    version: str
    schema: str
    example: str


@functools.cache
def _contracts() -> tuple[_Contract, ...]:
    return tuple(
        _Contract(
            entry.type,
            entry.description,
            entry.version,
            json.dumps(entry.schema_, indent=2, ensure_ascii=False),
            json.dumps(entry.example, indent=2, ensure_ascii=False),
        )
        for entry in event_docs.event_type_entries()
    )


async def _home(
    request: Request, viewer: Viewer, *, status: int = 200, create: dict[str, Any] | None = None
) -> Response:
    svc = services(request)
    found = await listed_endpoints(svc, viewer)
    recent = await perform(
        svc.waker,
        deliveries.list_deliveries(svc.db, viewer.caller, DeliveriesQuery(limit=_ENDPOINT_LOG)),
    )
    context = {
        "endpoints": found,
        "recent": recent.many(DeliveryData),
        "event_types": EVENT_TYPES,
        "contracts": _contracts(),
        "create": create
        or {
            "type": HTTP,
            "destination": {},
            "url": "",
            "description": "",
            "event_types": [],
            "signing": "hmac",
            "headers": [],
            "throttle_per_second": "",
            "ordered": False,
            "batch_size": "1",
            "filter": "",
            "errors": {},
        },
        "signing_schemes": SIGNING_SCHEMES,
        "blank_header_rows": _BLANK_HEADER_ROWS,
        "endpoint_labels": {**ENDPOINT_LABELS, **destination_labels()},
        "destinations": destination_forms(),
        "notice": notice(request),
        "loopback_allowed": endpoints.allows_loopback(svc.settings, viewer.env),
        **await webhook_inbox.section(svc, viewer),
    }
    return page(request, "webhooks/index.html", context, status=status)


async def home(request: Request) -> Response:
    return await _home(request, await require_viewer(request))


def _secret_page(
    request: Request, made: EndpointSecretData, *, rotated: bool, status: int
) -> Response:
    return page(
        request,
        "webhooks/secret.html",
        {"endpoint": made, "secret": made.secret, "rotated": rotated},
        status=status,
        no_store=True,
    )


async def _reveal(
    request: Request, made: EndpointSecretData, *, rotated: bool, status: int
) -> Response:
    """Post/redirect/get: the secret's page is a GET that shows it once (``reveal``)."""
    # The model's own JSON, read back by the model: its strict fields take no other form.
    token = await reveal.stash(request, json.dumps([rotated, made.model_dump_json()]))
    if token is None:
        return _secret_page(request, made, rotated=rotated, status=status)
    return RedirectResponse(path_for("secret_page") + f"?t={token}", 303)


async def secret_page(request: Request) -> Response:
    await require_viewer(request)
    shown = await reveal.take(request)
    if shown is None:
        return RedirectResponse(path_for("home") + "?notice=shown", 303)
    rotated, endpoint = json.loads(shown)
    made = EndpointSecretData.model_validate_json(endpoint)
    return _secret_page(request, made, rotated=bool(rotated), status=200)


async def create_endpoint(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    typed = typed_endpoint(data)
    svc = services(request)
    if typed["preview"]:
        tried, refused = await tried_filter(request, viewer, typed)
        status = refused.status if refused else 200
        return await _home(request, viewer, status=status, create=previewed(typed, tried, refused))
    body, refused = await checked(request, viewer, typed, create=True)
    if body is not None and not refused:
        assert isinstance(body, EndpointCreate)
        try:
            made = await perform(
                svc.waker,
                endpoints.create_endpoint(svc.db, svc.sealer, svc.settings, viewer.caller, body),
            )
        except ApiError as exc:
            refused.add(exc, refused_field(exc, typed["type"]))
        else:
            return await _reveal(request, made.one(EndpointSecretData), rotated=False, status=201)
    response = await _home(
        request,
        viewer,
        status=refused.status,
        create={**shown_again(typed), "errors": refused.errors},
    )
    response.headers.update(refused.headers)
    return response


# --- one endpoint ---


@dataclass
class _Forms:
    """What the endpoint page's forms show: as stored, or as typed with the refusal."""

    edit: dict[str, Any] | None = None
    recover: dict[str, str] | None = None
    action_error: str = ""


async def _endpoint_page(
    request: Request,
    viewer: Viewer,
    endpoint_id: str,
    *,
    status: int = 200,
    forms: _Forms | None = None,
) -> Response:
    svc = services(request)
    found = (
        await perform(svc.waker, endpoints.get_endpoint(svc.db, viewer.caller, endpoint_id))
    ).one(EndpointData)
    shown = forms or _Forms()
    query = DeliveriesQuery(limit=_ENDPOINT_LOG, endpoint_id=endpoint_id)
    recent = await perform(svc.waker, deliveries.list_deliveries(svc.db, viewer.caller, query))
    health = await perform(
        svc.waker, stats.endpoint_stats(svc.db, viewer.caller, endpoint_id, None, None)
    )
    recovered = request.query_params.get("recovered", "")
    context = {
        "endpoint": found,
        "stats": health.one(EndpointStatsData),
        "recent": recent.many(DeliveryData),
        "more": has_more(recent),
        "event_types": EVENT_TYPES,
        "overlaps": ROTATION_OVERLAPS,
        "default_overlap": _DEFAULT_OVERLAP,
        "edit": shown.edit or edit_values(found),
        "signing_schemes": SIGNING_SCHEMES,
        "blank_header_rows": _BLANK_HEADER_ROWS,
        "endpoint_labels": {**ENDPOINT_LABELS, **destination_labels()},
        "destination_form": form_of(found.type),
        "recover": shown.recover or {"since": "", "until": "", "error": ""},
        "action_error": shown.action_error,
        "notice": notice(request),
        "recovered": int(recovered) if recovered.isdigit() and len(recovered) < 7 else None,
    }
    return page(request, "webhooks/endpoint.html", context, status=status)


async def endpoint_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    return await _endpoint_page(request, viewer, request.path_params["endpoint_id"])


async def _posted(request: Request) -> tuple[Viewer, FormData, str]:
    """The viewer, the checked form, and the endpoint the path names if it is theirs (else the
    service's 404, before anything is done)."""
    viewer = await require_viewer(request)
    data = await form(request)
    endpoint_id: str = request.path_params["endpoint_id"]
    svc = services(request)
    await perform(svc.waker, endpoints.get_endpoint(svc.db, viewer.caller, endpoint_id))
    return viewer, data, endpoint_id


async def _action_refused(
    request: Request, viewer: Viewer, endpoint_id: str, exc: ApiError | ValidationError
) -> Response:
    reraise_missing(exc)
    status, message = problem(exc)
    response = await _endpoint_page(
        request, viewer, endpoint_id, status=status, forms=_Forms(action_error=message)
    )
    return with_headers(response, exc)


async def update_endpoint(request: Request) -> Response:
    viewer, data, endpoint_id = await _posted(request)
    typed = typed_endpoint(data)
    svc = services(request)
    current = (
        await perform(svc.waker, endpoints.get_endpoint(svc.db, viewer.caller, endpoint_id))
    ).one(EndpointData)
    broker = current.type != HTTP
    if broker:  # its type stays: the destination read with the endpoint's type's fields
        typed.update(type=current.type, destination=typed_destination(data, current.type))
    if typed["preview"]:
        tried, refused = await tried_filter(request, viewer, typed)
        forms = _Forms(edit=previewed(typed, tried, refused))
        status = refused.status if refused else 200
        return await _endpoint_page(request, viewer, endpoint_id, status=status, forms=forms)
    body, refused = await checked(request, viewer, typed, create=False, broker=broker)
    if body is not None and not refused:
        assert isinstance(body, EndpointUpdate)
        try:
            await perform(
                svc.waker,
                endpoints.update_endpoint(
                    svc.db, svc.sealer, svc.settings, viewer.caller, endpoint_id, body
                ),
            )
        except ApiError as exc:
            reraise_missing(exc)
            refused.add(exc, refused_field(exc, typed["type"]))
        else:
            return RedirectResponse(_endpoint_url(endpoint_id) + "?notice=saved", 303)
    forms = _Forms(edit={**shown_again(typed), "errors": refused.errors})
    response = await _endpoint_page(
        request, viewer, endpoint_id, status=refused.status, forms=forms
    )
    response.headers.update(refused.headers)
    return response


async def set_enabled(request: Request) -> Response:
    viewer, data, endpoint_id = await _posted(request)
    enabled = field(data, "enabled") == "true"
    svc = services(request)
    try:
        body = EndpointUpdate(enabled=enabled)
        await perform(
            svc.waker,
            endpoints.update_endpoint(
                svc.db, svc.sealer, svc.settings, viewer.caller, endpoint_id, body
            ),
        )
    except (ApiError, ValidationError) as exc:
        return await _action_refused(request, viewer, endpoint_id, exc)
    notice = "enabled" if enabled else "disabled"
    return RedirectResponse(f"{_endpoint_url(endpoint_id)}?notice={notice}", 303)


async def rotate_secret(request: Request) -> Response:
    viewer, data, endpoint_id = await _posted(request)
    overlap = field(data, "overlap_seconds", 10)
    svc = services(request)
    try:
        body = RotateRequest(overlap_seconds=int(overlap) if overlap.isdigit() else -1)
        rotated = await perform(
            svc.waker,
            endpoints.rotate_secret(
                svc.db, svc.sealer, viewer.caller, endpoint_id, body.overlap_seconds
            ),
        )
    except (ApiError, ValidationError) as exc:
        return await _action_refused(request, viewer, endpoint_id, exc)
    return await _reveal(request, rotated.one(EndpointSecretData), rotated=True, status=200)


async def send_test(request: Request) -> Response:
    viewer, _, endpoint_id = await _posted(request)
    svc = services(request)
    try:
        await merchant_limits.WEBHOOK_TEST.count(svc, viewer.merchant_id)
        sent = await perform(
            svc.waker, endpoints.send_test(svc.db, svc.settings, viewer.caller, endpoint_id)
        )
    except ApiError as exc:
        return await _action_refused(request, viewer, endpoint_id, exc)
    return RedirectResponse(
        path_for("delivery_page", delivery_id=sent.data["delivery_id"]) + "?notice=test", 303
    )


def _since(typed: str) -> datetime:
    """A ``datetime-local`` value, read as UTC; ``ValueError`` if it is not one."""
    value = datetime.fromisoformat(typed)
    if value.tzinfo is not None or "T" not in typed:
        raise ValueError(typed)
    return value.replace(tzinfo=UTC)


async def recover(request: Request) -> Response:
    """Replay every failed delivery of the endpoint created since a time, and before another
    if one is given (UTC)."""
    viewer, data, endpoint_id = await _posted(request)
    typed = field(data, "since", 40).strip()
    typed_until = field(data, "until", 40).strip()
    svc = services(request)
    try:
        try:
            since = _since(typed)
            until = _since(typed_until) if typed_until else None
        except ValueError:
            raise ApiError(
                Code.VALIDATION_FAILED,
                "Enter a date and time (UTC) to replay failures since, and one to stop before "
                "or none.",
            ) from None
        body = ReplayFailedRequest(since=since, until=until)
        await merchant_limits.WEBHOOK_RECOVER.count(svc, viewer.merchant_id)
        replayed = await perform(
            svc.waker,
            replays.replay_failed(
                svc.db, svc.settings, viewer.caller, endpoint_id, body.since, body.until
            ),
        )
    except (ApiError, ValidationError) as exc:
        reraise_missing(exc)
        status, message = problem(exc)
        forms = _Forms(recover={"since": typed, "until": typed_until, "error": message})
        response = await _endpoint_page(request, viewer, endpoint_id, status=status, forms=forms)
        return with_headers(response, exc)
    count = replayed.data["replayed"]
    return RedirectResponse(f"{_endpoint_url(endpoint_id)}?recovered={count}", 303)


async def delete_endpoint(request: Request) -> Response:
    viewer, _, endpoint_id = await _posted(request)
    svc = services(request)
    await perform(svc.waker, endpoints.delete_endpoint(svc.db, viewer.caller, endpoint_id))
    return RedirectResponse(path_for("home") + "?notice=deleted", 303)


_EP = "/webhooks/endpoints/{endpoint_id}"

routes: list[BaseRoute] = [
    Route("/webhooks", home, methods=["GET"]),
    Route("/webhooks/endpoints", create_endpoint, methods=["POST"]),
    Route("/webhooks/secret", secret_page, methods=["GET"]),
    Route(_EP, endpoint_page, methods=["GET"]),
    Route(_EP, update_endpoint, methods=["POST"]),
    Route(_EP + "/enabled", set_enabled, methods=["POST"]),
    Route(_EP + "/rotate", rotate_secret, methods=["POST"]),
    Route(_EP + "/test", send_test, methods=["POST"]),
    Route(_EP + "/recover", recover, methods=["POST"]),
    Route(_EP + "/delete", delete_endpoint, methods=["POST"]),
]
