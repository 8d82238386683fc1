"""Custom headers of a webhook endpoint: what a merchant may add to every attempt, how each is
kept, and how it shows.

A name is an HTTP token the gateway does not set itself: never ``Host``, ``Content-Length``,
``Content-Type`` or a hop-by-hop header (HTTP's own), never ``webhook-*`` (the signatures'),
never ``X-AiTopUp-*`` or ``User-Agent`` (the gateway's); ``Authorization`` is allowed, it is
what the feature is for, and is best marked secret. A value is printable ASCII, so no CR or LF
can split the request. Each refusal has its own code and names the header, never its value.

Kept as JSON on the endpoint's row; a secret value is sealed under the endpoint's id and the
header's name, and no reply or delivery log ever shows it (``MASK``).
"""

import json
import re
from collections.abc import Sequence
from typing import Any

from keys import Sealer

from ..values.code_names import Code
from ..values.outcome import ApiError
from .schemas import MAX_HEADERS, CustomHeader, CustomHeaderData

__all__ = [
    "MASK",
    "MAX_NAME",
    "MAX_VALUE",
    "check_headers",
    "header_data",
    "masked",
    "opened",
    "secret_names",
]

MASK = "********"
MAX_NAME = 64
MAX_VALUE = 1000

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
_HTTP = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "accept-encoding",
    }
)


def _refuse(code: Code, name: str, message: str) -> ApiError:
    # The name is bounded before it is echoed; a value never is.
    return ApiError(code, message, data={"header": name[:MAX_NAME]})


def _check_name(name: str) -> None:
    if len(name) > MAX_NAME or not _TOKEN.fullmatch(name):
        raise _refuse(
            Code.WEBHOOK_HEADER_NAME_INVALID,
            name,
            f"Custom header name invalid: {name[:MAX_NAME]!r} is not an HTTP token of at most "
            f"{MAX_NAME} characters",
        )
    lower = name.lower()
    if lower in _HTTP:
        raise _refuse(
            Code.WEBHOOK_HEADER_RESERVED_HTTP,
            name,
            f"Custom header not allowed: {name} is set by the gateway or hop-by-hop",
        )
    if lower.startswith("webhook-"):
        raise _refuse(
            Code.WEBHOOK_HEADER_RESERVED_SIGNATURE,
            name,
            f"Custom header not allowed: {name} is a Standard Webhooks header",
        )
    if lower.startswith("x-aitopup-") or lower == "user-agent":
        raise _refuse(
            Code.WEBHOOK_HEADER_RESERVED_GATEWAY,
            name,
            f"Custom header not allowed: {name} is the gateway's own",
        )


def _check_value(name: str, value: str) -> None:
    if len(value) > MAX_VALUE or not _VALUE.fullmatch(value):
        raise _refuse(
            Code.WEBHOOK_HEADER_VALUE_INVALID,
            name,
            f"Custom header value invalid for {name}: 1 to {MAX_VALUE} printable ASCII "
            "characters, without leading or trailing spaces",
        )


def _entries(column: str | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(column) if column else []
    return found


def check_headers(
    given: Sequence[CustomHeader], sealer: Sealer, endpoint_id: str, before: str | None
) -> str | None:
    """``given`` checked, as the column keeps it (``None``: no headers). A secret header given
    without a value keeps the value it had under the same name (``before``, the column as it
    was), so a form or a client that cannot read secrets back can still edit the others."""
    if len(given) > MAX_HEADERS:
        raise ApiError(
            Code.WEBHOOK_HEADERS_TOO_MANY,
            f"Too many custom headers: at most {MAX_HEADERS}",
            data={"limit": MAX_HEADERS},
        )
    kept = {e["name"].lower(): e for e in _entries(before) if e.get("secret")}
    seen: set[str] = set()
    entries: list[dict[str, Any]] = []
    for header in given:
        name = header.name
        _check_name(name)
        if name.lower() in seen:
            raise _refuse(Code.WEBHOOK_HEADER_DUPLICATE, name, f"Custom header given twice: {name}")
        seen.add(name.lower())
        if header.value is None:
            earlier = kept.get(name.lower())
            if not header.secret or earlier is None:
                raise _refuse(
                    Code.WEBHOOK_HEADER_VALUE_INVALID,
                    name,
                    f"Custom header value invalid for {name}: a value is required",
                )
            value = sealer.open(earlier["sealed"], context=_context(endpoint_id, earlier["name"]))
        else:
            value = header.value
            _check_value(name, value)
        if header.secret:
            sealed = sealer.seal(value, context=_context(endpoint_id, name))
            entries.append({"name": name, "secret": True, "sealed": sealed})
        else:
            entries.append({"name": name, "value": value})
    return json.dumps(entries, separators=(",", ":")) if entries else None


def _context(endpoint_id: str, name: str) -> str:
    return f"{endpoint_id}:header:{name.lower()}"


def header_data(column: str | None) -> list[CustomHeaderData]:
    """The headers as every reply shows them: a secret's value masked."""
    return [
        CustomHeaderData(
            name=e["name"],
            value=MASK if e.get("secret") else e["value"],
            secret=bool(e.get("secret")),
        )
        for e in _entries(column)
    ]


def opened(column: str | None, sealer: Sealer, endpoint_id: str) -> dict[str, str]:
    """The headers as the worker sends them, secrets opened."""
    return {
        e["name"]: (
            sealer.open(e["sealed"], context=_context(endpoint_id, e["name"]))
            if e.get("secret")
            else e["value"]
        )
        for e in _entries(column)
    }


def secret_names(column: str | None) -> frozenset[str]:
    return frozenset(e["name"] for e in _entries(column) if e.get("secret"))


def masked(headers: dict[str, str], secrets: frozenset[str]) -> dict[str, str]:
    """``headers`` as the delivery log keeps them: each secret header's value masked (the same
    dict when there is none, as on most endpoints: this runs on every attempt)."""
    if not secrets:
        return headers
    return {name: MASK if name in secrets else value for name, value in headers.items()}
