"""The OpenAPI 3.1 document, built from the routes' own declarations and pydantic models.

Nothing here names a route: every ``ApiRoute`` the app mounts is described from its ``RouteDoc``
(models, codes, auth), and every reply is the envelope with ``data`` typed per route. The codes
come from the catalogue, grouped by the HTTP status they answer with.
"""

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import metadata
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.convertors import IntegerConvertor
from starlette.routing import BaseRoute, Mount

from ..values.code_names import Code
from ..values.codes import CATALOGUE
from ..values.marking import marked
from ..values.outcome import CursorMeta, LedgerMeta, OffsetMeta, PageMeta
from .routing import KEY_ERRORS, ApiRoute, HeaderDoc, RouteDoc
from .webhook_docs import WebhookDoc

__all__ = ["Translate", "api_routes", "build", "operation_codes"]

REF = "#/components/schemas/{model}"
RESPONSE_REF = "#/components/responses/{name}"
PUBLIC_PREFIX = "/api/public/"
# The key middleware reads any Authorization header on a public route, even where none is needed.
_HEADER_CODES = (Code.AUTH_MALFORMED, Code.AUTH_UNKNOWN, Code.AUTH_REVOKED)
_CONVERTER = re.compile(r"{([^}:]+)(?::[^}]+)?}")
_ENVELOPE_FIELDS = ("success", "code", "message", "transaction_id", "status", "timestamp", "data")
# A reply that carries a secret is kept by no cache on the way.
_NO_STORE = {"Cache-Control": {"required": True, "schema": {"type": "string", "const": "no-store"}}}
# What a reader sees first in the explorer, in their language where the catalogues have it
# (``make messages`` extracts ``RouteDoc``'s and ``EventSpec``'s summaries with these).
_DESCRIPTION = marked(
    "Send prepaid LLM credits with one call and receive signed webhooks. Every reply, "
    "errors included, is the same JSON envelope; `code` is the stable machine "
    "answer.\n\n"
    "Versions: within `/api/public/v1` changes only add (routes, optional fields, "
    "reply fields, codes, event types); clients ignore what they do not know. A "
    "change that could break a client gets a new path, and v1 keeps answering for "
    "12 months after it. What changed, by date: /changelog on this gateway."
)
_EVENT_SENT = marked("Event type `%(name)s`, sent since %(version)s.")

Translate = Callable[[str], str]


def _as_written(text: str) -> str:
    return text


def api_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, ApiRoute]]:
    """Every described route the app mounts, with its full path."""
    for route in routes:
        if isinstance(route, Mount):
            yield from api_routes(route.routes, prefix + route.path)
        elif isinstance(route, ApiRoute):
            yield prefix + route.path, route


def operation_codes(path: str, route: ApiRoute) -> list[Code]:
    """Every code the operation can answer with: its own, and those the stack adds around it."""
    doc = route.doc
    codes = [doc.success, *doc.errors]
    if doc.auth == "key":
        codes += KEY_ERRORS
    elif path.startswith(PUBLIC_PREFIX):
        codes += _HEADER_CODES
    if route.param_convertors:  # a segment the converter refuses misses the route
        codes.append(Code.ROUTE_NOT_FOUND)
    # A NUL anywhere in the URL (``url_text``) or in a body's text (``parsing``).
    codes.append(Code.TEXT_HOLDS_NUL)
    if doc.forms:  # a form body that is not one (``parsing.decode_form``)
        codes.append(Code.FORM_BODY_INVALID)
    codes.append(Code.INTERNAL_ERROR)
    return list(dict.fromkeys(codes))


def _version() -> str:
    try:
        return metadata.version("aitopup")
    except metadata.PackageNotFoundError:
        return "0"


