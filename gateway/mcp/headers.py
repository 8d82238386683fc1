"""What the ``/mcp`` door reads of a request's headers before the SDK is needed: whether its body
is JSON as the SDK judges it (its Content-Type check), so the gateway decodes it under its own
body rules first (``http.McpHttp``), and the fast path judges the rest (``_fastpath``)."""

from starlette.types import Scope

__all__ = ["JSON", "headers_of", "json_content", "reads_json"]

JSON = "application/json"


def headers_of(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def json_content(headers: dict[str, str]) -> bool:
    content_type = headers.get("content-type", "").split(";")[0]
    return JSON in (part.strip() for part in content_type.split(","))


def reads_json(scope: Scope) -> bool:
    """A POST whose body the SDK would parse as JSON (its Content-Type check)."""
    return scope["method"] == "POST" and json_content(headers_of(scope))
