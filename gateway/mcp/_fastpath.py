"""A tool call answered without the SDK's per-request session: the adapter over its transport.

In stateless JSON mode the SDK serves every POST with a fresh transport, a server session and
their tasks and streams (as much CPU a request as the send itself: docs/performance.md,
"Figures behind the code's choices"), though a
``tools/call`` needs none of them: one JSON-RPC request in, one response out. So such a POST is
answered here, with the SDK's own models for the request and the response and its own checks of
the headers, and everything else (initialize, lists, resources, notifications, a request with
``_meta``, any header the SDK would refuse) goes to the SDK untouched, the body replayed. The
body reaches here read and decoded under the gateway's body rules (``http.McpHttp``).
``tests/gateway/mcp/test_fastpath.py`` holds this path's replies to the SDK's, byte for byte
but the envelope's timestamp, and fails when the library moves.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from mcp import types
from mcp.shared.version import SUPPORTED_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.types import Scope, Send

__all__ = ["Call", "answer_tool_call", "reads_json", "takes"]

_JSON = "application/json"
_VERSION_HEADER = "mcp-protocol-version"

# Runs the named tool with its arguments; the result the server's handler would return.
Call = Callable[[str, dict[str, Any]], Awaitable[types.CallToolResult]]


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def takes(scope: Scope) -> bool:
    """A POST whose headers the SDK's own checks (``StreamableHTTPServerTransport``) would all
    pass."""
    return scope["method"] == "POST" and _takes(_headers(scope))


def reads_json(scope: Scope) -> bool:
    """A POST whose body the SDK would parse as JSON (its Content-Type check)."""
    return scope["method"] == "POST" and _json_content(_headers(scope))


def _json_content(headers: dict[str, str]) -> bool:
    content_type = headers.get("content-type", "").split(";")[0]
    return _JSON in (part.strip() for part in content_type.split(","))


def _takes(headers: dict[str, str]) -> bool:
    """The SDK's own checks (``StreamableHTTPServerTransport``) would all pass."""
    if not _json_content(headers):
        return False
    accepts = (media.strip() for media in headers.get("accept", "").split(","))
    if not any(media.startswith(_JSON) for media in accepts):
        return False
    version = headers.get(_VERSION_HEADER)
    return version is None or version in SUPPORTED_PROTOCOL_VERSIONS


def _tool_call(raw: Any) -> types.JSONRPCRequest | None:
    if not isinstance(raw, dict) or raw.get("method") != "tools/call":
        return None
    params = raw.get("params")
    if not isinstance(params, dict) or "_meta" in params:
        return None
    try:
        request = types.JSONRPCRequest.model_validate(raw)
        types.CallToolRequest.model_validate({"method": request.method, "params": params})
    except ValidationError:
        return None
    return request


async def answer_tool_call(decoded: Any, send: Send, *, call: Call) -> bool:
    """Answer ``decoded``, the body of a POST that ``takes``, if it is a plain ``tools/call``;
    ``False`` leaves the request to the SDK."""
    request = _tool_call(decoded)
    if request is None:
        return False
    params = request.params or {}
    result = await call(params["name"], params.get("arguments") or {})
    response = types.JSONRPCResponse(
        jsonrpc="2.0",
        id=request.id,
        result=result.model_dump(by_alias=True, mode="json", exclude_none=True),
    )
    payload = response.model_dump_json(by_alias=True, exclude_none=True).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", _JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
    return True