def _nullable_dropped(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string; it is never JSON null."""
    options = schema.get("anyOf")
    if options is None:
        return schema
    kept = [o for o in options if o.get("type") != "null"]
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**rest, **kept[0]} if len(kept) == 1 else {**rest, "anyOf": kept}


class _Schemas:
    """Collects model schemas into ``components`` and hands out references."""

    def __init__(self, described: Sequence[ApiRoute], events: Sequence[WebhookDoc] = ()) -> None:
        pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = [
            (CursorMeta, "serialization"),
            (PageMeta, "serialization"),
            (OffsetMeta, "serialization"),
            (LedgerMeta, "serialization"),
        ]
        for route in described:
            doc = route.doc
            if doc.body is not None:
                pairs.append((doc.body, "validation"))
            if doc.response is not None:
                pairs.append((doc.response, "serialization"))
            for models in (doc.replies or {}).values():
                pairs += [(model, "serialization") for model in models]
        pairs += [(event.body, "validation") for event in events]
        pairs = list(dict.fromkeys(pairs))
        refs, defs = models_json_schema(pairs, ref_template=REF)
        self._refs = refs
        self.components: dict[str, Any] = dict(defs.get("$defs", {}))
        # Refusals, one each: most operations answer the same few sets of codes.
        self.responses: dict[str, Any] = {}

    def shared(self, name: str, response: dict[str, Any]) -> dict[str, Any]:
        """A reference to ``response``, kept once under ``name`` in ``components/responses``."""
        self.responses.setdefault(name, response)
        return {"$ref": RESPONSE_REF.format(name=name)}

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(self._refs[(model, mode)])

    def query(self, model: type[BaseModel]) -> list[dict[str, Any]]:
        schema = model.model_json_schema(ref_template=REF)
        self.components.update(schema.pop("$defs", {}))
        required = set(schema.get("required", ()))
        return [
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": _nullable_dropped(prop),
                **({"description": prop["description"]} if "description" in prop else {}),
            }
            for name, prop in schema.get("properties", {}).items()
        ]


def _envelope(
    codes: Sequence[Code], *, success: bool, data: dict[str, Any], list_meta: bool
) -> dict[str, Any]:
    numbers = sorted(int(c) for c in codes)
    properties: dict[str, Any] = {
        "success": {"const": success},
        "code": {"const": numbers[0]} if len(numbers) == 1 else {"enum": numbers},
        "message": {"type": "string"},
        "transaction_id": {"type": ["string", "null"]},
        "status": {"type": ["string", "null"]},
        "timestamp": {"type": "string", "format": "date-time"},
        "data": data,
    }
    required = list(_ENVELOPE_FIELDS)
    if list_meta:
        properties["meta"] = {
            "anyOf": [
                {"$ref": REF.format(model="CursorMeta")},
                {"$ref": REF.format(model="PageMeta")},
                {"$ref": REF.format(model="OffsetMeta")},
                {"$ref": REF.format(model="LedgerMeta")},
            ]
        }
        required.append("meta")
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _own_shapes(doc: RouteDoc, schemas: _Schemas) -> dict[str, Any]:
    """The replies of a door that speaks another API's shape, by status, as its models say."""
    assert doc.replies is not None
    responses: dict[str, Any] = {}
    for status, models in sorted(doc.replies.items()):
        refs = [schemas.ref(model, "serialization") for model in models]
        responses[str(status)] = {
            "description": " or ".join(model.__name__ for model in models),
            "content": {
                "application/json": {"schema": refs[0] if len(refs) == 1 else {"anyOf": refs}}
            },
        }
        if doc.secret and status < 400:
            responses[str(status)]["headers"] = _NO_STORE
    return responses


def _paid_headers(paid: Sequence[HeaderDoc], on: str) -> dict[str, Any]:
    # As every parameter's description: in the protocols' own words, in every language.
    return {
        h.name: {"description": h.description, "schema": {"type": "string"}}
        for h in paid
        if h.on == on
    }


def _responses(
    path: str,
    route: ApiRoute,
    schemas: _Schemas,
    paid: Sequence[HeaderDoc] = (),
) -> dict[str, Any]:
    doc = route.doc
    if doc.replies is not None:
        return _own_shapes(doc, schemas)
    by_status: dict[int, list[Code]] = defaultdict(list)
    for code in operation_codes(path, route):
        by_status[CATALOGUE[code].http_status].append(code)
    if doc.response is None:
        typed: dict[str, Any] = {"type": "null"}
    else:
        one = schemas.ref(doc.response, "serialization")
        typed = {"type": "array", "items": one} if doc.many else one
    responses: dict[str, Any] = {}
    for status, codes in sorted(by_status.items()):
        success = all(c < 2000 for c in codes)
        data = typed if success else {"type": ["object", "null"]}
        # A paged list (it takes a query) says where it is in ``meta``; a whole list needs not.
        paged = success and doc.many and doc.query is not None
        schema = _envelope(codes, success=success, data=data, list_meta=paged)
        response: dict[str, Any] = {
            "description": "; ".join(f"{int(c)} {CATALOGUE[c].message}" for c in codes),
            "content": {"application/json": {"schema": schema}},
        }
        headers = dict(_NO_STORE) if success and doc.secret else {}
        if success:
            headers |= _paid_headers(paid, "success")
        elif status == 402:
            headers |= _paid_headers(paid, "refusal")
        if headers:
            response["headers"] = headers
        if success:
            responses[str(status)] = response
        else:
            # A refusal is the same document wherever its codes are the same: written once
            # (1,309 refusals were 176 distinct, half of the document Swagger UI draws).
            name = f"Error{status}_" + "_".join(str(n) for n in sorted(int(c) for c in codes))
            if "headers" in response:
                name += "_offered"
            responses[str(status)] = schemas.shared(name, response)
    return responses


def _parameters(route: ApiRoute, schemas: _Schemas) -> list[dict[str, Any]]:
    doc = route.doc
    params: list[dict[str, Any]] = []
    for name, convertor in route.param_convertors.items():
        schema: dict[str, Any] = (
            {"type": "integer", "minimum": 0}
            if isinstance(convertor, IntegerConvertor)
            else {"type": "string", "pattern": f"^{convertor.regex}$"}
        )
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if doc.query is not None:
        params += schemas.query(doc.query)
    if Code.INVALID_IDEMPOTENCY_KEY in doc.errors:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Same key and body within 24 h replays the first reply.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    if doc.auth == "signed":
        params.append(
            {
                "name": doc.signature_header,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
            }
        )
    return params


_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "key": [{"apiKey": []}],
    "admin": [{"adminToken": []}],
    "none": [],
    "signed": [],
}


