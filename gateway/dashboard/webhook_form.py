"""The endpoint forms of the Webhooks pages (add, and edit on the endpoint's page): their
fields and labels, the values as typed and as stored, and the request model they make with every
refusal of it at once."""

import json
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request

from ..operations import perform
from ..services import services
from ..values import outside_json, payload_filters
from ..values.code_names import Code
from ..values.marking import marked
from ..values.outcome import ApiError
from ..webhooks import endpoints, filter_preview
from ..webhooks.destinations.registry import HTTP
from ..webhooks.headers import MAX_NAME, MAX_VALUE
from ..webhooks.schemas import MAX_HEADERS, EndpointCreate, EndpointData, EndpointUpdate
from . import destination_form
from .context import Viewer
from .inputs import FORM, FormErrors, field

__all__ = [
    "ENDPOINT_FIELDS",
    "ENDPOINT_LABELS",
    "checked",
    "edit_values",
    "parsed_filter",
    "previewed",
    "refused_field",
    "shown_again",
    "tried_filter",
    "typed_endpoint",
]

# The endpoint forms' fields, by the request models' field names (the same here), and what the
# list of refusals calls them.
ENDPOINT_FIELDS = {
    "type": "type",
    "url": "url",
    "description": "description",
    "event_types": "event_types",
    "signing": "signing",
    "headers": "headers",
    "throttle_per_second": "throttle_per_second",
    "ordered": "ordered",
    "batch_size": "batch_size",
    "filter": "filter",
}
ENDPOINT_LABELS = {
    "type": marked("Destination"),
    "url": marked("URL"),
    "description": marked("Description"),
    "event_types": marked("Events"),
    "signing": marked("Signing"),
    "headers": marked("Custom headers"),
    "throttle_per_second": marked("Throttle"),
    "ordered": marked("In order"),
    "batch_size": marked("Batch size"),
    "filter": marked("Payload filter"),
}


_FILTER_CODES = (
    Code.WEBHOOK_FILTER_INVALID,
    Code.WEBHOOK_FILTER_OPERATOR_UNKNOWN,
    Code.WEBHOOK_FILTER_TOO_DEEP,
    Code.WEBHOOK_FILTER_TOO_LARGE,
)


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


def typed_endpoint(data: FormData) -> dict[str, Any]:
    chosen = [t for t in data.getlist("event_types") if isinstance(t, str)]
    # Only the create form offers a type: an edit keeps the endpoint's.
    kind = field(data, "type", 41).strip() or HTTP
    return {
        "type": kind,
        "destination": destination_form.typed_destination(data, kind),
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
        # A form without the field changes no filter; an empty one lifts it. Cut past what a
        # filter may be, so the bound is judged and the text kept no longer than it.
        "filter": (
            field(data, "filter", payload_filters.MAX_BYTES + 1).strip()
            if "filter" in data
            else None
        ),
        "preview": "preview" in data,
    }


def shown_again(typed: dict[str, Any]) -> dict[str, Any]:
    """The form as typed, to show again with its refusal: a secret value typed is not."""
    rows = [{**h, "value": "" if h["secret"] else h["value"]} for h in typed["headers"] or []]
    return {
        **typed,
        "destination": destination_form.shown_again(typed["type"], typed["destination"]),
        "headers": rows,
        "throttle_per_second": typed["throttle_per_second"] or "",
        "batch_size": typed["batch_size"] or "",
        "filter": typed["filter"] or "",
    }


