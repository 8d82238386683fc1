"""Turning untrusted request bytes into validated models, with an envelope for every refusal."""

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from ..codes import Code
from ..envelope import ApiError, validation_details

__all__ = ["check_cursor", "read_json", "read_query"]

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


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
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


async def read_json(
    request: Request, model: type[M], *, limit: int, context: dict[str, Any] | None = None
) -> tuple[M, dict[str, Any]]:
    """The validated model and the decoded object (for fingerprints)."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(Code.UNSUPPORTED_MEDIA_TYPE)
    raw = await _read_capped(request, limit)
    try:
        decoded = json.loads(raw, object_pairs_hook=_unique_keys)
    except _DuplicateKey:
        raise ApiError(Code.DUPLICATE_JSON_KEY) from None
    except (ValueError, RecursionError):
        raise ApiError(Code.INVALID_JSON) from None
    if not isinstance(decoded, dict):
        raise ApiError(Code.INVALID_JSON, "Request body must be a JSON object")
    try:
        return model.model_validate(decoded, context=context), decoded
    except ValidationError as exc:
        raise ApiError(Code.VALIDATION_FAILED, data={"errors": validation_details(exc)}) from None


def read_query(request: Request, model: type[M]) -> M:
    params = dict(request.query_params)
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ApiError(Code.INVALID_QUERY, data={"errors": validation_details(exc)}) from None


def check_cursor(cursor: str | None, shape: re.Pattern[str]) -> None:
    """A cursor is an id of the kind listed; anything else is refused before the store is read."""
    if cursor is not None and not shape.fullmatch(cursor):
        raise ApiError(Code.INVALID_CURSOR)