def _operation(
    path: str,
    method: str,
    route: ApiRoute,
    schemas: _Schemas,
    seen_ids: set[str],
    translate: Translate,
    paid_headers: Sequence[HeaderDoc],
) -> dict[str, Any]:
    doc: RouteDoc = route.doc
    paid = paid_headers if doc.paid else ()
    op_id = f"{method}_{route.name}"
    while op_id in seen_ids:
        op_id += "_"
    seen_ids.add(op_id)
    operation: dict[str, Any] = {
        "operationId": op_id,
        "summary": translate(doc.summary),
        "tags": [doc.tag],
        "security": _SECURITY[doc.auth],
        "responses": _responses(path, route, schemas, paid),
    }
    params = _parameters(route, schemas) + [
        {
            "name": h.name,
            "in": "header",
            "required": False,
            "description": h.description,
            "schema": {"type": "string"},
        }
        for h in paid
        if h.on == "request"
    ]
    if params:
        operation["parameters"] = params
    if doc.body is not None:
        body = schemas.ref(doc.body, "validation")
        content = {"application/json": {"schema": body}}
        if doc.forms:
            content["application/x-www-form-urlencoded"] = {"schema": body}
        operation["requestBody"] = {"required": True, "content": content}
    return operation


def _header(name: str, description: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern is not None:
        schema["pattern"] = pattern
    return {
        "name": name,
        "in": "header",
        "required": True,
        "description": description,
        "schema": schema,
    }


# What every webhook POST carries beside its body (docs/webhooks.md, "Signatures").
_WEBHOOK_HEADERS = [
    _header("webhook-id", "The event's id (evt_…): the same on every retry and replay.", "^evt_"),
    _header("webhook-timestamp", "Unix seconds when this attempt was signed.", "^[0-9]+$"),
    _header(
        "webhook-signature",
        "Standard Webhooks: space-separated `v1,<base64 HMAC-SHA256(key, "
        '"<webhook-id>.<webhook-timestamp>.<body>")>`, one per secret during a rotation.',
    ),
    _header(
        "X-AiTopUp-Signature",
        '`t=<unix>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>`, one `v1` per secret during a '
        "rotation.",
    ),
    _header("X-AiTopUp-Event", "The event's type."),
    _header(
        "X-AiTopUp-Delivery", "The delivery's id (dlv_…): one per event and endpoint.", "^dlv_"
    ),
]
_WEBHOOK_RESPONSES = {
    "2XX": {"description": "Received. Any other answer, or none within the timeout, is retried."},
    "410": {"description": "Gone: the gateway disables the endpoint at once."},
}


def _webhook(event: WebhookDoc, schemas: _Schemas, translate: Translate) -> dict[str, Any]:
    return {
        "post": {
            "operationId": "webhook_" + re.sub(r"\W", "_", event.name),
            "summary": translate(event.summary),
            "description": translate(_EVENT_SENT) % {"name": event.name, "version": event.version},
            "tags": ["webhooks"],
            "security": [],
            "parameters": _WEBHOOK_HEADERS,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": schemas.ref(event.body, "validation"),
                        "example": event.example,
                    }
                },
            },
            "responses": _WEBHOOK_RESPONSES,
        }
    }


def build(
    routes: Iterable[BaseRoute],
    events: Sequence[WebhookDoc] = (),
    translate: Translate = _as_written,
    paid_headers: Sequence[HeaderDoc] = (),
) -> dict[str, Any]:
    """The document of ``routes``, and of ``events``, the webhooks the gateway sends; on each
    route that takes a paid retry, the payment protocols' ``paid_headers``; its
    summaries and descriptions for people passed through ``translate`` (a catalogue's
    ``gettext``), the English as written by default. Only the words change: every identifier,
    schema and code is the same in every language."""
    described = list(api_routes(routes))
    schemas = _Schemas([route for _, route in described], events)
    paths: dict[str, dict[str, Any]] = defaultdict(dict)
    seen_ids: set[str] = set()
    tags: dict[str, None] = {}
    for full_path, route in described:
        template = _CONVERTER.sub(r"{\1}", full_path)
        tags[route.doc.tag] = None
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths[template][method.lower()] = _operation(
                full_path, method.lower(), route, schemas, seen_ids, translate, paid_headers
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "aiTopUp gateway",
            "version": _version(),
            "description": translate(_DESCRIPTION),
        },
        "tags": [{"name": name} for name in tags],
        "paths": dict(paths),
        "webhooks": {event.name: _webhook(event, schemas, translate) for event in events},
        "components": {
            "schemas": schemas.components,
            "responses": dict(sorted(schemas.responses.items())),
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "ak_<staging|live>_<32 base62 characters>",
                    "description": "A merchant API key; its environment picks the data it sees.",
                },
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The operator token (AITOPUP_ADMIN_TOKEN).",
                },
            },
        },
    }
