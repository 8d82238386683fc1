"""The dashboard's webhook pages: endpoints (create, edit, enable or disable, rotate the secret,
send a test event, recover failed deliveries, delete), the delivery log with every attempt, and
replay, each through the services the API calls (``gateway.webhooks``).

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
from ..values.codes import CATALOGUE, Code
from ..values.languages import marked
from ..values.outcome import ApiError, Outcome
from ..webhooks import deliveries, endpoints, event_types, replays, stats
from ..webhooks.headers import MAX_NAME, MAX_VALUE
from ..webhooks.schemas import (
    EVENT_TYPES,
    MAX_HEADERS,
    SIGNING_SCHEMES,
    DeliveriesQuery,
    DeliveryData,
    DeliveryDetail,
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
from .inputs import FORM, FormErrors, field, problem
from .paths import path_for
from .render import page

__all__ = ["ENDPOINT_LABELS", "ROTATION_OVERLAPS", "routes"]

_ENDPOINTS_SHOWN = 100  # above the per-environment cap: the list is always whole
_LOG_PAGE = 20
_ENDPOINT_LOG = 10
# (seconds, label): how long the previous secret keeps signing after a rotation.
ROTATION_OVERLAPS = (
    (0, marked("no overlap")),
    (3600, marked("1 hour")),
    (86400, marked("24 hours")),
    (604800, marked("7 days")),
)
_DEFAULT_OVERLAP = 86400
_STATUSES = ("pending", "succeeded", "failed")
# The endpoint forms' fields, by the request models' field names (the same here), and what the
# list of refusals calls them.
ENDPOINT_FIELDS = {
    "url": "url",
    "description": "description",
    "event_types": "event_types",
    "signing": "signing",
    "headers": "headers",
    "throttle_per_second": "throttle_per_second",
    "ordered": "ordered",
    "batch_size": "batch_size",
}
ENDPOINT_LABELS = {
    "url": marked("URL"),
    "description": marked("Description"),
    "event_types": marked("Events"),
    "signing": marked("Signing"),
    "headers": marked("Custom headers"),
    "throttle_per_second": marked("Throttle"),
    "ordered": marked("In order"),
    "batch_size": marked("Batch size"),
}
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


def _notice(request: Request) -> str | None:
    return _NOTICES.get(request.query_params.get("notice", ""))


def _reraise_missing(exc: ApiError | ValidationError) -> None:
    """A 404 is never a form message: it is the page's answer (and says nothing more)."""
    if isinstance(exc, ApiError) and CATALOGUE[exc.code].http_status == 404:
        raise exc


def _with_headers(response: Response, exc: ApiError | ValidationError) -> Response:
    if isinstance(exc, ApiError) and exc.headers:
        response.headers.update(exc.headers)
    return response


# --- the endpoints list, and creating one ---


def _typed_headers(data: FormData) -> list[dict[str, Any]] | None:
    """The header rows as typed: ``header_name``, ``header_value`` and ``header_secret`` in step
    (a select, not a checkbox, so an unticked row still sends its place). A row with neither a
    name nor a value is an unused one; a secret row left without a value keeps what is kept."""
    if "header_name" not in data:
        return None  # a form without the header rows changes none
    names = [v for v in data.getlist("header_name") if isinstance(v, str)]
    values = [v for v in data.getlist("header_value") if isinstance(v, str)]
    secret = [v for v in data.getlist("header_secret") if isinstance(v, str)]
    rows: list[dict[str, Any]] = []
    for n, name in enumerate(names[: MAX_HEADERS * 2]):
        value = values[n] if n < len(values) else ""
        if not name.strip() and not value:
            continue
        rows.append(
            {
                "name": name.strip()[: MAX_NAME + 1],
                "value": value[: MAX_VALUE + 1],
                "secret": n < len(secret) and secret[n] == "yes",
            }
        )
    return rows