async def checked(
    request: Request,
    viewer: Viewer,
    typed: dict[str, Any],
    *,
    create: bool,
    broker: bool = False,
) -> tuple[EndpointCreate | EndpointUpdate | None, FormErrors]:
    """The form's request model and every refusal of it at once: the model's, field by field,
    and the URL check's (which the model does not make), so one post shows them all.
    ``broker``: the endpoint delivers to a broker: its destination object as typed, its
    secrets left as shown kept by the operation (``saving.edited``), is sent in place of a
    URL."""
    refused = FormErrors()
    values: dict[str, Any] = {
        "description": typed["description"] or None,
        "event_types": typed["event_types"] or None if create else typed["event_types"],
    }
    if create and typed["type"] != HTTP:
        # Judged, tested and sealed by the operation, as the API's create is.
        broker = True
        values["type"] = typed["type"]
        values["destination"] = typed["destination"]
    if not broker:
        values["url"] = typed["url"]
    elif not create and typed["destination"] is not None:
        values["destination"] = typed["destination"]
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
    if typed["filter"] is not None:
        try:
            values["filter"] = parsed_filter(typed["filter"])
        except ApiError as exc:
            refused.add(exc, "filter")
    body: EndpointCreate | EndpointUpdate | None = None
    try:
        body = EndpointCreate(**values) if create else EndpointUpdate(**values)
    except ValidationError as exc:
        refused.add(exc, fields=ENDPOINT_FIELDS)
    if "url" not in refused.errors and not broker:
        try:
            await endpoints.check_url(services(request).settings, viewer.env, typed["url"])
        except ApiError as exc:
            refused.add(exc, "url")
    return body, refused


def parsed_filter(text: str) -> dict[str, Any] | None:
    """The filter as typed: empty lifts it; JSON text is judged as a save judges it."""
    if not text:
        return None
    if outside_json.too_deep(text):  # never decoded: past its recursion the decoder fails
        raise ApiError(Code.WEBHOOK_FILTER_TOO_DEEP, data={"max_depth": payload_filters.MAX_DEPTH})
    try:
        value = outside_json.loads(text)
    except ValueError:
        raise ApiError(Code.WEBHOOK_FILTER_INVALID, "Webhook filter invalid: not JSON") from None
    payload_filters.check_filter(value)
    return value if isinstance(value, dict) else None


def refused_field(exc: ApiError, type_name: str = HTTP) -> str:
    at = destination_form.refused_input(exc, type_name)
    if at is not None:
        return at
    if exc.code in _FILTER_CODES:
        return "filter"
    if exc.code == Code.WEBHOOK_THROTTLE_INVALID:
        return "throttle_per_second"
    if exc.code in (Code.WEBHOOK_BATCH_SIZE_INVALID, Code.WEBHOOK_BATCH_NEEDS_ORDER):
        return "batch_size"
    return "url" if exc.code == Code.WEBHOOK_URL_INVALID else FORM


def edit_values(found: EndpointData) -> dict[str, Any]:
    return {
        "url": found.url,
        "destination": destination_form.stored(found.type, found.destination),
        "description": found.description or "",
        "event_types": found.event_types,
        "signing": found.signing,
        "throttle_per_second": str(found.throttle_per_second or ""),
        "ordered": found.ordered,
        "batch_size": str(found.batch_size),
        "filter": json.dumps(found.filter, ensure_ascii=False) if found.filter else "",
        # A secret's value is never put back in a form: left empty, it keeps what is kept.
        "headers": [
            {"name": h.name, "value": "" if h.secret else h.value, "secret": h.secret}
            for h in found.headers
        ],
        "errors": {},
    }


async def tried_filter(
    request: Request, viewer: Viewer, typed: dict[str, Any]
) -> tuple[list[filter_preview.Tried] | None, FormErrors]:
    """The form's filter tried on the merchant's recent events (``preview``), saving nothing:
    the rows, or the filter's refusal beside its field."""
    refused = FormErrors()
    try:
        svc = services(request)
        chosen = parsed_filter(typed["filter"] or "")
        tried = (
            await perform(svc.waker, filter_preview.preview(svc.db, viewer.caller, chosen))
        ).many(filter_preview.Tried)
    except ApiError as exc:
        refused.add(exc, "filter")
        return None, refused
    return tried, refused


def previewed(
    typed: dict[str, Any], tried: list[filter_preview.Tried] | None, refused: FormErrors
) -> dict[str, Any]:
    return {**shown_again(typed), "errors": refused.errors, "preview": tried}
