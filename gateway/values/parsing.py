"""Turning untrusted request bytes into validated models, with an envelope for every refusal.

The one set of rules for a request body, whichever door it comes through (the REST routes, the
MCP door at ``/mcp``, the dashboard's forms): at most a given size, never trusting
``Content-Length`` alone (3004); JSON with no key repeated in an object (3101) and nested at most
``MAX_DEPTH`` levels (3102); no NUL in any string of the body or the query (3103, see
``text``). Instants inside are ``timestamps.Instant``, bounded 1970..9999. A route that takes
forms as well (its ``RouteDoc(forms=True)``: the paths other APIs' clients post forms to, marked
on the request by ``ApiRoute`` under ``FORMS_TAKEN``) reads ``application/x-www-form-urlencoded``
by the same size cap, each field once (4610), its values validated as strings are (``"2000"`` an
integer, ``"20.5"`` not), refused with the same codes as the same values in JSON. JSON from
outside that is no request's body is read by ``outside_json.loads``, to the same depth.
"""

import json
import re
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from .code_names import Code
from .envelope import validation_details
from .outcome import ApiError
from .outside_json import MAX_DEPTH, too_deep
from .text import holds_nul, query_holds_nul

__all__ = [
    "FORM",
    "FORMS_TAKEN",
    "MAX_FORM_FIELDS",
    "check_cursor",
    "decode_form",
    "decode_json",
    "read_capped",
    "read_json",
    "read_query",
]

M = TypeVar("M", bound=BaseModel)


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """One meaning per body: parsers disagree on a repeated key (first or last wins), so a body
    that repeats one could be read one way by a proxy or a signature and another way here."""
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _DuplicateKey
    return found


def decode_json(raw: bytes) -> Any:
    """The decoded document, or ``ApiError`` with the rule it breaks."""
    if too_deep(raw):
        raise ApiError(
            Code.JSON_TOO_DEEP,
            f"Request body nests arrays and objects more than {MAX_DEPTH} levels deep",
        )
    try:
        decoded = json.loads(raw, object_pairs_hook=_unique_keys)
    except _DuplicateKey:
        raise ApiError(Code.DUPLICATE_JSON_KEY) from None
    except (ValueError, RecursionError):
        raise ApiError(Code.INVALID_JSON) from None
    # Strict JSON has no raw control character in a string, so a decoded string holds a NUL
    # only where the text spelled one as an escape: a body without one is not walked. A UTF-16
    # or UTF-32 body holds zero bytes, and is.
    if (b"\\u0000" in raw or b"\x00" in raw) and holds_nul(decoded):
        raise ApiError(Code.TEXT_HOLDS_NUL)
    return decoded


async def read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    # More digits than any limit has is past it, unread: ``int`` of thousands of digits raises.
    too_long = declared is not None and declared.isdigit() and len(declared) > len(str(limit))
    if too_long or (declared is not None and declared.isdigit() and int(declared) > limit):
        raise ApiError(Code.BODY_TOO_LARGE, f"Request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    # A client that hangs up mid-body raises Starlette's ClientDisconnect here; it is left to
    # rise: the request middleware ends the request quietly, as the early end it is.
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # never trust Content-Length alone
            raise ApiError(Code.BODY_TOO_LARGE, f"Request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


FORM = "application/x-www-form-urlencoded"
# The request scope's mark of a route that takes forms: set by the route from its description,
# so what the OpenAPI document says a route takes and what it reads are one declaration.
FORMS_TAKEN = "aitopup.forms_taken"
# More fields than any form a route takes has: a bound on what an outsider makes us parse.
MAX_FORM_FIELDS = 50


def decode_form(raw: bytes) -> dict[str, str]:
    """A form body's fields, each once (``FORM_BODY_INVALID`` otherwise), no NUL in any."""
    try:
        pairs = parse_qsl(
            raw.decode("utf-8", errors="strict"),
            keep_blank_values=True,
            strict_parsing=bool(raw),
            max_num_fields=MAX_FORM_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        raise ApiError(Code.FORM_BODY_INVALID) from None
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ApiError(Code.FORM_BODY_INVALID)
    if holds_nul(found):
        raise ApiError(Code.TEXT_HOLDS_NUL)
    return found


async def read_json(
    request: Request,
    model: type[M],
    *,
    limit: int,
    context: dict[str, Any] | None = None,
) -> tuple[M, dict[str, Any]]:
    """The validated model and the decoded object (for fingerprints); on a route that takes
    forms (``FORMS_TAKEN``), a form body too."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type == FORM and request.scope.get(FORMS_TAKEN):
        fields = decode_form(await read_capped(request, limit))
        try:
            return model.model_validate_strings(fields, context=context), dict(fields)
        except ValidationError as exc:
            raise ApiError(
                Code.VALIDATION_FAILED, data={"errors": validation_details(exc)}
            ) from None
    if media_type != "application/json":
        raise ApiError(Code.UNSUPPORTED_MEDIA_TYPE)
    decoded = decode_json(await read_capped(request, limit))
    if not isinstance(decoded, dict):
        raise ApiError(Code.INVALID_JSON, "Request body must be a JSON object")
    try:
        return model.model_validate(decoded, context=context), decoded
    except ValidationError as exc:
        raise ApiError(Code.VALIDATION_FAILED, data={"errors": validation_details(exc)}) from None


def read_query(request: Request, model: type[M]) -> M:
    if query_holds_nul(request.scope.get("query_string", b"")):
        raise ApiError(Code.TEXT_HOLDS_NUL)
    params = dict(request.query_params)
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ApiError(Code.INVALID_QUERY, data={"errors": validation_details(exc)}) from None


def check_cursor(cursor: str | None, shape: re.Pattern[str]) -> None:
    """A cursor is an id of the kind listed; anything else is refused before the store is read."""
    if cursor is not None and not shape.fullmatch(cursor):
        raise ApiError(Code.INVALID_CURSOR)