def _typed_endpoint(data: FormData) -> dict[str, Any]:
    chosen = [t for t in data.getlist("event_types") if isinstance(t, str)]
    return {
        "url": field(data, "url").strip(),
        "description": field(data, "description", 500).strip(),
        "event_types": chosen,
        "signing": field(data, "signing", 20),
        "headers": _typed_headers(data),
        # A form without the field changes no throttle; an empty one lifts it.
        "throttle_per_second": (
            field(data, "throttle_per_second", 20).strip()
            if "throttle_per_second" in data
            else None
        ),
        # A checkbox left clear sends nothing: the form says it showed one.
        "ordered": ("ordered" in data) if "ordered_shown" in data else None,
        # A form without the field changes no batch size; an empty one is one a request.
        "batch_size": field(data, "batch_size", 20).strip() if "batch_size" in data else None,
    }


def _shown_again(typed: dict[str, Any]) -> dict[str, Any]:
    """The form as typed, to show again with its refusal: a secret value typed is not."""
    rows = [{**h, "value": "" if h["secret"] else h["value"]} for h in typed["headers"] or []]
    return {
        **typed,
        "headers": rows,
        "throttle_per_second": typed["throttle_per_second"] or "",
        "batch_size": typed["batch_size"] or "",
    }


async def _endpoints(svc: Services, viewer: Viewer) -> list[EndpointData]:
    """Every endpoint of the viewer's environment: the list is always whole."""
    listed = endpoints.list_endpoints(svc.db, viewer.caller, limit=_ENDPOINTS_SHOWN, cursor=None)
    return (await perform(svc.waker, listed)).many(EndpointData)


def _has_more(listed: Outcome) -> bool:
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
        for entry in event_types.event_type_entries()
    )


async def _home(
    request: Request, viewer: Viewer, *, status: int = 200, create: dict[str, Any] | None = None
) -> Response:
    svc = services(request)
    found = await _endpoints(svc, viewer)
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
            "url": "",
            "description": "",
            "event_types": [],
            "signing": "hmac",
            "headers": [],
            "throttle_per_second": "",
            "ordered": False,
            "batch_size": "1",
            "errors": {},
        },
        "signing_schemes": SIGNING_SCHEMES,
        "blank_header_rows": _BLANK_HEADER_ROWS,
        "endpoint_labels": ENDPOINT_LABELS,
        "notice": _notice(request),
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


async def _checked(
    request: Request, viewer: Viewer, typed: dict[str, Any], *, create: bool
) -> tuple[EndpointCreate | EndpointUpdate | None, FormErrors]:
    """The form's request model and every refusal of it at once: the model's, field by field,
    and the URL check's (which the model does not make), so one post shows them all."""
    refused = FormErrors()
    values = {
        "url": typed["url"],
        "description": typed["description"] or None,
        "event_types": typed["event_types"] or None if create else typed["event_types"],
    }
    if typed["signing"] or create:
        values["signing"] = typed["signing"] or "hmac"
    # Empty: unthrottled. Digits: a number for the service's bounds; anything else is left as
    # typed, for the model to refuse beside the field.
    throttle = typed["throttle_per_second"]
    if throttle is not None:
        values["throttle_per_second"] = int(throttle) if throttle.isdigit() else throttle or None
    if typed["ordered"] is not None:
        values["ordered"] = typed["ordered"]
    batch = typed["batch_size"]
    if batch is not None:
        values["batch_size"] = int(batch) if batch.isdigit() else batch or 1
    if typed["headers"] is not None:
        values["headers"] = [
            {"name": h["name"], "value": h["value"] or None, "secret": h["secret"]}
            for h in typed["headers"]
        ]
    body: EndpointCreate | EndpointUpdate | None = None
    try:
        body = EndpointCreate(**values) if create else EndpointUpdate(**values)
    except ValidationError as exc:
        refused.add(exc, fields=ENDPOINT_FIELDS)
    if "url" not in refused.errors:
        try:
            await endpoints.check_url(services(request).settings, viewer.env, typed["url"])
        except ApiError as exc:
            refused.add(exc, "url")
    return body, refused


def _refused_field(exc: ApiError) -> str:
    if exc.code == Code.WEBHOOK_THROTTLE_INVALID:
        return "throttle_per_second"
    if exc.code in (Code.WEBHOOK_BATCH_SIZE_INVALID, Code.WEBHOOK_BATCH_NEEDS_ORDER):
        return "batch_size"
    return "url" if exc.code == Code.WEBHOOK_URL_INVALID else FORM


async def create_endpoint(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    typed = _typed_endpoint(data)
    svc = services(request)
    body, refused = await _checked(request, viewer, typed, create=True)
    if body is not None and not refused:
        assert isinstance(body, EndpointCreate)
        try:
            made = await perform(
                svc.waker,
                endpoints.create_endpoint(svc.db, svc.sealer, svc.settings, viewer.caller, body),
            )
        except ApiError as exc:
            refused.add(exc, _refused_field(exc))
        else:
            return await _reveal(request, made.one(EndpointSecretData), rotated=False, status=201)
    response = await _home(
        request,
        viewer,
        status=refused.status,
        create={**_shown_again(typed), "errors": refused.errors},
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


def _edit_values(found: EndpointData) -> dict[str, Any]:
    return {
        "url": found.url,
        "description": found.description or "",
        "event_types": found.event_types,
        "signing": found.signing,
        "throttle_per_second": str(found.throttle_per_second or ""),
        "ordered": found.ordered,
        "batch_size": str(found.batch_size),
        # A secret's value is never put back in a form: left empty, it keeps what is kept.
        "headers": [
            {"name": h.name, "value": "" if h.secret else h.value, "secret": h.secret}
            for h in found.headers
        ],
        "errors": {},
    }


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
        "more": _has_more(recent),
        "event_types": EVENT_TYPES,
        "overlaps": ROTATION_OVERLAPS,
        "default_overlap": _DEFAULT_OVERLAP,
        "edit": shown.edit or _edit_values(found),
        "signing_schemes": SIGNING_SCHEMES,
        "blank_header_rows": _BLANK_HEADER_ROWS,
        "endpoint_labels": ENDPOINT_LABELS,
        "recover": shown.recover or {"since": "", "until": "", "error": ""},
        "action_error": shown.action_error,
        "notice": _notice(request),
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
    _reraise_missing(exc)
    status, message = problem(exc)
    response = await _endpoint_page(
        request, viewer, endpoint_id, status=status, forms=_Forms(action_error=message)
    )
    return _with_headers(response, exc)


async def update_endpoint(request: Request) -> Response:
    viewer, data, endpoint_id = await _posted(request)
    typed = _typed_endpoint(data)
    svc = services(request)
    body, refused = await _checked(request, viewer, typed, create=False)
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
            _reraise_missing(exc)
            refused.add(exc, _refused_field(exc))
        else:
            return RedirectResponse(_endpoint_url(endpoint_id) + "?notice=saved", 303)
    forms = _Forms(edit={**_shown_again(typed), "errors": refused.errors})
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
        _reraise_missing(exc)
        status, message = problem(exc)
        forms = _Forms(recover={"since": typed, "until": typed_until, "error": message})
        response = await _endpoint_page(request, viewer, endpoint_id, status=status, forms=forms)
        return _with_headers(response, exc)
    count = replayed.data["replayed"]
    return RedirectResponse(f"{_endpoint_url(endpoint_id)}?recovered={count}", 303)


async def delete_endpoint(request: Request) -> Response:
    viewer, _, endpoint_id = await _posted(request)
    svc = services(request)
    await perform(svc.waker, endpoints.delete_endpoint(svc.db, viewer.caller, endpoint_id))
    return RedirectResponse(path_for("home") + "?notice=deleted", 303)


# --- the delivery log ---


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
        items, more = listed.many(DeliveryData), _has_more(listed)
    found = await _endpoints(svc, viewer)
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
        "notice": _notice(request),
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
        _reraise_missing(exc)
        status, message = problem(exc)
        response = await _delivery_page(request, viewer, delivery_id, status=status, error=message)
        return _with_headers(response, exc)
    return RedirectResponse(
        path_for("delivery_page", delivery_id=delivery_id) + "?notice=replayed", 303
    )


_EP = "/webhooks/endpoints/{endpoint_id}"
_DLV = "/webhooks/deliveries/{delivery_id}"

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
    Route("/webhooks/deliveries", delivery_log, methods=["GET"]),
    Route(_DLV, delivery_page, methods=["GET"]),
    Route(_DLV + "/replay", replay, methods=["POST"]),
]
